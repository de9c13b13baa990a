"""The real client behind a proxy: IMAP ID x-originating-ip/-port (RFC
2971) and POP3 XCLIENT ADDR=/PORT= before login put client= (and
client_port=) into the store's log lines beside peer=, which always stays
the socket's own address."""
import base64
import re
import time

import pytest

from lineio import SocketLines
from suite import free_port

ADMIN = "mmp@example.com"
PROXY_PLAIN = base64.b64encode(
    b"alice@example.com\0mmp@example.com\0mmp-secret").decode()


class Imap(SocketLines):
    def __init__(self, addr, timeout=10):
        super().__init__(addr, timeout)
        self.greeting = self.line()

    def cmd(self, tag, text):
        """Send one command; return (untagged lines, tagged line)."""
        self.send(f"{tag} {text}\r\n")
        untagged = []
        while not (line := self.line()).startswith(tag + " "):
            untagged.append(line)
        return untagged, line

    @property
    def local(self):
        return self.sock.getsockname()[0]


class Pop(SocketLines):
    def __init__(self, addr, timeout=10):
        super().__init__(addr, timeout)
        self.greeting = self.line()

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    @property
    def local(self):
        return self.sock.getsockname()[0]


def log_line(st, pattern, timeout=5):
    """The first line of the store's log matching pattern (waits for it)."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in st.log().splitlines():
            if rx.search(line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line matches {pattern!r}:\n{st.log()}")
        time.sleep(0.05)


def login_line(st, proto, login):
    return log_line(st, rf"{proto} session=\d+ peer=\S+.* login={re.escape(login)} ")


@pytest.fixture
def origin_store(make_store):
    iport, pport = free_port("127.0.0.2"), free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{iport}",
                          "service.imap.plaintextmincipher": "0",
                          "service.imap.maxerrors": "2",
                          "service.pop.listen": f"127.0.0.2:{pport}",
                          "service.pop.plaintextmincipher": "0",
                          "store.admins": ADMIN})
    st.imap, st.pop = ("127.0.0.2", iport), ("127.0.0.2", pport)
    return st


# IMAP


def test_imap_id_names_the_client_of_a_proxy_login(origin_store):
    c = Imap(origin_store.imap)
    _, t = c.cmd("a", 'ID ("name" "mmp" "x-originating-ip" "203.0.113.7" '
                 '"x-originating-port" "51234")')
    assert t == "a OK ID completed"
    _, t = c.cmd("b", f"AUTHENTICATE PLAIN {PROXY_PLAIN}")
    assert t.startswith("b OK")
    line = login_line(origin_store, "imap", f"{ADMIN}(for alice@example.com)")
    assert f" peer={c.local} client=203.0.113.7 client_port=51234 login=" in line


def test_imap_id_address_without_port_and_ipv6_form(origin_store):
    c = Imap(origin_store.imap)
    _, t = c.cmd("a", 'ID ("x-originating-ip" "2001:DB8:0:0::1")')
    assert t.startswith("a OK")
    _, t = c.cmd("b", "LOGIN carol@example.org carol-secret")
    assert t.startswith("b OK")
    line = login_line(origin_store, "imap", "carol@example.org")
    # Written as inet_ntop writes it; no port given, none logged.
    assert f" peer={c.local} client=2001:db8::1 login=" in line
    assert "client_port" not in line


def test_imap_bad_origin_is_ignored_and_logged_as_a_pair(origin_store):
    c = Imap(origin_store.imap)
    _, t = c.cmd("a", 'ID ("x-originating-ip" "203.0.113.999" '
                 '"x-originating-port" "51234")')
    assert t.startswith("a OK")
    _, t = c.cmd("b", "ID (\"x-originating-ip\" \"evil client=1.2.3.4\")")
    assert t.startswith("b OK")
    _, t = c.cmd("c", "LOGIN alice@example.com alice-secret")
    assert t.startswith("c OK")
    line = login_line(origin_store, "imap", "alice@example.com")
    assert f" peer={c.local} login=" in line and "client" not in line
    log_line(origin_store, r'id x-originating-ip="203\.0\.113\.999"')
    # A valid address with a port that is not one: the address alone.
    d = Imap(origin_store.imap)
    for port in ("0", "65536", "12a", ""):
        d.cmd("d", f'ID ("x-originating-ip" "198.51.100.1" '
              f'"x-originating-port" "{port}")')
    _, t = d.cmd("e", "LOGIN carol@example.org carol-secret")
    assert t.startswith("e OK")
    line = login_line(origin_store, "imap", "carol@example.org")
    assert " client=198.51.100.1 login=" in line


def test_imap_repeated_id_replaces_and_id_after_login_does_not(origin_store):
    c = Imap(origin_store.imap)
    c.cmd("a", 'ID ("x-originating-ip" "203.0.113.7" "x-originating-port" "1")')
    c.cmd("b", 'ID ("x-originating-ip" "203.0.113.8")')
    _, t = c.cmd("c", "LOGIN alice@example.com alice-secret")
    assert t.startswith("c OK")
    line = login_line(origin_store, "imap", "alice@example.com")
    assert " client=203.0.113.8 login=" in line
    # After login ID is still answered, but the client stays the same: the
    # session's last line (too many errors) still names 203.0.113.8.
    _, t = c.cmd("d", 'ID ("x-originating-ip" "192.0.2.66" '
                 '"x-originating-port" "4242")')
    assert t == "d OK ID completed"
    c.cmd("e", "FROB")
    c.cmd("f", "FROB")
    c.send("g FROB\r\n")
    assert c.closed()
    line = log_line(origin_store, r"imap session=\d+ .*closed: too many errors")
    assert f" peer={c.local} client=203.0.113.8 closed:" in line
    assert "192.0.2.66" not in line


def test_imap_without_id_logs_only_the_peer(origin_store):
    c = Imap(origin_store.imap)
    _, t = c.cmd("a", "ID NIL")
    assert t.startswith("a OK")
    c.cmd("b", "LOGIN alice@example.com alice-secret")
    line = login_line(origin_store, "imap", "alice@example.com")
    assert f" peer={c.local} login=" in line and "client=" not in line


# POP3


def test_pop_xclient_names_the_client(origin_store):
    c = Pop(origin_store.pop)
    assert c.cmd("XCLIENT ADDR=203.0.113.7 PORT=51234") == "+OK"
    assert c.cmd("USER alice@example.com").startswith("+OK")
    assert c.cmd("PASS alice-secret").startswith("+OK")
    line = login_line(origin_store, "pop", "alice@example.com")
    assert f" peer={c.local} client=203.0.113.7 client_port=51234 login=" in line
    c.cmd("QUIT")


def test_pop_xclient_order_unknown_names_and_proxy_login(origin_store):
    c = Pop(origin_store.pop)
    # Dovecot's proxy sends more than ADDR and PORT; the rest is ignored.
    assert c.cmd("xclient SESSION=abc PORT=995 TTL=4 ADDR=2001:db8::7") == "+OK"
    # A second XCLIENT replaces the first, port included.
    assert c.cmd("XCLIENT ADDR=198.51.100.9 PORT=nope") == "+OK"
    assert c.cmd(f"AUTH PLAIN {PROXY_PLAIN}").startswith("+OK")
    line = login_line(origin_store, "pop", f"{ADMIN}(for alice@example.com)")
    assert f" peer={c.local} client=198.51.100.9 login=" in line
    c.cmd("QUIT")


def test_pop_xclient_garbage_is_refused(origin_store):
    c = Pop(origin_store.pop)
    for bad in ("XCLIENT", "XCLIENT garbage", "XCLIENT ADDR=1.2.3",
                "XCLIENT ADDR= PORT=1", "XCLIENT PORT=110",
                "XCLIENT ADDR=[2001:db8::1]", "XCLIENT ADDR=203.0.113.7x"):
        assert c.cmd(bad) == "-ERR Invalid XCLIENT", bad
    assert c.cmd("USER carol@example.org").startswith("+OK")
    assert c.cmd("PASS carol-secret").startswith("+OK")
    line = login_line(origin_store, "pop", "carol@example.org")
    assert f" peer={c.local} login=" in line and "client=" not in line
    c.cmd("QUIT")


def test_pop_xclient_after_login_is_unknown_and_not_in_capa(origin_store):
    c = Pop(origin_store.pop)
    c.send("CAPA\r\n")
    capa = []
    while (line := c.line()) != ".":
        capa.append(line)
    assert capa[0].startswith("+OK") and not any("XCLIENT" in l for l in capa)
    assert c.cmd("USER alice@example.com").startswith("+OK")
    assert c.cmd("PASS alice-secret").startswith("+OK")
    assert c.cmd("XCLIENT ADDR=203.0.113.7") == "-ERR Unknown command"
    assert c.cmd("QUIT").startswith("+OK")
    assert "203.0.113.7" not in origin_store.log()
