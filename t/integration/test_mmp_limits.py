"""The mmp's unhappy paths before login, each answer checked to the byte:
oversized lines and literals, protocol errors, refused SASL exchanges,
passwords without TLS, the session limits and access rules, the PROXY
protocol from a balancer, a client that half-closes, and thousands of
idle sessions.  Real sockets on loopback, the real mmp in front of the
real stores and slapd (the fixtures of conftest.py)."""
import base64
import imaplib
import resource
import socket
import struct
import threading
import time

import pytest

from mmp import MMP_BIN
from suite import sanitized

MAXLINE = 1024
LINE_CONF = {"mmp.maxlinelength": str(MAXLINE)}


class Raw:
    """A line-oriented client on a plain socket, every read bounded."""

    def __init__(self, addr, timeout=10, header=None):
        self.sock = socket.create_connection(addr, timeout=timeout)
        if header is not None:
            self.sock.sendall(header)
        self.f = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        """The next line without its CRLF; b"" at the end of input."""
        data = self.f.readline()
        return data[:-2] if data.endswith(b"\r\n") else data

    def lines(self, n):
        return [self.line() for _ in range(n)]

    def closed(self):
        """True when the peer ended the connection with nothing more to
        say (EOF, or a reset after its last words)."""
        try:
            return self.f.read() == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.f.close()
        self.sock.close()


def imap(m, **kw):
    c = Raw(m.imap, **kw)
    assert c.line().startswith(b"* OK [CAPABILITY ")
    return c


def pop(m, **kw):
    c = Raw(m.pop, **kw)
    assert c.line().startswith(b"+OK ")
    return c


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def small(make_mmp):
    """An mmp whose commands before login are at most 1024 bytes."""
    return make_mmp(conf=LINE_CONF)


# ---- 1. IMAP before login ----

def test_imap_line_over_the_cap_is_toobig_and_the_session_goes_on(small):
    c = imap(small)
    c.send(b"a NOOP " + b"x" * (3 * MAXLINE) + b"\r\n")
    assert c.line() == b"* BAD [TOOBIG] Line too long"
    # A long line arriving in pieces is skipped to its end too.
    c.send(b"b NOOP " + b"y" * MAXLINE)
    time.sleep(0.2)
    c.send(b"y" * MAXLINE + b"\r\nc NOOP\r\n")
    assert c.lines(2) == [b"* BAD [TOOBIG] Line too long",
                          b"c OK NOOP completed"]
    # A line of exactly the cap is taken, one byte more is not.
    c.send(b"d NOOP " + b"z" * (MAXLINE - 7) + b"\r\n")
    assert c.line() == b"d OK NOOP completed"
    c.send(b"e NOOP " + b"z" * (MAXLINE - 6) + b"\r\n")
    assert c.line() == b"* BAD [TOOBIG] Line too long"


def test_imap_synchronising_literal_over_the_cap(small):
    c = imap(small)
    c.send(b"a LOGIN {5000}\r\n")
    # Refused at once, before any "+": the client never sends the bytes,
    # and the answer is tagged so that it knows the command is over.
    assert c.line() == b"a BAD [TOOBIG] Literal too large"
    c.send(b"b NOOP\r\n")
    assert c.line() == b"b OK NOOP completed"
    # The cap counts the whole command: two literals that fit alone but
    # not together are refused at the second.
    c.send(b"c LOGIN {600}\r\n")
    assert c.line() == b"+ Ready for literal data"
    c.send(b"u" * 600 + b" {600}\r\n")
    assert c.line() == b"c BAD [TOOBIG] Literal too large"
    c.send(b"d NOOP\r\n")
    assert c.line() == b"d OK NOOP completed"


def test_imap_literal_plus_over_the_cap_ends_the_session(small):
    c = imap(small)
    c.send(b"a LOGIN {5000+}\r\n" + b"p" * 5000 + b" x\r\n")
    assert c.line() == b"* BYE [TOOBIG] Literal too large"
    assert c.closed()


