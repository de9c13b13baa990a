"""store copy-user: a user's mailboxes copied from one store to another
over IMAP (the first step of a move between stores).

Two stores on a private directory (bob's mailHost changes, as the move
procedure in store(8) does before the copy): bob's mail is made on store2
(deliveries, flags and keywords, a subfolder with a message of a given
INTERNALDATE, subscriptions), copied to store1 as the proxy administrator,
and read back on store1 as bob himself.  Then the failures: a wrong
administrator password, a destination that does not answer, a destination
mailbox that already holds messages (refused unless --append)."""
import imaplib
import re
import ssl

import pytest

from certs import make_certs
from conftest import deliver, mmp_store_conf, with_endpoints, MMP_ADMIN
from slapd import Slapd
from suite import free_port

BOB = "bob@example.com"
BOB_DN = "uid=bob,ou=People,o=example.com,dc=example,dc=com"
OLD_DATE = "01-Feb-2020 10:00:00 +0000"


@pytest.fixture
def own_slapd(tmp_path):
    """A directory of this test alone: bob's mailHost changes in it."""
    server = Slapd(tmp_path / "own-slapd")
    server.start()
    yield server
    server.stop()


def make_pair(make_store, own_slapd, store1_conf=None):
    made = []
    for name, host in (("store1", "127.0.0.2"), ("store2", "127.0.0.3")):
        conf = mmp_store_conf(host)
        conf.update({"local.ldap.cache.ttl": "0",
                     "local.ldap.cache.negativettl": "0"})
        if name == "store1":
            conf.update(store1_conf or {})
        made.append(with_endpoints(make_store(name=name, host=host, conf=conf,
                                              slapd=own_slapd)))
    return made


@pytest.fixture
def pair(make_store, own_slapd):
    """store1 and store2 on the private directory, caching nothing (the
    mailHost change must be seen at once)."""
    return make_pair(make_store, own_slapd)


@pytest.fixture
def tls_pair(make_store, own_slapd, tmp_path):
    """The same, store1 with a certificate for 127.0.0.2 and refusing
    passwords without TLS."""
    certs = make_certs(tmp_path / "certs", ["store1.example.com", "127.0.0.2"])
    st1, st2 = make_pair(make_store, own_slapd, {
        "service.imap.plaintextmincipher": "1",
        "local.tls.certfile": certs["cert"],
        "local.tls.keyfile": certs["key"]})
    st1.ca = certs["ca"]
    return st1, st2


@pytest.fixture
def admin_pw(tmp_path):
    path = tmp_path / "admin.pw"
    path.write_text("mmp-secret\n")
    return path


def login(st):
    c = imaplib.IMAP4(*st.imap)
    c.login(BOB, "bob-secret")
    return c


def hostport(st):
    return "%s:%d" % st.imap


def move_mailhost(slapd, host):
    slapd.ldapmodify(f"dn: {BOB_DN}\nchangetype: modify\n"
                     f"replace: mailHost\nmailHost: {host}\n")


def unquote(name):
    name = name.strip()
    if name.startswith('"'):
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name


def names(c, cmd):
    typ, data = getattr(c, cmd)('""', '"*"')
    assert typ == "OK"
    out = set()
    for line in data:
        m = re.match(r'\((.*?)\) (?:"."|NIL) (.*)$', line.decode())
        out.add(unquote(m.group(2)))
    return out


