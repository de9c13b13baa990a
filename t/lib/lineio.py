"""Line-at-a-time conversations the tests hold: with a server over a
socket (CRLF lines) and with a helper program over its stdin and stdout
(LF lines).  Protocol clients build their commands on top."""
import os
import select
import socket
import subprocess
import time


class SocketLines:
    """A plain TCP connection read a CRLF-ended line at a time."""

    def __init__(self, addr, timeout=10, source=None):
        self.sock = socket.create_connection(
            addr, timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def closed(self, timeout=5):
        """Whether the server closes the connection within timeout,
        reading past what it still sends."""
        try:
            self.sock.settimeout(timeout)
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True             # reset: closed as well


class ProcessLines:
    """A helper program fed lines on stdin, answering a line on stdout."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = b""

    def send(self, *lines):
        self.proc.stdin.write("".join(l + "\n" for l in lines).encode())
        self.proc.stdin.flush()

    def line(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"no answer in {timeout}s")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError("the program exited: " + self.close())
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def close(self):
        """EOF on its stdin; returns its stderr (the log)."""
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        err = err.decode("utf-8", "replace")
        # Non-zero also when a sanitizer build found leaks or errors.
        assert self.proc.returncode == 0, err
        return err