@pytest.mark.parametrize("plus", [b"", b"+"])
def test_imap_login_with_literals(small, plus):
    c = imap(small)
    user, password = b"alice@example.com", b"alice-secret"
    c.send(b"a LOGIN {%d%s}\r\n" % (len(user), plus))
    if not plus:
        assert c.line() == b"+ Ready for literal data"
    c.send(user + b" {%d%s}\r\n" % (len(password), plus))
    if not plus:
        assert c.line() == b"+ Ready for literal data"
    c.send(password + b"\r\n")
    assert c.line().startswith(b"a OK [CAPABILITY IMAP4rev1")
    c.send(b"b SELECT INBOX\r\n")
    while (reply := c.line()).startswith(b"* "):
        pass
    assert reply.startswith(b"b OK [READ-WRITE]")


def test_imap_commands_not_valid_before_login(small):
    c = imap(small)
    c.send(b"a FROBNICATE\r\nb SELECT INBOX\r\nc FETCH 1 BODY[]\r\n")
    for tag in b"abc":
        assert c.line() == bytes([tag]) + \
            b" BAD Command unknown or not valid before login"
    # No tag, an empty line, a tag with a forbidden character.
    c.send(b"NOOP\r\n\r\nx+ NOOP\r\n")
    assert c.lines(3) == [b"* BAD Missing or bad tag"] * 3
    c.send(b"d NOOP\r\n")
    assert c.line() == b"d OK NOOP completed"


def test_imap_twenty_errors_end_the_session(small):
    c = imap(small)
    c.send(b"".join(b"t%d BOGUS\r\n" % i for i in range(1, 20)))
    for i in range(1, 20):
        assert c.line() == b"t%d BAD Command unknown or not valid before " \
            b"login" % i
    c.send(b"t20 BOGUS\r\nt21 NOOP\r\n")
    assert c.lines(2) == [
        b"t20 BAD Command unknown or not valid before login",
        b"* BYE Too many errors"]
    assert c.closed()


