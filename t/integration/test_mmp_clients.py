"""The mmp with real clients and real TLS: implicit TLS and STARTTLS/STLS
to the clients (imaplib, poplib, curl; the STARTTLS command-injection
case), STARTTLS to the stores with certificate checks, fetchmail and
mbsync through the mmp, a user moving between stores (mailHost), the
login cache counted in slapd's log, /metrics, and the drain on SIGTERM.

Certificates come from t/lib/certs.py: the mmp's names 127.0.0.1 (the
CN, for mbsync, which checks the CN only) and mmp.example.com; the
stores' store1.example.com and store2.example.com (the mmp checks the
mailHost, the name it connects for)."""
import imaplib
import os
import poplib
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import types
import urllib.request

import pytest

from certs import make_certs
from conftest import deliver, mmp_store_conf, with_endpoints
from mbsync import maildir_files, mbsync, mbsync_setup
from slapd import Slapd
from suite import free_port

ALICE, BOB = "alice@example.com", "bob@example.com"
BOB_DN = "uid=bob,ou=People,o=example.com,dc=example,dc=com"


def context(ca):
    return ssl.create_default_context(cafile=ca)


def imap_subjects(c):
    typ, _ = c.select("INBOX")
    assert typ == "OK"
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    return [part[1].decode().strip() for part in data if isinstance(part, tuple)]


def pop_subjects(p):
    count, _ = p.stat()
    subjects = []
    for i in range(1, count + 1):
        _, lines, _ = p.retr(i)
        subjects += [ln.decode() for ln in lines if ln.startswith(b"Subject: ")]
    return subjects


def imap_login_subjects(addr, user, password):
    c = imaplib.IMAP4(*addr)
    c.login(user, password)
    subjects = imap_subjects(c)
    c.logout()
    return subjects


def read_line(sock):
    """One line, byte by byte: nothing after it is taken from the socket
    (it may be the start of a TLS handshake)."""
    line = b""
    while not line.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            break
        line += b
    return line


