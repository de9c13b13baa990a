"""IMAP sessions: what concurrent sessions see of each other, IDLE,
authentication rules, and every limit with its response."""
import base64
import imaplib
import socket
import subprocess
import time

import pytest

from conftest import deliver
from lineio import SocketLines
from slapd import Slapd
from store import Store
from suite import free_port


class Raw(SocketLines):
    """A line-level IMAP client for the cases imaplib hides."""

    def __init__(self, addr, timeout=10):
        super().__init__(addr, timeout)
        self.greeting = self.line()

    def cmd(self, tag, text):
        """Send one command; return (untagged lines, tagged line)."""
        self.send(f"{tag} {text}\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                return untagged, line
            untagged.append(line)


def login(st, user="alice@example.com", password="alice-secret"):
    m = imaplib.IMAP4(*st.imap)
    m.login(user, password)
    return m


def test_two_sessions_see_each_others_changes(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b", "c"])
    one, two = Raw(imap_store.imap), Raw(imap_store.imap)
    for c in (one, two):
        c.cmd("l", "LOGIN alice alice-secret")
    untagged, _ = one.cmd("s", "SELECT INBOX")
    assert "* 3 RECENT" in untagged
    untagged, _ = two.cmd("s", "SELECT INBOX")
    assert "* 0 RECENT" in untagged                  # \Recent went to one
    two.cmd("f", "STORE 2 +FLAGS (\\Deleted)")
    untagged, _ = one.cmd("n", "NOOP")
    assert "* 2 FETCH (FLAGS (\\Deleted \\Recent))" in untagged
    two.cmd("e", "EXPUNGE")
    deliver(imap_store, "alice@example.com", ["d"])
    untagged, _ = one.cmd("n2", "NOOP")
    assert untagged[0] == "* 2 EXPUNGE" and "* 3 EXISTS" in untagged
    assert "* 3 RECENT" in untagged               # a, c and the new d
    untagged, _ = two.cmd("n", "NOOP")
    assert "* 3 EXISTS" in untagged and "* 0 RECENT" in untagged
    # A session that last looked before new mail, which a third session
    # has since selected (its claim written to the index), must not
    # report that mail as \Recent too.
    deliver(imap_store, "alice@example.com", ["e"])
    three = Raw(imap_store.imap)
    three.cmd("l", "LOGIN alice alice-secret")
    untagged, _ = three.cmd("s", "SELECT INBOX")
    assert "* 1 RECENT" in untagged
    time.sleep(0.3)                                # the claim is committed
    untagged, _ = two.cmd("n2", "NOOP")
    assert "* 4 EXISTS" in untagged and "* 0 RECENT" in untagged


def test_fetch_does_not_report_expunges(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b"])
    one, two = Raw(imap_store.imap), Raw(imap_store.imap)
    for c in (one, two):
        c.cmd("l", "LOGIN alice alice-secret")
        c.cmd("s", "SELECT INBOX")
    two.cmd("d", "STORE 1 +FLAGS (\\Deleted)")
    two.cmd("e", "EXPUNGE")
    untagged, tagged = one.cmd("f", "FETCH 1:2 (FLAGS)")
    assert tagged.startswith("f OK") and not any("EXPUNGE" in u for u in untagged)
    untagged, _ = one.cmd("u", "UID FETCH 1:* (FLAGS)")
    assert "* 1 EXPUNGE" in untagged


def test_idle_tells_new_mail(imap_store):
    c = Raw(imap_store.imap)
    c.cmd("l", "LOGIN alice alice-secret")
    c.cmd("s", "SELECT INBOX")
    c.send("i IDLE\r\n")
    assert c.line().startswith("+ ")
    deliver(imap_store, "alice@example.com", ["idle"])
    assert c.line() == "* 1 EXISTS"
    c.send("DONE\r\n")
    _, tagged = c.until("i")
    assert tagged == "i OK IDLE terminated"


def test_wrong_password_delays_then_bye(imap_store):
    c = Raw(imap_store.imap)
    _, t = c.cmd("a", "LOGIN alice wrong")
    assert t == "a NO [AUTHENTICATIONFAILED] Authentication failed"
    t0 = time.monotonic()
    _, t = c.cmd("b", "LOGIN nobody@example.com wrong")
    assert t.startswith("b NO [AUTHENTICATIONFAILED]")
    assert time.monotonic() - t0 >= 0.9             # the penalty grows
    c.send("c LOGIN alice wrong\r\n")
    assert c.line().startswith("c NO [AUTHENTICATIONFAILED]")
    assert c.line().startswith("* BYE")
    assert c.closed()


def test_authenticate_plain_and_login(imap_store):
    ir = base64.b64encode(b"\0alice@example.com\0alice-secret").decode()
    c = Raw(imap_store.imap)
    _, t = c.cmd("a", f"AUTHENTICATE PLAIN {ir}")
    assert t.startswith("a OK")
    c = Raw(imap_store.imap)
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line() == "+ "
    c.send(ir + "\r\n")
    assert c.until("a")[1].startswith("a OK")
    c = Raw(imap_store.imap)
    c.send("a AUTHENTICATE LOGIN\r\n")
    assert c.line() == "+ VXNlcm5hbWU6"
    c.send(base64.b64encode(b"carol@example.org").decode() + "\r\n")
    assert c.line() == "+ UGFzc3dvcmQ6"
    c.send(base64.b64encode(b"carol-secret").decode() + "\r\n")
    assert c.until("a")[1].startswith("a OK")
    c = Raw(imap_store.imap)
    c.send("a AUTHENTICATE PLAIN\r\n")
    c.line()
    c.send("*\r\n")
    assert c.until("a")[1] == "a BAD Authentication cancelled"
    _, t = c.cmd("b", "AUTHENTICATE CRAM-MD5")
    assert t.startswith("b NO")
    _, t = c.cmd("c", "AUTHENTICATE PLAIN !!!notbase64")
    assert t.startswith("c BAD")


def test_refused_accounts(imap_store):
    c = Raw(imap_store.imap)
    # bob lives on store2; frank is inactive; grace is deleted.
    assert c.cmd("a", "LOGIN bob bob-secret")[1].startswith("a NO [UNAVAILABLE]")
    assert c.cmd("b", "LOGIN frank frank-secret")[1].startswith("b NO [UNAVAILABLE]")
    assert c.cmd("c", "LOGIN grace grace-secret")[1].startswith("c NO [CONTACTADMIN]")


def test_passwords_need_tls_by_default(make_store):
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}"})
    c = Raw(("127.0.0.2", port))
    assert "LOGINDISABLED" in c.greeting and "AUTH=PLAIN" not in c.greeting
    assert c.cmd("a", "LOGIN alice alice-secret")[1] == \
        "a NO [PRIVACYREQUIRED] Use STARTTLS first"


def test_command_state_rules(imap_store):
    c = Raw(imap_store.imap)
    assert c.cmd("a", "SELECT INBOX")[1].startswith("a BAD")
    c.cmd("l", "LOGIN alice alice-secret")
    assert c.cmd("b", "FETCH 1 FLAGS")[1].startswith("b BAD")
    assert c.cmd("c", "LOGIN alice alice-secret")[1].startswith("c BAD")
    assert c.cmd("d", "FROB")[1] == "d BAD Unknown command"
    c.cmd("s", "SELECT INBOX")
    assert c.cmd("e", "FETCH 5 FLAGS")[1].startswith("e BAD")   # no message 5
    assert c.cmd("f", "FETCH 1:x FLAGS")[1].startswith("f BAD")
    assert c.cmd("g", 'SEARCH ' + "(" * 40 + "ALL" + ")" * 40)[1].startswith("g BAD")
    assert c.cmd("h", "LOGOUT")[0] == ["* BYE Logging out"]


def test_limits(make_store):
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          "service.imap.plaintextmincipher": "0",
                          "service.imap.maxlinelength": "1024",
                          "service.imap.maxcommandsize": "8k",
                          "service.imap.maxerrors": "3",
                          "service.imap.maxsessionsperclient": "3",
                          "service.imap.preauthtimeout": "2"})
    addr = ("127.0.0.2", port)
    c = Raw(addr)
    c.send("a NOOP " + "x" * 2000 + "\r\n")
    assert c.line() == "* BAD [TOOBIG] Line too long"
    assert c.cmd("b", "NOOP")[1] == "b OK NOOP completed"
    # A synchronising literal over the cap is refused before it is sent.
    c.send("c LOGIN {100000}\r\n")
    assert c.line() == "c NO [TOOBIG] Command too large"
    c.cmd("l", "LOGIN alice alice-secret")
    # APPEND over the message size: refused too.
    c.send("d APPEND INBOX {60000000}\r\n")
    assert c.line() == "d NO [TOOBIG] Message too large"
    # A non-synchronising one cannot be refused: the session ends.
    c.send("e LOGIN {100000+}\r\n")
    assert c.line().startswith("* BYE [TOOBIG]")
    assert c.closed()
    # Protocol errors.
    c = Raw(addr)
    for i in range(3):
        assert c.cmd(f"x{i}", "FROB")[1].endswith("BAD Unknown command")
    c.send("y FROB\r\n")
    assert c.line() == "y BAD Unknown command"
    assert c.line().startswith("* BYE")
    # Sessions per client address.
    held = [Raw(addr) for _ in range(3)]
    extra = Raw(addr)
    assert extra.greeting.startswith("* BYE")
    # Idle before login.
    time.sleep(2.5)
    assert held[0].line().startswith("* BYE Autologout")


