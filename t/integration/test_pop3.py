"""POP3 (RFC 1939 with CAPA, RESP-CODES, AUTH-RESP-CODE, STLS and SASL)
with real clients: Python's poplib, curl, fetchmail; the maildrop lock
next to IMAP sessions; deletions only at QUIT; UIDLs stable across
reconstruct; hostile input and every limit."""
import base64
import hashlib
import imaplib
import os
import poplib
import re
import socket
import ssl
import subprocess
import time

import pytest

from certs import make_certs
from conftest import deliver
from lineio import SocketLines
from lmtpclient import Lmtp, make_message
from slapd import Slapd
from store import Store
from suite import free_port

ALICE = "alice@example.com"


class Pop(SocketLines):
    """A line-level POP3 client for what poplib hides."""

    def __init__(self, addr, timeout=10):
        super().__init__(addr, timeout)
        self.greeting = self.line()

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def multi(self, text):
        first = self.cmd(text)
        lines = []
        if first.startswith("+OK"):
            while (line := self.line()) != ".":
                lines.append(line)
        return first, lines

    def login(self, user="alice", password="alice-secret"):
        assert self.cmd(f"USER {user}").startswith("+OK")
        return self.cmd(f"PASS {password}")


def pop_conf(**extra):
    port, iport = free_port("127.0.0.2"), free_port("127.0.0.2")
    conf = {"service.pop.listen": f"127.0.0.2:{port}",
            "service.pop.plaintextmincipher": "0",
            "service.imap.listen": f"127.0.0.2:{iport}",
            "service.imap.plaintextmincipher": "0"}
    conf.update(extra)
    return conf, ("127.0.0.2", port), ("127.0.0.2", iport)


@pytest.fixture
def pop_store(make_store):
    conf, pop, imap = pop_conf()
    st = make_store(conf=conf)
    st.pop, st.imap = pop, imap
    return st


@pytest.fixture
def tls_store(make_store, tmp_path):
    certs = make_certs(str(tmp_path / "certs"), ["store1.example.com", "127.0.0.2"])
    plain, secure = free_port("127.0.0.2"), free_port("127.0.0.2")
    st = make_store(conf={"service.pop.listen": f"127.0.0.2:{plain}",
                          "service.pop.tlslisten": f"127.0.0.2:{secure}",
                          "local.tls.certfile": certs["cert"],
                          "local.tls.keyfile": certs["key"]})
    st.pop, st.pops, st.ca = ("127.0.0.2", plain), ("127.0.0.2", secure), certs["ca"]
    return st


def wait_unlocked(addr, user="alice", password="alice-secret"):
    """Log in once the previous session's lock is gone; the session."""
    for _ in range(50):
        c = Pop(addr)
        reply = c.login(user, password)
        if not reply.startswith("-ERR [IN-USE]"):
            assert reply.startswith("+OK"), reply
            return c
        c.cmd("QUIT")
        time.sleep(0.1)
    raise AssertionError("maildrop stayed locked")


def test_poplib_session(pop_store):
    deliver(pop_store, ALICE, ["one", "two", "three"])
    p = poplib.POP3(*pop_store.pop, timeout=10)
    caps = p.capa()
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER"):
        assert cap in caps, caps
    assert caps["SASL"] == ["PLAIN", "LOGIN"] and "STLS" not in caps
    p.user("alice")
    assert p.pass_("alice-secret").startswith(b"+OK")
    count, size = p.stat()
    sizes = [len(m) for m in pop_store.inbox_messages(ALICE)]
    assert count == 3 and size == sum(sizes)
    _, listing, _ = p.list()
    assert listing == [b"%d %d" % (i + 1, n) for i, n in enumerate(sizes)]
    _, lines, _ = p.retr(2)
    assert b"Subject: two" in lines and b"hello" in lines
    assert b"\r\n".join(lines) + b"\r\n" == pop_store.inbox_messages(ALICE)[1]
    _, top, _ = p.top(1, 0)
    assert top[-1] == b"" and b"hello" not in top
    _, uidl, _ = p.uidl()
    uv = uidl[0].split()[1].split(b".")[0]
    assert uidl == [b"%d %s.%d" % (i, uv, i) for i in (1, 2, 3)]
    assert p.uidl(3) == b"+OK 3 %s.3" % uv
    p.dele(1)
    assert p.stat() == (2, sum(sizes[1:]))
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(1)
    p.rset()
    assert p.stat()[0] == 3
    p.dele(1)
    p.dele(3)
    assert p.noop().startswith(b"+OK")
    assert b"2 messages deleted" in p.quit()
    assert [u for u, _ in pop_store.inbox_files(ALICE)] == [2]