def nothing_more(sock, wait=0.7):
    """True if the peer sends nothing within wait seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(4096) == b""
    except socket.timeout:
        return True
    finally:
        sock.settimeout(10)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def mmp_certs(tmp_path):
    return make_certs(str(tmp_path / "mmp-certs"), ["127.0.0.1", "mmp.example.com"])


@pytest.fixture
def tls_mmp(make_mmp, mmp_certs):
    """An mmp with TLS to its clients: implicit on m.imaps and m.pops,
    STARTTLS/STLS on m.imap and m.pop; mmp.plaintextmincipher at its
    default (1), so passwords need TLS."""
    return make_mmp(certs=mmp_certs, conf={
        "mmp.imap.tlslisten": f"127.0.0.1:{free_port()}",
        "mmp.pop.tlslisten": f"127.0.0.1:{free_port()}",
        "mmp.plaintextmincipher": None})


@pytest.fixture
def tls_stores(make_store, tmp_path):
    """store1 and store2 with certificates of one CA, refusing passwords
    without TLS (so the mmp can only log in after STARTTLS)."""
    d = str(tmp_path / "store-certs")
    made = []
    for name, host in (("store1", "127.0.0.2"), ("store2", "127.0.0.3")):
        certs = make_certs(d, [f"{name}.example.com", host], stem=name)
        conf = mmp_store_conf(host)
        conf.update({"service.imap.plaintextmincipher": "1",
                     "service.pop.plaintextmincipher": "1",
                     "local.tls.certfile": certs["cert"],
                     "local.tls.keyfile": certs["key"]})
        made.append(with_endpoints(make_store(name=name, host=host, conf=conf)))
    st1, st2 = made
    st1.ca = st2.ca = os.path.join(d, "ca.pem")
    deliver(st1, ALICE, ["alice over tls"])
    deliver(st2, BOB, ["bob over tls"])
    return st1, st2


@pytest.fixture
def own_slapd(tmp_path):
    """A directory of this test alone (its changes leak nowhere), logging
    binds (stats)."""
    server = Slapd(tmp_path / "own-slapd", loglevel="stats")
    server.start()
    yield server
    server.stop()


def binds_as(server, dn):
    return server.log().count(f'BIND dn="{dn}" method=128')


# ------------------------------------------------------- TLS to the clients

def test_imaps_login_reads_her_message(tls_mmp, mmp_certs):
    c = imaplib.IMAP4_SSL(*tls_mmp.imaps, ssl_context=context(mmp_certs["ca"]))
    assert "AUTH=PLAIN" in c.capabilities and "STARTTLS" not in c.capabilities
    assert "LOGINDISABLED" not in c.capabilities
    c.login(ALICE, "alice-secret")
    assert imap_subjects(c) == ["Subject: for alice on store1"]
    c.logout()


def test_imap_starttls_then_login(tls_mmp, mmp_certs):
    c = imaplib.IMAP4(*tls_mmp.imap)
    assert "STARTTLS" in c.capabilities and "LOGINDISABLED" in c.capabilities
    assert "AUTH=PLAIN" not in c.capabilities
    typ, data = c._simple_command("LOGIN", ALICE, "alice-secret")
    assert typ == "NO" and b"[PRIVACYREQUIRED]" in data[0]
    c.starttls(ssl_context=context(mmp_certs["ca"]))
    assert "AUTH=PLAIN" in c.capabilities and "STARTTLS" not in c.capabilities
    c.login(ALICE, "alice-secret")
    assert imap_subjects(c) == ["Subject: for alice on store1"]
    c.logout()


def test_pop3_stls_and_pop3s(tls_mmp, mmp_certs):
    ctx = context(mmp_certs["ca"])
    p = poplib.POP3(*tls_mmp.pop)
    assert "STLS" in p.capa()
    with pytest.raises(poplib.error_proto):
        p.user(BOB)                             # no password in plaintext
    p.stls(context=ctx)
    assert "STLS" not in p.capa()
    p.user(BOB)
    p.pass_("bob-secret")
    assert pop_subjects(p) == ["Subject: for bob on store2"]
    p.quit()
    p = poplib.POP3_SSL(*tls_mmp.pops, context=ctx)
    p.user(BOB)
    p.pass_("bob-secret")
    assert pop_subjects(p) == ["Subject: for bob on store2"]
    p.quit()


def test_curl_imaps_and_starttls(tls_mmp, mmp_certs):
    for url, extra in ((f"imaps://127.0.0.1:{tls_mmp.imaps[1]}/INBOX;UID=1", []),
                       (f"imap://127.0.0.1:{tls_mmp.imap[1]}/INBOX;UID=1",
                        ["--ssl-reqd"])):
        out = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert",
                              mmp_certs["ca"], "-u", f"{ALICE}:alice-secret"]
                             + extra + [url], capture_output=True, text=True)
        assert out.returncode == 0, url + ": " + out.stderr
        assert "Subject: for alice on store1" in out.stdout


def test_imap_starttls_discards_pipelined_plaintext(tls_mmp, mmp_certs):
    """CVE-2011-0411: what follows STARTTLS in the same write was sent in
    plaintext and must not be run, neither before nor after the switch."""
    s = socket.create_connection(tls_mmp.imap, timeout=10)
    assert read_line(s).startswith(b"* OK")
    s.sendall(b"a STARTTLS\r\nb CAPABILITY\r\n")
    assert read_line(s).startswith(b"a OK")
    assert nothing_more(s)                      # no plaintext answer to b
    tls = context(mmp_certs["ca"]).wrap_socket(s, server_hostname="mmp.example.com")
    tls.sendall(b"c NOOP\r\n")
    assert read_line(tls).startswith(b"c OK")   # b was never run
    tls.sendall(b"d LOGOUT\r\n")
    assert read_line(tls).startswith(b"* BYE")
    tls.close()
    assert wait_for(lambda: "discarded=" in tls_mmp.log())


def test_pop3_stls_discards_pipelined_plaintext(tls_mmp, mmp_certs):
    s = socket.create_connection(tls_mmp.pop, timeout=10)
    assert read_line(s).startswith(b"+OK")
    s.sendall(b"STLS\r\nCAPA\r\n")
    assert read_line(s).startswith(b"+OK")
    assert nothing_more(s)
    tls = context(mmp_certs["ca"]).wrap_socket(s, server_hostname="mmp.example.com")
    # An unknown command: "-ERR" first, unless the CAPA was kept.
    tls.sendall(b"XYZZY\r\n")
    assert read_line(tls).startswith(b"-ERR")
    tls.sendall(b"QUIT\r\n")
    assert read_line(tls).startswith(b"+OK")
    tls.close()
    assert wait_for(lambda: "discarded=" in tls_mmp.log())


# -------------------------------------------------------- TLS to the stores

def test_starttls_to_the_stores(make_mmp, tls_stores):
    st1, st2 = tls_stores
    m = make_mmp(backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"mmp.backend.starttls": "yes",
                       "mmp.backend.cafile": st1.ca})
    assert imap_login_subjects(m.imap, ALICE, "alice-secret") == \
        ["Subject: alice over tls"]
    p = poplib.POP3(*m.pop)
    p.user(BOB)
    p.pass_("bob-secret")
    assert pop_subjects(p) == ["Subject: bob over tls"]
    p.quit()
    assert "login=mmp@example.com(for alice@example.com)" in st1.log()


def test_stores_requiring_tls_refuse_a_plain_mmp(make_mmp, tls_stores):
    """Without mmp.backend.starttls the stores refuse the proxy login: a
    configuration error, temporary for the client and named in the log,
    never the store's "use STARTTLS" passed on to a client that may well
    be on TLS already."""
    st1, st2 = tls_stores
    m = make_mmp(backends={"store1.example.com": st1, "store2.example.com": st2})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login(ALICE, "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    c.logout()
    assert "mmp.backend.starttls" in m.log()


def test_store_certificate_from_another_ca_is_refused(make_mmp, tls_stores, tmp_path):
    st1, st2 = tls_stores
    other = make_certs(str(tmp_path / "other-ca"), ["store1.example.com"])
    m = make_mmp(backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"mmp.backend.starttls": "yes",
                       "mmp.backend.cafile": other["ca"]})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login(ALICE, "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    c.logout()
    p = poplib.POP3(*m.pop)
    p.user(BOB)
    with pytest.raises(poplib.error_proto) as exc:
        p.pass_("bob-secret")
    assert b"[SYS/TEMP]" in exc.value.args[0]
    p.quit()
    assert wait_for(lambda: "certificate verify failed" in m.log()), m.log()[-3000:]
    assert "for alice@example.com" not in st1.log()


def test_store_certificate_for_another_name_is_refused(make_mmp, tls_stores):
    """The mmp checks the store's certificate against the mailHost: here
    store1.example.com is (wrongly) mapped to store2, whose certificate
    names store2.example.com."""
    st1, st2 = tls_stores
    m = make_mmp(backends={"store1.example.com": st2, "store2.example.com": st1},
                 conf={"mmp.backend.starttls": "yes",
                       "mmp.backend.cafile": st1.ca})
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login(ALICE, "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    c.logout()
    assert wait_for(lambda: "hostname mismatch" in m.log()), m.log()[-3000:]


def test_store_stalling_in_the_tls_handshake_times_out(make_mmp, tmp_path):
    """A store that says yes to STARTTLS and then never shakes hands: the
    login ends at mmp.backend.timeout, not never."""
    ca = make_certs(str(tmp_path / "ca"), ["store1.example.com"])["ca"]
    lsock = socket.create_server(("127.0.0.2", 0))
    lsock.settimeout(15)
    stalled = types.SimpleNamespace(imap=lsock.getsockname())

    def serve():
        conn, _ = lsock.accept()
        with conn:
            conn.sendall(b"* OK stalling store\r\n")
            assert read_line(conn).startswith(b"M0 STARTTLS")
            conn.sendall(b"M0 OK go ahead\r\n")
            conn.settimeout(15)
            while conn.recv(4096):              # the ClientHello, unanswered
                pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    m = make_mmp(backends={"store1.example.com": stalled},
                 conf={"mmp.backend.starttls": "yes", "mmp.backend.cafile": ca,
                       "mmp.backend.timeout": "pt2s"})
    c = imaplib.IMAP4(*m.imap, timeout=10)
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error) as exc:
        c.login(ALICE, "alice-secret")
    assert "[UNAVAILABLE]" in str(exc.value)
    assert time.monotonic() - t0 < 5
    c.logout()
    assert "store: timed out" in m.log()
    thread.join(15)
    lsock.close()


# ------------------------------------------------- real clients, the mmp

def fetchmail(tmp_path, name, proto, port, ca):
    """Run fetchmail (STARTTLS/STLS, certificate checked) for bob; the
    messages it fetched (an mbox) and its output."""
    home = tmp_path / f"fm-{name}"
    home.mkdir()
    out = tmp_path / f"fetched-{name}.mbox"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.1 service {port} protocol {proto} uidl\n"
        f"  user \"{BOB}\" password \"bob-secret\"\n"
        f"  sslcertck sslcertfile \"{ca}\" sslcommonname \"mmp.example.com\"\n"
        f"  nokeep fetchall mda \"cat >> {out}\"\n")
    rc.chmod(0o600)
    env = dict(os.environ, FETCHMAILHOME=str(home), HOME=str(home))
    proc = subprocess.run(["fetchmail", "-f", str(rc), "-v", "--nodetach"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_bytes(), proc.stdout + proc.stderr


def test_fetchmail_pop3_and_imap_through_the_mmp(tls_mmp, mmp_certs, stores, tmp_path):
    st2 = stores[1]
    data, log = fetchmail(tmp_path, "pop", "pop3", tls_mmp.pop[1], mmp_certs["ca"])
    assert "STLS" in log
    assert b"Subject: for bob on store2" in data
    assert st2.inbox_files(BOB) == []               # nokeep: deleted
    deliver(st2, BOB, ["fm over imap one", "fm over imap two"])
    data, log = fetchmail(tmp_path, "imap", "imap", tls_mmp.imap[1], mmp_certs["ca"])
    assert "STARTTLS" in log
    assert b"Subject: fm over imap one" in data and b"Subject: fm over imap two" in data
    assert b"for bob on store2" not in data
    assert st2.inbox_files(BOB) == []


def test_mbsync_round_trip_through_the_mmp(tls_mmp, mmp_certs, stores, tmp_path):
    st1 = stores[0]
    sync = mbsync_setup(tmp_path, "127.0.0.1", tls_mmp.imap[1], ALICE,
                        "alice-secret", mmp_certs["ca"])

    deliver(st1, ALICE, ["one", "two"])
    mbsync(sync)
    assert len(maildir_files(sync, "INBOX")) == 3
    assert os.path.isdir(os.path.join(sync.maildir, "Sent"))
    # Local changes: one seen and flagged, a draft to upload (APPENDUID).
    box = os.path.join(sync.maildir, "INBOX")
    sub = "cur" if os.listdir(os.path.join(box, "cur")) else "new"
    first = sorted(os.listdir(os.path.join(box, sub)))[0]
    os.rename(os.path.join(box, sub, first),
              os.path.join(box, "cur", first.split(":2,")[0] + ":2,FS"))
    drafts_new = os.path.join(sync.maildir, "Drafts", "new")
    os.makedirs(drafts_new, exist_ok=True)
    with open(os.path.join(drafts_new, "1.local.draft"), "wb") as f:
        f.write(b"Subject: local draft\r\nFrom: alice@example.com\r\n\r\ndraft\r\n")
    out = mbsync(sync, "-D")
    assert "APPENDUID" in out.stdout + out.stderr      # UIDPLUS, relayed
    # Through the mmp: the flags and the draft arrived.
    m = imaplib.IMAP4(*tls_mmp.imap)
    m.starttls(ssl_context=context(mmp_certs["ca"]))
    m.login(ALICE, "alice-secret")
    m.select("INBOX")
    flags = m.fetch("1:*", "(FLAGS)")[1]
    assert sum(1 for f in flags if b"\\Seen" in f and b"\\Flagged" in f) == 1
    assert m.select("Drafts")[1] == [b"1"]
    # Remote changes: delete one, answer another, copy one (COPYUID).
    m.select("INBOX")
    typ, data = m.copy("1", "Drafts")
    assert typ == "OK" and b"[COPYUID " in data[0]
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.store("1", "+FLAGS", "(\\Answered)")
    m.logout()
    deliver(st1, ALICE, ["three"])
    mbsync(sync)
    files = maildir_files(sync, "INBOX")
    assert len(files) == 3
    assert any("R" in f.split(":2,")[1] for f in files if ":2," in f)
    assert len(maildir_files(sync, "Drafts")) == 2


# ---------------------------------------------- a user moves between stores

@pytest.fixture
def own_stores(make_store, own_slapd):
    """store1 and store2 on the private directory, caching nothing (the
    move must be seen at once by store1's LMTP and login)."""
    made = []
    for name, host in (("store1", "127.0.0.2"), ("store2", "127.0.0.3")):
        conf = mmp_store_conf(host)
        conf.update({"local.ldap.cache.ttl": "0", "local.ldap.cache.negativettl": "0"})
        made.append(with_endpoints(make_store(name=name, host=host, conf=conf,
                                              slapd=own_slapd)))
    return made


def test_mailhost_move(make_mmp, own_slapd, own_stores):
    st1, st2 = own_stores
    m = make_mmp(slapd=own_slapd,
                 backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"local.ldap.cache.ttl": "0"})
    deliver(st2, BOB, ["bob's old mailbox on store2"])
    assert imap_login_subjects(m.imap, BOB, "bob-secret") == \
        ["Subject: bob's old mailbox on store2"]
    own_slapd.ldapmodify(f"dn: {BOB_DN}\nchangetype: modify\n"
                         "replace: mailHost\nmailHost: store1.example.com\n")
    # The mailbox copied to store1 (store1 takes bob's mail only now).
    deliver(st1, BOB, ["bob's mailbox moved to store1"])
    assert imap_login_subjects(m.imap, BOB, "bob-secret") == \
        ["Subject: bob's mailbox moved to store1"]
    p = poplib.POP3(*m.pop)
    p.user(BOB)
    p.pass_("bob-secret")
    assert pop_subjects(p) == ["Subject: bob's mailbox moved to store1"]
    p.quit()
    assert "mailhost=store1.example.com result=ok" in m.log()


