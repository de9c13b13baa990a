"""A plain-socket LMTP client for the tests that need to see every reply:
per-recipient DATA replies, pipelined batches, hostile input.  (smtplib's
LMTP class reads only one reply after DATA.)"""
import socket


class Lmtp:
    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """(code, text) of one reply; multi-line texts are joined by \\n."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def lhlo(self, name="client.test"):
        return self.cmd("LHLO " + name)

    def closed(self):
        """True when the server has closed the connection."""
        try:
            self.sock.settimeout(5)
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False            # still open
        except ConnectionError:
            return True

    def deliver(self, sender, rcpts, message):
        """MAIL, RCPTs, DATA; returns (mail, [rcpt replies], [data replies])."""
        mail = self.cmd(f"MAIL FROM:<{sender}>")
        rr = [self.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        accepted = sum(1 for c, _ in rr if c == 250)
        if mail[0] != 250 or accepted == 0:
            self.cmd("RSET")
            return mail, rr, []
        code, text = self.cmd("DATA")
        assert code == 354, (code, text)
        self.send(dot_stuff(message) + b".\r\n")
        return mail, rr, [self.reply() for _ in range(accepted)]


def dot_stuff(message):
    if isinstance(message, str):
        message = message.encode()
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l for l in lines)


def make_message(subject="test", body="hello\r\n", size=None, extra=""):
    msg = (f"From: Sender <sender@example.net>\r\nTo: someone\r\n"
           f"Subject: {subject}\r\nMessage-ID: <{subject}@test>\r\n{extra}\r\n{body}")
    if size is not None and len(msg) < size:
        line = "x" * 76 + "\r\n"
        msg += line * ((size - len(msg)) // len(line) + 1)
    return msg.encode()