def test_directory_down_is_unavailable(tmp_path):
    ldap = Slapd(tmp_path / "ldap")
    ldap.start()
    port = free_port("127.0.0.2")
    st = Store(tmp_path / "s", slapd=ldap, host="127.0.0.2",
               conf={"service.imap.listen": f"127.0.0.2:{port}",
                     "service.imap.plaintextmincipher": "0",
                     "local.ldap.timeout": "pt2s"}).start()
    try:
        ldap.stop()
        c = Raw(("127.0.0.2", port))
        _, t = c.cmd("a", "LOGIN alice alice-secret")
        assert t == "a NO [UNAVAILABLE] Directory unavailable, try later"
    finally:
        st.stop()


def test_curl_reads_mail(imap_store):
    deliver(imap_store, "alice@example.com", ["via curl"])
    host, port = imap_store.imap
    out = subprocess.run(["curl", "-s", "--user", "alice:alice-secret",
                          f"imap://{host}:{port}/INBOX;UID=1"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"Subject: via curl" in out.stdout
    out = subprocess.run(["curl", "-s", "--user", "alice:alice-secret",
                          f"imap://{host}:{port}/"], capture_output=True, timeout=30)
    assert b"INBOX" in out.stdout and b"Trash" in out.stdout


def test_proxy_login_for_store_admins(make_store):
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          "service.imap.plaintextmincipher": "0",
                          "store.admins": "mmp@example.com"})
    deliver(st, "alice@example.com", ["via proxy"])
    ok = base64.b64encode(b"alice@example.com\0mmp@example.com\0mmp-secret").decode()
    c = Raw(("127.0.0.2", port))
    _, t = c.cmd("a", f"AUTHENTICATE PLAIN {ok}")
    assert t.startswith("a OK")
    untagged, _ = c.cmd("s", "SELECT INBOX")
    assert "* 1 EXISTS" in untagged
    # Wrong admin password, a user who is not an admin, an unknown user.
    for i, creds in enumerate([b"alice@example.com\0mmp@example.com\0wrong",
                               b"alice@example.com\0carol@example.org\0carol-secret",
                               b"nobody@example.com\0mmp@example.com\0mmp-secret"]):
        c = Raw(("127.0.0.2", port))
        _, t = c.cmd("b", "AUTHENTICATE PLAIN " + base64.b64encode(creds).decode())
        assert t.startswith("b NO [AUTHENTICATIONFAILED]"), (i, t)
    # The admin has no mailbox of its own: logging in as itself is refused.
    c = Raw(("127.0.0.2", port))
    _, t = c.cmd("c", "LOGIN mmp@example.com mmp-secret")
    assert t.startswith("c NO")


