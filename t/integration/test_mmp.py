"""The mmp, the IMAP and POP3 proxy: users split between two stores
(store1 on 127.0.0.2, store2 on 127.0.0.3, by mailHost) reach their own
through one mmp on 127.0.0.1, with real clients (imaplib, poplib, curl),
and the unhappy paths: wrong passwords, refused accounts, a store or the
directory down, hostile input and limits."""
import base64
import imaplib
import poplib
import socket
import subprocess
import time

import pytest

from suite import free_port

def imap_subjects(c):
    typ, _ = c.select("INBOX")
    assert typ == "OK"
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    return [part[1].decode().strip() for part in data if isinstance(part, tuple)]


def test_imap_users_reach_their_own_store(mmp, stores):
    st1, st2 = stores
    for user, subject, st in (("alice@example.com", "for alice on store1", st1),
                              ("bob", "for bob on store2", st2)):
        c = imaplib.IMAP4(*mmp.imap)
        assert "AUTH=PLAIN" in c.capabilities
        c.login(user, user.split("@")[0] + "-secret")
        # After login, the capabilities are the store's own.
        assert b"QRESYNC" in c.capability()[1][0]
        assert imap_subjects(c) == [f"Subject: {subject}"]
        c.logout()
    # The store logged the proxy login, with the real client.
    assert "login=mmp@example.com(for alice@example.com)" in st1.log()
    assert "client=127.0.0.1 client_port=" in st1.log()
    assert "for bob@example.com" in st2.log()
    assert "for alice" not in st2.log()


def test_imap_authenticate_plain_and_pipelining(mmp):
    c = imaplib.IMAP4(*mmp.imap)
    c.authenticate("PLAIN", lambda _: b"\0alice@example.com\0alice-secret")
    assert imap_subjects(c) == ["Subject: for alice on store1"]
    c.logout()
    # LOGIN and SELECT in one write: the SELECT waits for the login and
    # goes to the store.
    s = socket.create_connection(mmp.imap)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(b'a LOGIN alice@example.com alice-secret\r\nb SELECT INBOX\r\n'
              b"c LOGOUT\r\n")
    replies = f.read().decode()
    assert "a OK [CAPABILITY" in replies
    assert "* 1 EXISTS" in replies and "b OK [READ-WRITE]" in replies
    assert "c OK" in replies
    # The same, with the client's side shut down after its last command
    # (nc -N): every answer still comes.
    s = socket.create_connection(mmp.imap)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'a LOGIN alice@example.com alice-secret\r\nb SELECT INBOX\r\n'
              b"c LOGOUT\r\n")
    s.shutdown(socket.SHUT_WR)
    replies = f.read().decode()
    assert "a OK" in replies and "b OK [READ-WRITE]" in replies
    assert "c OK" in replies


def test_pop3_through_the_mmp(mmp):
    p = poplib.POP3(*mmp.pop)
    assert p.capa()["SASL"] == ["PLAIN", "LOGIN"]
    p.user("bob@example.com")
    p.pass_("bob-secret")
    count, _ = p.stat()
    assert count == 1
    _, lines, _ = p.retr(1)
    assert b"Subject: for bob on store2" in lines
    p.quit()
    # AUTH PLAIN with an initial response, raw.
    s = socket.create_connection(mmp.pop)
    f = s.makefile("rb")
    f.readline()
    ir = base64.b64encode(b"\0alice@example.com\0alice-secret").decode()
    s.sendall(f"AUTH PLAIN {ir}\r\nSTAT\r\nQUIT\r\n".encode())
    assert f.readline().startswith(b"+OK Maildrop locked")
    assert f.readline().startswith(b"+OK 1 ")
    assert f.readline().startswith(b"+OK")