def test_imap_authenticate_cancelled_and_malformed(small):
    c = imap(small)
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"*\r\n")
    assert c.line() == b"a BAD Authentication cancelled"
    c.send(b"b AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"%%%not-base64%%%\r\n")
    assert c.line() == b"b BAD Malformed authentication response"
    # Malformed as an initial response (SASL-IR) too.
    c.send(b"c AUTHENTICATE PLAIN ####\r\n")
    assert c.line() == b"c BAD Malformed authentication response"
    c.send(b"d NOOP\r\n")
    assert c.line() == b"d OK NOOP completed"


def test_imap_authenticate_for_another_user_or_unknown_mechanism(small):
    c = imap(small)
    ir = b64(b"bob@example.com\0alice@example.com\0alice-secret")
    c.send(f"a AUTHENTICATE PLAIN {ir}\r\n")
    assert c.line() == b"a NO [AUTHORIZATIONFAILED] Acting for another " \
        b"user is not allowed here"
    c.send(b"b AUTHENTICATE CRAM-MD5\r\n")
    assert c.line() == b"b NO Unsupported authentication mechanism"
    c.send(b"c AUTHENTICATE GSSAPI\r\n")
    assert c.line() == b"c NO Unsupported authentication mechanism"
    # The login naming itself as the authorization identity is no proxy.
    ir = b64(b"alice@example.com\0alice@example.com\0alice-secret")
    c.send(f"d AUTHENTICATE PLAIN {ir}\r\n")
    assert c.line().startswith(b"d OK [CAPABILITY IMAP4rev1")


def test_imap_logout_before_login(small):
    c = imap(small)
    c.send(b"a LOGOUT\r\n")
    assert c.lines(2) == [b"* BYE Logging out", b"a OK LOGOUT completed"]
    assert c.closed()


def test_imap_starttls_without_a_certificate(small):
    c = imap(small)
    c.send(b"a CAPABILITY\r\n")
    caps = c.line()
    assert caps.startswith(b"* CAPABILITY IMAP4rev1 ")
    assert b"STARTTLS" not in caps
    assert c.line() == b"a OK CAPABILITY completed"
    c.send(b"b STARTTLS\r\n")
    assert c.line() == b"b BAD STARTTLS not available"
    c.send(b"c NOOP\r\n")
    assert c.line() == b"c OK NOOP completed"


def test_imap_client_half_close_still_gets_its_answers(small):
    """A client that sends its last commands and shuts down its side
    (nc -N, scripts) is answered in order before the mmp closes."""
    c = imap(small)
    c.send(b"a CAPABILITY\r\nb NOOP\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.line().startswith(b"* CAPABILITY ")
    assert c.lines(2) == [b"a OK CAPABILITY completed", b"b OK NOOP completed"]
    assert c.closed()
    # Past a failed login (its answer comes after the penalty delay).
    c = imap(small)
    c.send(b"a LOGIN alice@example.com wrong\r\nb NOOP\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.lines(2) == [b"a NO [AUTHENTICATIONFAILED] Authentication failed",
                          b"b OK NOOP completed"]
    assert c.closed()


def test_imap_half_close_after_more_than_the_output_buffer(small):
    """Answers queued past the output buffer when the client's end of
    input arrives still go out, all of them, then the session ends."""
    c = imap(small)
    n = 10000

    def send():
        c.send(b"a CAPABILITY\r\n" * n)
        c.sock.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1)                  # let the mmp meet the end of input
    replies = c.f.read().split(b"\r\n")
    sender.join()
    assert replies.count(b"a OK CAPABILITY completed") == n
    assert len(replies) == 2 * n + 1 and replies[-1] == b""


def test_pipelining_without_reading_is_bounded(small):
    """A client that sends commands and never reads their answers stops
    being read: the mmp's memory does not follow its input."""
    pid = small.daemon.proc.pid
    c = imap(small)
    before = rss_kib(pid)
    c.sock.setblocking(False)
    chunk, sent, deadline = b"a NOOP\r\n" * 8192, 0, time.monotonic() + 4
    while sent < (256 << 20) and time.monotonic() < deadline:
        try:
            sent += c.sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    grown = rss_kib(pid) - before
    print(f"\nmmp: took {sent >> 10} KiB of unread pipelining, "
          f"RSS +{grown} KiB")
    assert sent < (64 << 20)
    # ASan's allocator keeps freed memory in quarantine: RSS says nothing
    # there, and the bound on what was taken is the test.
    if not sanitized(MMP_BIN):
        assert grown < 32 * 1024
    c.sock.setblocking(True)
    assert c.line() == b"a OK NOOP completed"


# ---- 2. POP3 before login ----

def test_pop3_errors_before_login(small):
    c = pop(small)
    c.send(b"USER " + b"x" * (3 * MAXLINE) + b"\r\n")
    assert c.line() == b"-ERR Line too long"
    c.send(b"NOOP\r\n")
    assert c.line() == b"+OK"
    c.send(b"STAT\r\nPASS secret\r\nAPOP alice@example.com "
           b"c4c9334bac560ecc979e58001b3e22fb\r\n")
    assert c.lines(3) == [b"-ERR Command unknown or not valid before login",
                          b"-ERR USER first",
                          b"-ERR Command unknown or not valid before login"]
    c.send(b"AUTH\r\n")
    assert c.lines(4) == [b"+OK Mechanisms follow", b"PLAIN", b"LOGIN", b"."]
    c.send(b"AUTH CRAM-MD5\r\n")
    assert c.line() == b"-ERR Unsupported authentication mechanism"
    c.send(b"QUIT\r\n")
    assert c.line() == b"+OK Bye"
    assert c.closed()


def test_pop3_ten_errors_end_the_session(small):
    c = pop(small)
    c.send(b"BOGUS\r\n" * 9)
    assert c.lines(9) == [b"-ERR Command unknown or not valid before login"] * 9
    c.send(b"BOGUS\r\nNOOP\r\n")
    assert c.line() == b"-ERR Command unknown or not valid before login"
    assert c.closed()


def test_pop3_long_lines_count_as_errors(small):
    c = pop(small)
    c.send((b"X" * (2 * MAXLINE) + b"\r\n") * 10)
    assert c.lines(10) == [b"-ERR Line too long"] * 10
    assert c.closed()


# ---- 3. passwords without TLS ----

def test_plaintext_refused_without_tls(make_mmp):
    m = make_mmp(conf={"mmp.plaintextmincipher": "1"})
    c = Raw(m.imap)
    greeting = c.line()
    assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert b"LOGINDISABLED" in greeting and b"AUTH=" not in greeting
    c.send(b"a CAPABILITY\r\n")
    caps = c.line()
    assert b" LOGINDISABLED" in caps and b"AUTH=" not in caps
    assert c.line() == b"a OK CAPABILITY completed"
    c.send(b"b LOGIN alice@example.com alice-secret\r\n")
    assert c.line() == b"b NO [PRIVACYREQUIRED] Use STARTTLS first"
    ir = b64(b"\0alice@example.com\0alice-secret")
    c.send(f"c AUTHENTICATE PLAIN {ir}\r\n")
    assert c.line() == b"c NO [PRIVACYREQUIRED] Use STARTTLS first"
    p = pop(m)
    p.send(b"CAPA\r\n")
    capa = []
    while (line := p.line()) != b".":
        capa.append(line)
    assert capa[0] == b"+OK Capability list follows"
    assert b"USER" not in capa and not any(x.startswith(b"SASL") for x in capa)
    p.send(b"USER alice@example.com\r\n")
    assert p.line() == b"-ERR [AUTH] Plaintext authentication disallowed " \
        b"on non-secure connections; use STLS"
    p.send(b"AUTH PLAIN\r\n")
    assert p.line().startswith(b"-ERR [AUTH] Plaintext authentication")
    p.send(b"AUTH\r\n")
    assert p.lines(2) == [b"+OK Mechanisms follow", b"."]


# ---- 4. limits and access rules ----

def test_sessions_per_client(make_mmp):
    m = make_mmp(conf={"mmp.maxsessionsperclient": "2"})
    first, second = imap(m), pop(m)
    for addr, words in ((m.imap, b"* BYE Too many connections from your "
                         b"address"),
                        (m.pop, b"-ERR [SYS/TEMP] Too many connections from "
                         b"your address")):
        c = Raw(addr)
        assert c.line() == words
        assert c.closed()
    # A session that ends makes room.
    first.send(b"a LOGOUT\r\n")
    assert first.lines(2) == [b"* BYE Logging out", b"a OK LOGOUT completed"]
    assert first.closed()
    third = imap(m)
    third.send(b"a NOOP\r\n")
    assert third.line() == b"a OK NOOP completed"


def test_sessions_in_all(make_mmp):
    m = make_mmp(conf={"mmp.maxsessions": "3"})
    held = [imap(m), imap(m), pop(m)]
    c = Raw(m.imap)
    assert c.line() == b"* BYE Too many connections, try later"
    assert c.closed()
    c = Raw(m.pop)
    assert c.line() == b"-ERR [SYS/TEMP] Too many connections, try later"
    assert c.closed()
    held.pop().send(b"QUIT\r\n")
    time.sleep(0.3)
    imap(m)


@pytest.mark.parametrize("rule", [{"mmp.deny": "127.0.0.0/8"},
                                  {"mmp.allow": "10.0.0.0/8"},
                                  {"mmp.allow": "127.0.0.0/8",
                                   "mmp.deny": "127.0.0.1"}])
def test_access_rules(make_mmp, rule):
    m = make_mmp(conf=rule)
    c = Raw(m.imap)
    assert c.line() == b"* BYE Access denied"
    assert c.closed()
    c = Raw(m.pop)
    assert c.line() == b"-ERR [SYS/TEMP] Access denied"
    assert c.closed()


def test_access_rules_allow(make_mmp):
    m = make_mmp(conf={"mmp.allow": "10.0.0.0/8 127.0.0.0/30"})
    imap(m).send(b"a LOGOUT\r\n")


def test_preauth_timeout(make_mmp):
    m = make_mmp(conf={"mmp.preauthtimeout": "pt2s"})
    c = imap(m, timeout=10)
    p = pop(m, timeout=10)
    t0 = time.monotonic()
    assert c.line() == b"* BYE Autologout; idle for too long"
    assert c.closed()
    assert p.line() == b"-ERR Idle for too long, closing"
    assert p.closed()
    assert 1.5 <= time.monotonic() - t0 < 10


# ---- 5. the PROXY protocol from a balancer ----

def proxy_v2(src, sport, dst="127.0.0.1", dport=143, command=0x21):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport)
    return sig + struct.pack("!BBH", command, 0x11, len(addrs)) + addrs