def test_dot_stuffing_and_a_large_message(pop_store):
    body = ".leading dot\r\n..two dots\r\n.\r\nend\r\n"
    deliver(pop_store, ALICE, ["dots"], body=body)
    deliver(pop_store, ALICE, ["big"], size=6 * 1024 * 1024)
    p = Pop(pop_store.pop)
    p.login()
    p.send("RETR 1\r\n")
    assert p.line().startswith("+OK")
    raw, p.buf = p.buf, b""
    while not raw.endswith(b"\r\n.\r\n"):
        raw += p.sock.recv(65536)
    assert b"\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n.\r\n" in raw
    # A 6 MB message, read slowly: the server streams it.
    p.send("RETR 2\r\nNOOP\r\n")
    assert p.line().startswith("+OK")
    time.sleep(0.5)
    got = 0
    while True:
        line = p.line()
        if line == ".":
            break
        got += len(line) + 2
    assert got == len(pop_store.inbox_messages(ALICE)[1])
    assert p.line() == "+OK"                        # pipelined NOOP
    p.cmd("QUIT")


def test_passwords_need_stls(tls_store):
    deliver(tls_store, ALICE, ["secret mail"])
    p = poplib.POP3(*tls_store.pop, timeout=10)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user("alice")
    ctx = ssl.create_default_context(cafile=tls_store.ca)
    p.stls(context=ctx)
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps
    p.user("alice")
    p.pass_("alice-secret")
    assert b"Subject: secret mail" in p.retr(1)[1]
    p.quit()
    p = poplib.POP3_SSL(*tls_store.pops, context=ctx, timeout=10)
    assert "STLS" not in p.capa()
    p.user("alice")
    p.pass_("alice-secret")
    assert p.stat()[0] == 1
    p.quit()


def test_stls_discards_pipelined_plaintext(tls_store):
    s = socket.create_connection(tls_store.pop)
    s.recv(4096)
    s.sendall(b"STLS\r\nUSER alice\r\n")
    assert s.recv(4096).startswith(b"+OK")
    ctx = ssl.create_default_context(cafile=tls_store.ca)
    tls = ctx.wrap_socket(s, server_hostname="store1.example.com")
    tls.sendall(b"PASS alice-secret\r\n")
    assert tls.recv(4096).startswith(b"-ERR USER first")
    tls.close()