def test_curl_lists_through_the_mmp(mmp):
    out = subprocess.run(["curl", "-sS", "--max-time", "10",
                          f"imap://{mmp.imap[0]}:{mmp.imap[1]}/INBOX;UID=1",
                          "-u", "alice@example.com:alice-secret"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "for alice on store1" in out.stdout


def test_wrong_password_waits_longer_each_time_then_bye(make_mmp):
    m = make_mmp(conf={"mmp.badloginmaxdelay": "pt3s"})
    c = imaplib.IMAP4(*m.imap)
    waits = []
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error) as exc:
            c.login("alice@example.com", "wrong")
        waits.append(time.monotonic() - t0)
        assert "AUTHENTICATIONFAILED" in str(exc.value)
    assert waits[0] >= 0.9 and waits[1] >= 1.9
    # The third failure (mmp.maxbadlogins = 3) ends the session.
    with pytest.raises(imaplib.IMAP4.error):
        c.login("alice@example.com", "wrong")
    with pytest.raises(imaplib.IMAP4.abort):
        c.noop()
    # The address keeps its record: a new session waits 3 s at once.
    p = poplib.POP3(*m.pop)
    p.user("alice@example.com")
    t0 = time.monotonic()
    with pytest.raises(poplib.error_proto) as exc:
        p.pass_("wrong")
    assert time.monotonic() - t0 >= 2.9
    assert b"[AUTH]" in exc.value.args[0]


def test_refused_accounts(mmp):
    c = imaplib.IMAP4(*mmp.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login("frank@example.com", "frank-secret")    # inactive
    assert "[UNAVAILABLE]" in str(exc.value)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login("grace@example.com", "grace-secret")    # deleted
    assert "[CONTACTADMIN]" in str(exc.value)
    c.login("alice@example.com", "alice-secret")
    c.logout()


def test_store_down_is_temporary(mmp, stores):
    stores[1].stop()
    c = imaplib.IMAP4(*mmp.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login("bob@example.com", "bob-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    # The session goes on: alice's store is up.
    c.login("alice@example.com", "alice-secret")
    c.logout()
    p = poplib.POP3(*mmp.pop)
    p.user("bob@example.com")
    with pytest.raises(poplib.error_proto) as exc:
        p.pass_("bob-secret")
    assert b"[SYS/TEMP]" in exc.value.args[0]


def test_directory_down_is_temporary(make_mmp):
    m = make_mmp(ldap_uri=f"ldap://127.0.0.1:{free_port()}",
                 conf={"local.ldap.timeout": "pt1s"})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login("alice@example.com", "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)


def test_store_refusing_the_proxy_is_temporary_and_logged(make_mmp):
    m = make_mmp(conf={"mmp.backend.password": "not-the-secret"})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login("alice@example.com", "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    assert "refused the proxy login of mmp@example.com" in m.log()


def test_stores_trust_their_mmps_for_the_per_client_limit(make_store, make_mmp):
    """Every user reaches a store from the mmp's address: a store counts
    those sessions per client only when the mmp is not one of its
    store.trustedproxies."""
    from conftest import mmp_store_conf, with_endpoints
    for trusted, expect in ((None, 2), ("127.0.0.0/8", 3)):
        conf = mmp_store_conf("127.0.0.4")
        conf.update({"service.imap.maxsessionsperclient": "2",
                     "store.trustedproxies": trusted})
        st = with_endpoints(make_store(name="store1", host="127.0.0.4", conf=conf))
        m = make_mmp(backends={"store1.example.com": st})
        held = []
        for _ in range(3):
            c = imaplib.IMAP4(*m.imap)
            try:
                c.login("alice@example.com", "alice-secret")
                held.append(c)
            except imaplib.IMAP4.error:
                pass
        assert len(held) == expect
        for c in held:
            c.logout()
        st.stop()


def test_mailhost_found_by_dns(make_mmp, stores, tmp_path):
    """Without mmp.imap.backends the mailHost is resolved (mmp.dns.servers)
    and reached on mmp.imap.backendport; a name that does not resolve is
    a temporary failure."""
    from dnsmasq import Dnsmasq
    st2 = stores[1]
    d = Dnsmasq(tmp_path / "dns", hosts={"store2.example.com": "127.0.0.3"})
    d.start()
    try:
        m = make_mmp(backends={}, conf={"mmp.dns.servers": d.servers,
                                        "mmp.imap.backendport": str(st2.imap[1])})
        c = imaplib.IMAP4(*m.imap)
        c.login("bob@example.com", "bob-secret")
        assert imap_subjects(c) == ["Subject: for bob on store2"]
        c.logout()
        c = imaplib.IMAP4(*m.imap)
        with pytest.raises(imaplib.IMAP4.error) as exc:
            c.login("alice@example.com", "alice-secret")    # store1: no record
        assert "[UNAVAILABLE]" in str(exc.value)
        assert "mailhost=store1.example.com" in m.log()
    finally:
        d.stop()


def test_bad_login_record_is_forgotten_after_the_window(make_mmp):
    """mmp.badloginwindow without a failure from an address starts it
    afresh: the next failure waits one second again, not two."""
    m = make_mmp(conf={"mmp.badloginmaxdelay": "pt5s",
                       "mmp.badloginwindow": "pt2s"})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error):
        c.login("alice@example.com", "wrong")          # waits 1 s
    time.sleep(2.5)
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error):
        c.login("alice@example.com", "wrong")
    assert 0.9 <= time.monotonic() - t0 < 1.9
