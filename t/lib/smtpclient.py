"""A raw SMTP client for the tests: exact bytes out, every reply line in,
so that pipelining, malformed commands and limits can be tested (smtplib
hides them).  The source address may be chosen, so that a test can be an
"Internet" client (127.0.0.200) or an internal one (127.0.0.1).

    c = Smtp(mta.smtp, source="127.0.0.200")
    c.greeting()                 # (220, ["mx.example.com ESMTP ready"])
    c.cmd("EHLO client")         # (250, [...])
    c.send("MAIL FROM:<a@b>\\r\\nRCPT TO:<c@d>\\r\\n"); c.reply(); c.reply()
"""
from lineio import SocketLines


class Smtp(SocketLines):
    def __init__(self, addr, timeout=10, source=None):
        super().__init__(addr, timeout=timeout, source=source)

    def reply(self):
        """(code, [text lines]) of one reply, multi-line ones joined."""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def greeting(self):
        return self.reply()

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name="client.example.net"):
        self.greeting()
        return self.cmd("EHLO " + name)

    def transaction(self, sender, rcpts, body):
        """MAIL, RCPTs, DATA: the list of replies, DATA's last."""
        out = [self.cmd(f"MAIL FROM:<{sender}>")]
        out += [self.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        d = self.cmd("DATA")
        out.append(d)
        if d[0] != 354:
            return out
        data = body.replace(b"\r\n.", b"\r\n..")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        self.send(data + b".\r\n")
        out.append(self.reply())
        return out


def send_accepted(addr, sender, rcpts, body):
    """One message on a session of its own, which must be accepted (the
    last reply 250); the queue id the 250 names (its last word)."""
    c = Smtp(addr)
    c.ehlo()
    replies = c.transaction(sender, rcpts, body)
    assert replies[-1][0] == 250, replies
    c.cmd("QUIT")
    c.sock.close()
    return replies[-1][1][0].split()[-1]