def messages(c, box):
    """[(subject, flags without \\Recent, internaldate)] in UID order."""
    typ, data = c.select(f'"{box}"', readonly=True)
    assert typ == "OK", data
    if int(data[0]) == 0:
        return []
    typ, data = c.uid("FETCH", "1:*",
                      "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    out = []
    for part in data:
        if not isinstance(part, tuple):
            continue
        head = part[0].decode()
        flags = set(re.search(r"FLAGS \((.*?)\)", head).group(1).split())
        flags.discard("\\Recent")
        date = re.search(r'INTERNALDATE "(.*?)"', head).group(1)
        out.append((part[1].decode().strip(), frozenset(flags), date))
    return out


def snapshot(st):
    """Everything copy-user promises to carry, as bob sees it."""
    c = login(st)
    boxes = names(c, "list")
    state = {"boxes": boxes, "subs": names(c, "lsub"),
             "msgs": {b: messages(c, b) for b in sorted(boxes)}}
    c.logout()
    return state


def make_bobs_mail(st2):
    deliver(st2, BOB, ["first", "second", "third"])
    c = login(st2)
    c.select("INBOX")
    assert c.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    assert c.store("2", "+FLAGS", "(\\Flagged $Work)")[0] == "OK"
    assert c.create("Projects")[0] == "OK"
    assert c.create("Projects/2026")[0] == "OK"
    assert c.subscribe("Projects/2026")[0] == "OK"
    assert c.unsubscribe("Trash")[0] == "OK"
    msg = b"Subject: planned\r\nFrom: bob@example.com\r\n\r\nplans\r\n"
    typ, data = c.append("Projects/2026", "(\\Answered $Plan)",
                         f'"{OLD_DATE}"', msg)
    assert typ == "OK", data
    c.logout()


def test_copy_user_carries_mailboxes_flags_dates_subscriptions(
        pair, own_slapd, admin_pw):
    st1, st2 = pair
    make_bobs_mail(st2)
    before = snapshot(st2)
    assert before["msgs"]["Projects/2026"] == [
        ("Subject: planned", frozenset({"\\Answered", "$Plan"}),
         " 1-Feb-2020 10:00:00 +0000")]     # date-day-fixed
    assert "Trash" not in before["subs"]

    # The move: mailHost first (store1 takes bob only then), then the copy.
    move_mailhost(own_slapd, "store1.example.com")
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "complete" in r.stdout

    after = snapshot(st1)
    assert after == before
    inbox = [s for s, _, _ in after["msgs"]["INBOX"]]
    assert inbox == ["Subject: first", "Subject: second", "Subject: third"]
    assert after["msgs"]["INBOX"][1][1] == frozenset({"\\Flagged", "$Work"})

    # A second run finds INBOX full and copies nothing ...
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "already holds 3 messages" in r.stderr
    assert "nothing was copied" in r.stderr
    assert snapshot(st1) == before
    # ... unless told to add to it.
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw, "--append")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(snapshot(st1)["msgs"]["INBOX"]) == 6


def test_copy_user_wrong_admin_password(pair, own_slapd, tmp_path):
    st1, st2 = pair
    deliver(st2, BOB, ["one"])
    move_mailhost(own_slapd, "store1.example.com")
    bad = tmp_path / "bad.pw"
    bad.write_text("not-the-secret\n")
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, bad)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"login as {MMP_ADMIN} for {BOB} refused" in r.stderr
    assert "nothing was copied" in r.stderr


def test_copy_user_destination_unreachable(pair, admin_pw):
    st1, st2 = pair
    deliver(st2, BOB, ["one"])
    port = free_port("127.0.0.2")
    r = st2.copy_user(BOB, f"127.0.0.2:{port}", MMP_ADMIN, admin_pw)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "connect: Connection refused" in r.stderr


def test_copy_user_unknown_user_and_usage(pair, admin_pw):
    st1, st2 = pair
    r = st2.copy_user("nobody@example.com", hostport(st1), MMP_ADMIN, admin_pw)
    assert r.returncode == 1
    assert "no such user on this store" in r.stderr
    r = st2.copy_user(BOB, "no-port", MMP_ADMIN, admin_pw)
    assert r.returncode == 2
    assert "usage:" in r.stderr


def test_copy_user_over_quota_is_a_partial_copy(pair, own_slapd, admin_pw):
    st1, st2 = pair
    deliver(st2, BOB, ["one", "two", "three", "four"])
    own_slapd.ldapmodify(f"dn: {BOB_DN}\nchangetype: modify\n"
                         "replace: mailMsgQuota\nmailMsgQuota: 2\n")
    move_mailhost(own_slapd, "store1.example.com")
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "[OVERQUOTA]" in r.stderr
    assert "PARTIAL copy" in r.stderr
    assert 'mailbox "INBOX" stopped after 2 of 4 messages' in r.stderr
    c = login(st1)
    assert [s for s, _, _ in messages(c, "INBOX")] == \
        ["Subject: one", "Subject: two"]
    c.logout()


def test_copy_user_starttls(tls_pair, own_slapd, admin_pw, tmp_path):
    st1, st2 = tls_pair
    deliver(st2, BOB, ["over tls"])
    move_mailhost(own_slapd, "store1.example.com")
    # No password in clear: store1 refuses it.
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "refused" in r.stderr
    # A CA that did not sign store1's certificate.
    other = make_certs(tmp_path / "other", ["elsewhere.example.com"])
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw,
                      "--starttls", "--cafile", other["ca"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "TLS handshake" in r.stderr
    r = st2.copy_user(BOB, hostport(st1), MMP_ADMIN, admin_pw,
                      "--starttls", "--cafile", st1.ca)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(TLS)" in r.stdout
    c = imaplib.IMAP4(*st1.imap)
    c.starttls(ssl_context=ssl.create_default_context(cafile=st1.ca))
    c.login(BOB, "bob-secret")
    assert [s for s, _, _ in messages(c, "INBOX")] == ["Subject: over tls"]
    c.logout()