def test_curl(tls_store, make_store):
    deliver(tls_store, ALICE, ["via curl one", "via curl two"])
    host, port = tls_store.pops
    out = subprocess.run(["curl", "-s", "--cacert", tls_store.ca, "--user",
                          "alice:alice-secret", "--resolve",
                          f"store1.example.com:{port}:{host}",
                          f"pop3s://store1.example.com:{port}/"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(b"\r\n")[:2] == [
        b"1 %d" % len(tls_store.inbox_messages(ALICE)[0]),
        b"2 %d" % len(tls_store.inbox_messages(ALICE)[1])]
    out = subprocess.run(["curl", "-s", "--cacert", tls_store.ca, "--user",
                          "alice:alice-secret", "--ssl-reqd", "--resolve",
                          f"store1.example.com:{tls_store.pop[1]}:{host}",
                          f"pop3://store1.example.com:{tls_store.pop[1]}/2"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"Subject: via curl two" in out.stdout
    # Plain pop3:// where the operator allows passwords without TLS.
    conf, pop, _ = pop_conf()
    st = make_store(name="store1", conf=conf)
    deliver(st, ALICE, ["plain curl"])
    out = subprocess.run(["curl", "-s", "--user", "alice:alice-secret",
                          f"pop3://{pop[0]}:{pop[1]}/1"], capture_output=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"Subject: plain curl" in out.stdout


def test_fetchmail_retrieves_and_deletes(tls_store, tmp_path):
    deliver(tls_store, ALICE, ["fm one", "fm two", "fm three"])
    home = tmp_path / "fmhome"
    home.mkdir()
    out = tmp_path / "fetched.mbox"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.2 service {tls_store.pop[1]} protocol pop3 uidl\n"
        "  user \"alice\" password \"alice-secret\"\n"
        f"  sslcertck sslcertfile \"{tls_store.ca}\"\n"
        "  sslcommonname \"store1.example.com\"\n"
        f"  nokeep fetchall mda \"cat >> {out}\"\n")
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(home), HOME=str(home))
    proc = subprocess.run(["fetchmail", "-f", str(rc), "-v", "--nodetach"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "STLS" in proc.stdout + proc.stderr
    data = out.read_bytes()
    for subj in (b"fm one", b"fm two", b"fm three"):
        assert b"Subject: " + subj in data
    assert tls_store.inbox_files(ALICE) == []
    proc = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr   # no mail


def test_lock_and_imap_sessions(pop_store):
    deliver(pop_store, ALICE, ["a", "b", "c"])
    one = Pop(pop_store.pop)
    assert one.login().startswith("+OK Maildrop locked and ready, 3 messages")
    two = Pop(pop_store.pop)
    assert two.login() == "-ERR [IN-USE] Maildrop already locked by another session"
    assert two.login("bob", "bob-secret").startswith("-ERR")   # still usable
    m = imaplib.IMAP4(*pop_store.imap)
    m.login("alice", "alice-secret")
    assert m.select("INBOX") == ("OK", [b"3"])
    assert one.cmd("DELE 2").startswith("+OK")
    m.noop()
    assert m.fetch("2", "(UID)")[1] == [b"2 (UID 2)"]           # not yet
    assert one.cmd("QUIT").startswith("+OK")
    assert one.closed()
    typ, data = m.noop()
    assert m.response("EXPUNGE")[1] == [b"2"]
    assert m.search(None, "ALL")[1] == [b"1 2"]
    m.logout()
    two = wait_unlocked(pop_store.pop)
    assert two.cmd("STAT").startswith("+OK 2 ")
    two.cmd("QUIT")


def test_dropped_connection_deletes_nothing(pop_store):
    deliver(pop_store, ALICE, ["keep1", "keep2"])
    c = Pop(pop_store.pop)
    c.login()
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELE 2").startswith("+OK")
    c.sock.close()
    c = wait_unlocked(pop_store.pop)
    assert c.cmd("STAT").startswith("+OK 2 ")
    c.cmd("QUIT")
    assert len(pop_store.inbox_files(ALICE)) == 2


def test_uidl_stable_across_sessions_and_reconstruct(pop_store):
    deliver(pop_store, ALICE, ["u1", "u2", "u3"])
    p = Pop(pop_store.pop)
    p.login()
    _, first = p.multi("UIDL")
    p.cmd("DELE 1")
    p.cmd("QUIT")
    pop_store.stop()
    for f in os.listdir(pop_store.dbdir):
        os.unlink(os.path.join(pop_store.dbdir, f))
    out = pop_store.reconstruct()
    assert out.returncode == 0, out.stderr
    pop_store.start()
    p = Pop(pop_store.pop)
    p.login()
    _, after = p.multi("UIDL")
    ids = lambda lines: [l.split()[1] for l in lines]
    assert ids(after) == ids(first)[1:]
    assert re.fullmatch(r"\d+\.2", ids(after)[0])
    p.cmd("QUIT")
    # IMAP agrees: UIDVALIDITY.UID.
    m = imaplib.IMAP4(*pop_store.imap)
    m.login("alice", "alice-secret")
    m.select("INBOX")
    uv = m.response("UIDVALIDITY")[1][0].decode()
    assert ids(after)[0] == f"{uv}.2"
    m.logout()


def test_auth_mechanisms_and_proxy(make_store):
    conf, pop, _ = pop_conf(**{"store.admins": "mmp@example.com"})
    st = make_store(conf=conf)
    deliver(st, ALICE, ["sasl"])
    ir = base64.b64encode(b"\0alice@example.com\0alice-secret").decode()
    c = Pop(pop)
    assert c.multi("AUTH") == ("+OK Mechanisms follow", ["PLAIN", "LOGIN"])
    assert c.cmd(f"AUTH PLAIN {ir}").startswith("+OK Maildrop locked")
    c.cmd("QUIT")
    c = wait_unlocked(pop, "alice", "alice-secret")
    c.cmd("QUIT")
    c = Pop(pop)
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(ir).startswith("+OK")
    c.cmd("QUIT")
    c = Pop(pop)
    assert c.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
    assert c.cmd(base64.b64encode(b"carol@example.org").decode()) == "+ UGFzc3dvcmQ6"
    assert c.cmd(base64.b64encode(b"carol-secret").decode()).startswith("+OK")
    c.cmd("QUIT")
    c = Pop(pop)
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication cancelled"
    assert c.cmd("AUTH CRAM-MD5").startswith("-ERR")
    assert c.cmd("AUTH PLAIN !!!notbase64") == "-ERR Malformed authentication response"
    # A proxy logs in for alice with its own password.
    time.sleep(0.2)
    px = base64.b64encode(b"alice@example.com\0mmp@example.com\0mmp-secret").decode()
    c = Pop(pop)
    assert c.cmd(f"AUTH PLAIN {px}").startswith("+OK Maildrop locked and ready, 1")
    c.cmd("QUIT")
    c = Pop(pop)
    bad = base64.b64encode(b"alice@example.com\0carol@example.org\0carol-secret").decode()
    assert c.cmd(f"AUTH PLAIN {bad}") == "-ERR [AUTH] Authentication failed"


def test_apop(make_store):
    conf, pop, _ = pop_conf(**{
        "service.pop.plaintextmincipher": "1",
        "local.ldap.secretbinddn": "cn=admin,dc=example,dc=com",
        "local.ldap.secretbindpw": "admin-secret"})
    st = make_store(conf=conf)
    deliver(st, ALICE, ["apop"])
    p = poplib.POP3(*pop, timeout=10)
    assert re.search(rb"<[^>]+@[^>]+>$", p.welcome)
    assert p.apop("alice@example.com", "alice-secret").startswith(b"+OK")
    assert b"Subject: apop" in b"\r\n".join(p.retr(1)[1])
    p.quit()
    p = poplib.POP3(*pop, timeout=10)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.apop("alice@example.com", "wrong")
    # By hand: MD5 of the greeting's timestamp and the password.
    c = Pop(pop)
    stamp = re.search(r"<[^>]+>", c.greeting).group(0)
    digest = hashlib.md5((stamp + "alice-secret").encode()).hexdigest()
    assert c.cmd(f"APOP alice {digest}").startswith("+OK")


def test_no_apop_without_secret_reader(pop_store):
    c = Pop(pop_store.pop)
    assert "<" not in c.greeting
    assert c.cmd("APOP alice 0123456789abcdef0123456789abcdef") == \
        "-ERR APOP not available"


def test_failed_logins_delay_then_disconnect(pop_store):
    c = Pop(pop_store.pop)
    assert c.login("alice", "wrong") == "-ERR [AUTH] Authentication failed"
    t0 = time.monotonic()
    assert c.login("nobody@example.com", "wrong").startswith("-ERR [AUTH]")
    assert time.monotonic() - t0 >= 0.9
    c.send("USER alice\r\nPASS wrong\r\n")
    assert c.line().startswith("+OK")
    assert c.line() == "-ERR [AUTH] Authentication failed"
    assert c.closed()


def test_refused_accounts_and_states(pop_store):
    c = Pop(pop_store.pop)
    # bob lives on store2; grace is deleted.
    assert c.login("bob", "bob-secret").startswith("-ERR [SYS/TEMP]")
    assert c.login("grace", "grace-secret").startswith("-ERR [SYS/PERM]")
    assert c.cmd("STAT") == "-ERR Command not valid in this state"
    assert c.cmd("PASS alice-secret") == "-ERR USER first"
    c.login()
    assert c.cmd("USER alice") == "-ERR Command not valid in this state"
    assert c.cmd("STLS") == "-ERR Command not valid in this state"
    assert c.cmd("QUIT").startswith("+OK")


def test_hostile_input(make_store):
    conf, pop, _ = pop_conf(**{"service.pop.maxlinelength": "1024",
                               "service.pop.maxerrors": "5"})
    st = make_store(conf=conf)
    deliver(st, ALICE, ["x"])
    c = Pop(pop)
    assert c.cmd("NOOP " + "x" * 5000) == "-ERR Line too long"
    c.login()
    for bad in ("RETR 0", "RETR 2", "DELE 99999999999999", "TOP 1 x"):
        assert c.cmd(bad).startswith("-ERR"), bad
    assert c.cmd("RETR x") == "-ERR Invalid message number"
    assert c.cmd("FROB") == "-ERR Unknown command"
    assert c.cmd("\0\xff") == "-ERR Unknown command"
    assert c.closed()
    assert st.alive()
    # Binary junk and a line that never ends.
    c = Pop(pop)
    c.send(os.urandom(4096))
    c.send("\r\nNOOP\r\n")
    c.sock.close()
    c = Pop(pop)
    c.send(b"A" * 3 * 1024 * 1024)
    c.sock.close()
    assert Pop(pop).greeting.startswith("+OK")


def test_session_limits_and_timeouts(make_store):
    conf, pop, _ = pop_conf(**{"service.pop.maxsessionsperclient": "2",
                               "service.pop.preauthtimeout": "pt2s",
                               "service.pop.idletimeout": "pt3s"})
    st = make_store(conf=conf)
    a, b = Pop(pop), Pop(pop)
    extra = Pop(pop)
    assert extra.greeting == "-ERR [SYS/TEMP] Too many connections, try again later"
    assert extra.closed()
    assert b.login().startswith("+OK")
    time.sleep(2.5)
    assert a.line() == "-ERR Disconnected for inactivity"
    assert a.closed()
    assert b.cmd("NOOP") == "+OK"                    # logged in: 3 s
    time.sleep(3.5)
    assert b.line() == "-ERR Disconnected for inactivity"


def test_directory_down_is_sys_temp(tmp_path):
    ldap = Slapd(tmp_path / "ldap")
    ldap.start()
    conf, pop, _ = pop_conf(**{"local.ldap.timeout": "pt2s"})
    st = Store(tmp_path / "s", slapd=ldap, host="127.0.0.2", conf=conf).start()
    try:
        ldap.stop()
        c = Pop(pop)
        assert c.login() == "-ERR [SYS/TEMP] Directory unavailable, try later"
    finally:
        st.stop()


def test_unknown_pop_key_is_refused(tmp_path, slapd):
    conf, _, _ = pop_conf(**{"service.pop.bogus": "1"})
    st = Store(tmp_path / "s", slapd=slapd, host="127.0.0.2", conf=conf)
    out = st.check_config()
    assert out.returncode != 0 and "service.pop.bogus" in out.stdout + out.stderr


def test_shutdown_deletes_nothing(pop_store):
    deliver(pop_store, ALICE, ["s1"])
    c = Pop(pop_store.pop)
    c.login()
    assert c.cmd("DELE 1").startswith("+OK")
    t0 = time.monotonic()
    pop_store.stop()
    assert time.monotonic() - t0 < 5                 # no wait for the client
    assert c.line() == "-ERR [SYS/TEMP] Server shutting down"
    assert c.closed()
    assert len(pop_store.inbox_files(ALICE)) == 1


def test_half_closed_client_is_answered(pop_store):
    deliver(pop_store, ALICE, ["one", "two"])
    s = socket.create_connection(pop_store.pop, timeout=10)
    s.sendall(b"USER alice\r\nPASS alice-secret\r\nSTAT\r\nDELE 1\r\nQUIT\r\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    replies = data.decode().split("\r\n")
    assert [r[:3] for r in replies[:6]] == ["+OK"] * 6, replies
    assert "1 message deleted" in replies[5]
    assert [u for u, _ in pop_store.inbox_files(ALICE)] == [2]


def test_drain_lets_a_running_retr_finish(pop_store):
    import signal
    deliver(pop_store, ALICE, ["big"], size=6 * 1024 * 1024)
    c = Pop(pop_store.pop)
    c.login()
    c.send("RETR 1\r\n")
    assert c.line().startswith("+OK")
    pop_store.daemon.send(signal.SIGTERM)           # while it streams
    time.sleep(0.3)
    got = 0
    while (line := c.line()) != ".":
        got += len(line) + 2
    assert got == len(pop_store.inbox_messages(ALICE)[0])
    assert c.line() == "-ERR [SYS/TEMP] Server shutting down"
    assert c.closed()
    assert pop_store.daemon.proc.wait(10) == 0