def test_cram_md5(make_store):
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          # The sample directory lets only its root read
                          # userPassword.
                          "local.ldap.secretbinddn": "cn=admin,dc=example,dc=com",
                          "local.ldap.secretbindpw": "admin-secret"})
    m = imaplib.IMAP4("127.0.0.2", port)
    # Offered before TLS: the password never crosses the wire.
    assert "AUTH=CRAM-MD5" in m.capabilities and "LOGINDISABLED" in m.capabilities
    assert m.login_cram_md5("alice@example.com", "alice-secret")[0] == "OK"
    m.logout()
    m = imaplib.IMAP4("127.0.0.2", port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login_cram_md5("alice@example.com", "wrong")


def test_no_cram_md5_without_a_secret_reader(imap_store):
    m = imaplib.IMAP4(*imap_store.imap)
    assert "AUTH=CRAM-MD5" not in m.capabilities


def test_quota_alert_on_select(make_store):
    port = free_port("127.0.0.3")
    st = make_store(name="store2", host="127.0.0.3",
                    conf={"service.imap.listen": f"127.0.0.3:{port}",
                          "service.imap.plaintextmincipher": "0"})
    # heidi: mailMsgQuota 5, warning at 90%.
    deliver(st, "heidi@example.com", ["a", "b", "c", "d", "e"])
    c = Raw(("127.0.0.3", port))
    c.cmd("l", "LOGIN heidi heidi-secret")
    untagged, _ = c.cmd("s", "SELECT INBOX")
    assert any(u.startswith("* OK [ALERT]") for u in untagged)


def test_mailbox_names_in_modified_utf7(imap_store):
    c = Raw(imap_store.imap)
    c.cmd("l", "LOGIN alice alice-secret")
    assert c.cmd("a", 'CREATE "&AOk-t&AOk-"')[1].startswith("a OK")
    assert any("&AOk-t&AOk-" in u for u in c.cmd("b", 'LIST "" "*"')[0])
    assert c.cmd("c", 'CREATE "&bad"')[1].startswith("c NO")
    assert c.cmd("d", 'CREATE "caf\xe9"')[1].startswith("d NO")   # 8-bit: not mUTF-7


def test_literal_plus_append(imap_store):
    c = Raw(imap_store.imap)
    c.cmd("l", "LOGIN alice alice-secret")
    msg = "Subject: lp\r\n\r\nnon-sync\r\n"
    c.send(f"a APPEND INBOX {{{len(msg)}+}}\r\n{msg}\r\n")
    _, t = c.until("a")
    assert t.startswith("a OK [APPENDUID")


def test_idle_tells_changes_by_other_sessions_at_once(imap_store):
    deliver(imap_store, "alice@example.com", ["x"])
    idle, other = Raw(imap_store.imap), Raw(imap_store.imap)
    for c in (idle, other):
        c.cmd("l", "LOGIN alice alice-secret")
        c.cmd("s", "SELECT INBOX")
    idle.send("i IDLE\r\n")
    assert idle.line().startswith("+ ")
    idle.sock.settimeout(5)         # far below the 30 s safety poll
    other.cmd("f", "STORE 1 +FLAGS (\\Flagged)")
    assert idle.line().startswith("* 1 FETCH (FLAGS (\\Flagged")
    idle.send("DONE\r\n")
    assert idle.until("i")[1] == "i OK IDLE terminated"


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_pipelining_without_reading_is_bounded(make_store):
    import socket as _socket
    import threading
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          "service.imap.idletimeout": "3",
                          "service.imap.preauthtimeout": "3",
                          "service.imap.maxsessionsperclient": "1"})
    before = rss_kb(st.daemon.proc.pid)
    s = _socket.create_connection(("127.0.0.2", port))
    s.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 4096)
    burst = b"a CAPABILITY\r\n" * 20000
    stop = threading.Event()

    def flood():
        s.settimeout(1)
        try:
            for _ in range(100):            # 28 MB of commands at most
                if stop.is_set():
                    return
                s.sendall(burst)
        except OSError:
            pass
    t = threading.Thread(target=flood)
    t.start()
    t.join(8)
    stop.set()
    grown = rss_kb(st.daemon.proc.pid) - before
    assert grown < 64 * 1024, f"store grew {grown} kB for an unread client"
    # The client never reads: the write timeout must free the session
    # (maxsessionsperclient=1 would refuse a new one otherwise).
    import time as _time
    _time.sleep(4)
    s.close()
    c = Raw(("127.0.0.2", port))
    assert c.greeting.startswith("* OK"), c.greeting