def test_mailhost_move_with_the_login_cache(make_mmp, own_slapd, own_stores):
    """The login cache remembers bob on store2; once he has moved, store2
    says "not here, try later": the mmp asks the directory again at once
    instead of keeping him out until the entry ages (mmp.authcachettl)."""
    st1, st2 = own_stores
    m = make_mmp(slapd=own_slapd,
                 backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"local.ldap.cache.ttl": "0", "mmp.authcachettl": "pt1h"})
    deliver(st2, BOB, ["bob's old mailbox on store2"])
    assert imap_login_subjects(m.imap, BOB, "bob-secret") == \
        ["Subject: bob's old mailbox on store2"]
    own_slapd.ldapmodify(f"dn: {BOB_DN}\nchangetype: modify\n"
                         "replace: mailHost\nmailHost: store1.example.com\n")
    deliver(st1, BOB, ["bob's mailbox moved to store1"])
    binds = binds_as(own_slapd, BOB_DN)
    for _ in range(2):      # the second time, from the renewed cache entry
        assert imap_login_subjects(m.imap, BOB, "bob-secret") == \
            ["Subject: bob's mailbox moved to store1"]
    assert bind_count_settles(own_slapd, BOB_DN, binds + 1) == binds + 1
    assert "from the login cache failed: asking the directory" in m.log()