def login_alice(c):
    c.send(b"a LOGIN alice@example.com alice-secret\r\n")
    assert c.line().startswith(b"a OK [CAPABILITY IMAP4rev1")
    c.send(b"b LOGOUT\r\n")
    assert c.line() == b"* BYE Logging out"


@pytest.fixture
def balanced(make_mmp):
    """An mmp behind a balancer on 127.0.0.1."""
    return make_mmp(conf={"mmp.proxyprotocolfrom": "127.0.0.1"})


def test_proxy_v1(balanced, stores):
    c = imap(balanced, header=b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 143\r\n")
    login_alice(c)
    assert "client=203.0.113.9 client_port=5555" in stores[0].log()


def test_proxy_v2(balanced, stores):
    c = imap(balanced, header=proxy_v2("198.51.100.7", 6666))
    login_alice(c)
    assert "client=198.51.100.7 client_port=6666" in stores[0].log()
    # LOCAL (a balancer's health check): the socket's own address.
    c = imap(balanced, header=proxy_v2("0.0.0.0", 0, "0.0.0.0", 0, 0x20))
    c.send(b"a LOGOUT\r\n")
    assert c.lines(2) == [b"* BYE Logging out", b"a OK LOGOUT completed"]


def test_proxy_header_missing_or_bad(balanced):
    for data in (b"a001 CAPABILITY\r\n", b"PROXY TCP4 203.0.113.9\r\n",
                 b"PROXY TCP4 203.0.113.9 127.0.0.1 080 143\r\n"):
        c = Raw(balanced.imap)
        c.send(data)
        assert c.closed()          # no greeting, nothing at all
    # POP3 alike.
    c = Raw(balanced.pop)
    c.send(b"CAPA\r\n")
    assert c.closed()


def test_proxy_header_in_pieces(balanced):
    header = b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 143\r\n"
    for cut in (5, 20, len(header) - 1):
        c = Raw(balanced.imap, timeout=0.5)
        c.send(header[:cut])
        with pytest.raises(socket.timeout):      # no greeting yet
            c.sock.recv(1)
        c.sock.settimeout(10)
        c.send(header[cut:] + b"a NOOP\r\n")
        assert c.line().startswith(b"* OK [CAPABILITY ")
        assert c.line() == b"a OK NOOP completed"
    # v2 in two pieces, the command in the same write as the second.
    header = proxy_v2("198.51.100.7", 6666)
    c = Raw(balanced.imap)
    c.send(header[:9])
    time.sleep(0.3)
    c.send(header[9:] + b"a NOOP\r\n")
    assert c.line().startswith(b"* OK [CAPABILITY ")
    assert c.line() == b"a OK NOOP completed"


def test_proxy_limits_count_the_real_client(make_mmp):
    m = make_mmp(conf={"mmp.proxyprotocolfrom": "127.0.0.1",
                       "mmp.maxsessionsperclient": "1"})
    v1 = b"PROXY TCP4 %s 127.0.0.1 4000 143\r\n"
    held = [imap(m, header=v1 % b"203.0.113.1"),
            imap(m, header=v1 % b"203.0.113.2"),
            imap(m, header=proxy_v2("203.0.113.3", 4000))]
    c = Raw(m.imap, header=v1 % b"203.0.113.1")
    assert c.line() == b"* BYE Too many connections from your address"
    assert c.closed()
    # And the access rules are the real client's too.
    m = make_mmp(conf={"mmp.proxyprotocolfrom": "127.0.0.1",
                       "mmp.deny": "203.0.113.0/24"})
    c = Raw(m.imap, header=v1 % b"203.0.113.1")
    assert c.line() == b"* BYE Access denied"
    imap(m, header=v1 % b"198.51.100.1")
    for h in held:
        h.close()


# ---- 6. many idle sessions ----

SESSIONS = 5000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raise_fd_limit(need):
    """Each session costs a descriptor here and one in the mmp (which
    raises its own soft limit to its hard one, inherited from us)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft


def open_idle(addr, n, batch=200):
    """n sessions, each greeted; in batches, so that the listener's
    backlog never overflows (an overflow costs a 1 s SYN retry)."""
    socks = []
    for start in range(0, n, batch):
        part = [socket.create_connection(addr, timeout=10)
                for _ in range(min(batch, n - start))]
        for s in part:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(512)
                assert chunk, f"closed after {len(socks)} sessions"
                data += chunk
            assert data.startswith(b"* OK [CAPABILITY "), data
        socks += part
    return socks


def test_five_thousand_idle_sessions(make_mmp):
    soft = raise_fd_limit(2 * SESSIONS + 200)
    m = make_mmp(conf={"mmp.maxsessions": "10000",
                       "mmp.maxsessionsperclient": "10000",
                       "mmp.preauthtimeout": "pt10m"})
    pid = m.daemon.proc.pid
    socks = []
    try:
        socks = open_idle(m.imap, 20)           # warm the allocator
        before = rss_kib(pid)
        t0 = time.monotonic()
        socks += open_idle(m.imap, SESSIONS - 20)
        elapsed = time.monotonic() - t0
        per_conn = (rss_kib(pid) - before) * 1024 / (SESSIONS - 20)
        print(f"\nmmp: {SESSIONS} idle sessions in {elapsed:.1f} s, "
              f"RSS growth {per_conn / 1024:.1f} KiB per connection")
        assert per_conn < 64 * 1024
        # A fresh client is still served, to the store and back.
        c = imaplib.IMAP4(*m.imap)
        c.login("alice@example.com", "alice-secret")
        assert c.select("INBOX") == ("OK", [b"1"])
        c.logout()
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_out_of_descriptors_pauses_then_serves(make_mmp):
    """With its open files used up, the mmp rests its listener (no busy
    loop on accept), says so once per pause, and serves again once
    sessions end."""
    from suite import Daemon, wait_port
    m = make_mmp(start=False)
    m.daemon = Daemon(["prlimit", "--nofile=48:48", MMP_BIN, "-c", m.conf_path,
                       "-f"], m.log_path)
    wait_port(*m.imap, 10, m.daemon.proc)
    held = []
    for _ in range(60):
        held.append(socket.create_connection(m.imap, timeout=5))
    time.sleep(1)
    assert "accept: Too many open files; pausing the listener" in m.log()
    assert "open files limited to 48" in m.log()
    for c in held:
        c.close()
    c = socket.create_connection(m.imap, timeout=5)
    c.settimeout(5)
    assert c.recv(100).startswith(b"* OK")
    c.close()