def anon_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def test_fetch_of_many_sections_does_not_copy_the_message(imap_store):
    from lmtpclient import Lmtp, make_message
    c = Lmtp(*imap_store.lmtp)
    c.lhlo()
    assert c.deliver("s@example.net", ["alice@example.com"],
                     make_message("big", size=4 << 20))[2][0][0] == 250
    m = Raw(imap_store.imap)
    m.cmd("l", "LOGIN alice alice-secret")
    m.cmd("s", "SELECT INBOX")
    before = anon_kb(imap_store.daemon.proc.pid)
    m.send("f FETCH 1 (" + " ".join(["BODY.PEEK[]"] * 16) + ")\r\n")
    time.sleep(1)               # not reading: the replies wait in the store
    grown = anon_kb(imap_store.daemon.proc.pid) - before
    assert grown < 16 * 1024, f"{grown} kB of heap for 16 references to 4 MB"
    m.sock.settimeout(30)
    total = 0
    while b"f OK" not in m.buf[-200:]:
        chunk = m.sock.recv(1 << 20)
        assert chunk
        total += len(chunk)
        m.buf = m.buf[-200:] + chunk
    assert total > 16 * (4 << 20)


def test_long_lines_keep_the_protocol_in_step(make_store):
    port = free_port("127.0.0.2")
    make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                     "service.imap.plaintextmincipher": "0",
                     "service.imap.maxlinelength": "1024"})
    addr = ("127.0.0.2", port)
    # An over-long APPEND line announcing {n+}: its bytes must not run.
    c = Raw(addr)
    c.cmd("l", "LOGIN alice alice-secret")
    c.send("a APPEND INBOX (" + "\\Seen " * 300 + ") {20+}\r\nzz CREATE injected\r\n")
    first = c.line()
    if first.startswith("* BAD [TOOBIG]"):
        first = c.line()
    assert first.startswith("* BYE [TOOBIG]")
    c = Raw(addr)
    c.cmd("l", "LOGIN alice alice-secret")
    untagged, _ = c.cmd("t", 'LIST "" injected')
    assert untagged == []
    # In IDLE: an error, still idling, and DONE is answered with the tag.
    c.cmd("s", "SELECT INBOX")
    c.send("i IDLE\r\n")
    assert c.line().startswith("+")
    c.send("x" * 2000 + "\r\n")
    assert c.line() == "* BAD [TOOBIG] Line too long"
    c.send("DONE\r\n")
    assert c.until("i")[1] == "i OK IDLE terminated"
    # In AUTHENTICATE: a tagged BAD ends it.
    c = Raw(addr)
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line() == "+ "
    c.send("A" * 2000 + "\r\n")
    assert c.until("a")[1] == "a BAD [TOOBIG] Line too long"
    # After a literal, in the rest of the command: tagged too.
    c.send("b LOGIN {5}\r\n")
    assert c.line().startswith("+")
    c.send("alice" + " " + "y" * 2000 + "\r\n")
    assert c.until("b")[1] == "b BAD [TOOBIG] Line too long"
    assert c.cmd("n", "NOOP")[1] == "n OK NOOP completed"


def test_half_closed_client_is_answered(imap_store):
    c = Raw(imap_store.imap)
    c.send("a LOGIN alice alice-secret\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.until("a")[1].startswith("a OK")
    assert c.until("b")[1].startswith("b OK")
    untagged, done = c.until("c")
    assert untagged[-1].startswith("* BYE") and done.startswith("c OK")
    assert c.closed()
    # Without LOGOUT the session still ends once its commands are done.
    c = Raw(imap_store.imap)
    c.send("a LOGIN alice alice-secret\r\nb NOOP\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.until("b")[1].startswith("b OK")
    assert c.closed()


def test_drain_lets_a_running_command_finish(imap_store):
    import signal
    c = Raw(imap_store.imap)
    c.cmd("l", "LOGIN alice alice-secret")
    msg = "Subject: drained\r\n\r\nbody\r\n"
    c.send("a APPEND INBOX {%d}\r\n" % len(msg))
    assert c.line().startswith("+")
    imap_store.daemon.send(signal.SIGTERM)
    time.sleep(0.3)
    c.send(msg + "\r\n")
    assert c.until("a")[1].startswith("a OK")
    assert c.line() == "* BYE Server shutting down"
    assert c.closed()
    assert imap_store.daemon.proc.wait(10) == 0