# ------------------------------------------------------------ login cache

def pop_login(m, password="bob-secret"):
    p = poplib.POP3(*m.pop)
    p.user(BOB)
    try:
        p.pass_(password)
        return True
    except poplib.error_proto:
        return False
    finally:
        p.quit()


def bind_count_settles(server, dn, expected):
    """slapd writes its log as it goes: wait a moment for the count."""
    wait_for(lambda: binds_as(server, dn) >= expected, timeout=2)
    time.sleep(0.2)
    return binds_as(server, dn)


def test_login_cache_saves_binds(make_mmp, own_slapd, own_stores):
    st1, st2 = own_stores
    deliver(st2, BOB, ["cached"])
    m = make_mmp(slapd=own_slapd,
                 backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"mmp.authcachettl": "pt1m"})
    before = binds_as(own_slapd, BOB_DN)
    assert pop_login(m)
    assert bind_count_settles(own_slapd, BOB_DN, before + 1) == before + 1
    assert pop_login(m)
    assert imap_login_subjects(m.imap, BOB, "bob-secret") == ["Subject: cached"]
    assert bind_count_settles(own_slapd, BOB_DN, before + 2) == before + 1
    # A wrong password is refused although bob is cached, and drops him:
    # the directory decides the next login again.
    assert not pop_login(m, "wrong")
    assert bind_count_settles(own_slapd, BOB_DN, before + 2) == before + 2
    assert pop_login(m)
    assert bind_count_settles(own_slapd, BOB_DN, before + 3) == before + 3
    assert pop_login(m)
    assert bind_count_settles(own_slapd, BOB_DN, before + 4) == before + 3


def test_no_login_cache_binds_every_time(make_mmp, own_slapd, own_stores):
    st1, st2 = own_stores
    m = make_mmp(slapd=own_slapd,
                 backends={"store1.example.com": st1, "store2.example.com": st2},
                 conf={"mmp.authcachettl": "0"})
    before = binds_as(own_slapd, BOB_DN)
    for i in range(3):
        assert pop_login(m)
        assert bind_count_settles(own_slapd, BOB_DN, before + i + 1) == before + i + 1


# --------------------------------------------------------------- /metrics

def metrics(m):
    host, port = m.admin
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_metrics_count_sessions_and_logins(make_mmp):
    m = make_mmp(conf={"mmp.admin.listen": f"127.0.0.1:{free_port()}"})
    accepted = metrics(m)["mmp_accepted_total"]     # start()'s probe
    out = subprocess.run(["curl", "-sS", "--max-time", "5",
                          f"http://{m.admin[0]}:{m.admin[1]}/metrics"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r'^mmp_logins_total\{result="ok"\} 0$', out.stdout, re.M)
    assert re.search(r"^mmp_sessions 0$", out.stdout, re.M)
    held = imaplib.IMAP4(*m.imap)
    held.login(ALICE, "alice-secret")
    assert imap_login_subjects(m.imap, BOB, "bob-secret") == \
        ["Subject: for bob on store2"]
    assert pop_login(m)
    c = imaplib.IMAP4(*m.imap)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(ALICE, "wrong")
    c.logout()
    # The closed sessions are gone once the mmp saw them close.
    assert wait_for(lambda: metrics(m)["mmp_sessions"] == 1), metrics(m)
    v = metrics(m)
    assert v['mmp_logins_total{result="ok"}'] == 3
    assert v['mmp_logins_total{result="failed"}'] == 1
    assert v["mmp_sessions_relaying"] == 1
    assert v["mmp_accepted_total"] == accepted + 4
    held.logout()
    assert wait_for(lambda: metrics(m)["mmp_sessions"] == 0), metrics(m)


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_drains_relayed_sessions_then_stops(make_mmp):
    m = make_mmp()
    relayed = imaplib.IMAP4(*m.imap)
    relayed.login(ALICE, "alice-secret")
    relayed.select("INBOX")
    waiting = socket.create_connection(m.imap, timeout=10)
    assert read_line(waiting).startswith(b"* OK")
    proc = m.daemon.proc
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    # A session not logged in is told at once.
    assert read_line(waiting) == b"* BYE Server shutting down\r\n"
    assert read_line(waiting) == b""
    # The relayed one goes on for a while (its commands reach the store)...
    assert relayed.noop()[0] == "OK"
    # ...and is closed at the drain limit, when the mmp exits.
    proc.wait(timeout=15)
    elapsed = time.monotonic() - t0
    assert 8.5 <= elapsed <= 12, elapsed
    relayed.sock.settimeout(5)
    assert relayed.sock.recv(4096) == b""
    assert proc.returncode == 0
    assert "mmp stopped" in m.log()


def test_sigterm_stops_at_once_when_sessions_end(make_mmp):
    m = make_mmp()
    relayed = imaplib.IMAP4(*m.imap)
    relayed.login(ALICE, "alice-secret")
    proc = m.daemon.proc
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    relayed.logout()
    proc.wait(timeout=15)
    assert time.monotonic() - t0 < 3


MMP_DN = "uid=mmp,ou=People,o=example.com,dc=example,dc=com"


def test_store_remembers_the_proxy_administrator(make_mmp, own_slapd, own_stores):
    """The store binds the mmp's administrator once per
    store.admincachettl (default pt5m), not at every proxy login; with 0
    it binds every time."""
    st1, st2 = own_stores
    m = make_mmp(slapd=own_slapd,
                 backends={"store1.example.com": st1, "store2.example.com": st2})
    before = binds_as(own_slapd, MMP_DN)
    for _ in range(3):
        assert pop_login(m)
    assert bind_count_settles(own_slapd, MMP_DN, before + 3) == before + 1
    st2.keys["store.admincachettl"] = "0"
    st2.write_conf()
    st2.restart()
    before = binds_as(own_slapd, MMP_DN)
    for _ in range(2):
        assert pop_login(m)
    assert bind_count_settles(own_slapd, MMP_DN, before + 2) == before + 2
