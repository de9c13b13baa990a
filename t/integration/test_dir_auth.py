"""Logins through common/dir (dir_authenticate, dir_fetch_secret) against a
real slapd, through t/tools/dirprobe.

dirprobe -a LOGIN:PASSWORD checks a password, -k LOGIN fetches the clear
secret; each answer is a line "login=L status=S reason=R [mail=M]
[secret=S] dn=DN", and the run ends with the counters
"requests=..." and "auths=... binds=...".  With -s the same comes from
stdin ("!auth LOGIN:PASSWORD", "!secret LOGIN", an address to look up,
"!authstats").

The read-only cases use the session's shared slapd; the ones that stop,
kill or change the directory, or read its log, start their own Slapd.
Timing is never asserted tightly.
"""
import os
import socket
import subprocess
import time

import pytest

from slapd import ADMIN, MAILSRV, SUFFIX, Slapd
from lineio import ProcessLines
from suite import BUILD, free_port

DIRPROBE = os.path.join(BUILD, "t", "tools", "dirprobe")
ALICE_DN = f"uid=alice,ou=People,o=example.com,{SUFFIX}"
BOB_DN = f"uid=bob,ou=People,o=example.com,{SUFFIX}"
CAROL_DN = f"uid=carol,ou=People,o=example.org,{SUFFIX}"
SECRET = "{}:{}".format(*ADMIN)          # rootdn: the one that reads passwords


@pytest.fixture(scope="module", autouse=True)
def dirprobe_built():
    if not os.access(DIRPROBE, os.X_OK):
        pytest.fail(f"{DIRPROBE} is missing: run make first")


def parse_line(line):
    """'k=v k=v ... dn=DN' -> dict; dn is last and may hold spaces."""
    head, sep, dn = line.partition(" dn=")
    answer = dict(kv.split("=", 1) for kv in head.split(" "))
    if sep:
        answer["dn"] = dn
    return answer


def parse(out):
    answers, stats, auth = [], None, None
    for line in out.splitlines():
        if line.startswith(("login=", "address=")):
            answers.append(parse_line(line))
        elif line.startswith("requests="):
            stats = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
        elif line.startswith("auths="):
            auth = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
    return answers, stats, auth


def dead_uri():
    return f"ldap://127.0.0.1:{free_port()}"


def probe_argv(uris, auths=(), secrets=(), timeout_ms=3000, repeat=1,
               parallel=False, cache_max=None, domain=None, login_filter=None,
               secret=None, conns=None, queue_max=None, stdin=False,
               bind=MAILSRV):
    argv = [DIRPROBE, "-t", str(timeout_ms), "-n", str(repeat)]
    for login, password in auths:
        argv += ["-a", f"{login}:{password}"]
    for login in secrets:
        argv += ["-k", login]
    for flag, value in (("-c", cache_max), ("-d", domain),
                        ("-f", login_filter), ("-S", secret),
                        ("-P", conns), ("-Q", queue_max)):
        if value is not None:
            argv += [flag, str(value)]
    if parallel:
        argv.append("-p")
    if stdin:
        argv.append("-s")
    return argv + [",".join(uris), SUFFIX, bind[0], bind[1]]


def probe(uris, auths=(), secrets=(), addresses=(), limit=60, **kw):
    """Run dirprobe to the end: (answers, stats, auth stats, stderr, secs)."""
    start = time.monotonic()
    r = subprocess.run(probe_argv(uris, auths, secrets, **kw) + list(addresses),
                       capture_output=True, text=True, timeout=limit)
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    answers, stats, auth = parse(r.stdout)
    assert stats is not None and auth is not None, r.stdout + r.stderr
    return answers, stats, auth, r.stderr, took


def auth_one(slapd, login, password, **kw):
    answers, _, auth, err, _ = probe([slapd.uri], [(login, password)], **kw)
    assert len(answers) == 1, answers
    return answers[0], auth, err


class ProbeSession(ProcessLines):
    """dirprobe -s: one piece of work per line written, one answer back."""

    def __init__(self, uris, **kw):
        super().__init__(probe_argv(uris, stdin=True, **kw))

    def auth(self, login, password, timeout=30):
        self.send(f"!auth {login}:{password}")
        return parse_line(self.line(timeout))

    def secret(self, login, timeout=30):
        self.send(f"!secret {login}")
        return parse_line(self.line(timeout))

    def lookup(self, address, timeout=30):
        self.send(address)
        return parse_line(self.line(timeout))

    def answers(self, n, timeout=30):
        return [parse_line(self.line(timeout)) for _ in range(n)]

    def auth_stats(self):
        self.send("!authstats")
        return parse(self.line())[2]


@pytest.fixture
def own_slapd(tmp_path):
    """A slapd of this test alone, logging binds (stats)."""
    server = Slapd(tmp_path / "slapd", loglevel="stats")
    server.start()
    yield server
    server.stop()


def binds_as(server, dn):
    """How many binds as dn slapd's log shows."""
    return server.log().count(f'BIND dn="{dn}" method=128')


# ------------------------------------------------------------ good logins

@pytest.mark.parametrize("login,domain,dn", [
    ("alice", None, ALICE_DN),                     # uid, unqualified
    ("alice@example.com", None, ALICE_DN),         # mail
    ("ALICE@Example.COM", None, ALICE_DN),         # matching ignores case
    ("alice.smith@example.com", None, ALICE_DN),   # mailAlternateAddress
    ("alice@example.net", None, ALICE_DN),         # mailEquivalentAddress
    ("alice", "example.com", ALICE_DN),            # default domain: mail
    ("alice.smith", "example.com", ALICE_DN),      # default domain: alternate
    ("carol", "example.org", CAROL_DN),
    ("carol@example.org", "example.com", CAROL_DN),  # qualified: kept
])
def test_good_password(slapd, login, domain, dn):
    password = dn.split(",")[0][4:] + "-secret"
    answer, auth, err = auth_one(slapd, login, password, domain=domain)
    assert (answer["status"], answer["reason"], answer["dn"]) == \
        ("ok", "none", dn), err
    assert answer["mail"] == {ALICE_DN: "alice@example.com",
                              CAROL_DN: "carol@example.org"}[dn]
    assert auth["binds"] == 1 and auth["ok"] == 1


def test_seed_style_filter(slapd):
    """The seed's (|(uid=%U)(mail=%s)): the local part alone finds alice."""
    f = "(|(uid=%U)(mail=%s))"
    answers, _, auth, err, _ = probe(
        [slapd.uri], [("alice@whatever.example", "alice-secret"),
                      ("bob", "bob-secret"),
                      ("alice.smith@example.com", "alice-secret")],
        login_filter=f)
    got = {a["login"]: (a["status"], a.get("dn")) for a in answers}
    assert got == {"alice@whatever.example": ("ok", ALICE_DN),
                   "bob": ("ok", BOB_DN),
                   "alice.smith@example.com": ("failed", None)}, err


def test_domain_filter(slapd):
    """%D: uid in the domain's subtree only (an operator-made filter)."""
    f = "(&(uid=%U)(mail=*@%D))"
    answers, _, _, err, _ = probe(
        [slapd.uri], [("alice@example.com", "alice-secret"),
                      ("alice@example.org", "alice-secret"),
                      ("carol", "carol-secret")],
        login_filter=f, domain="example.org")
    got = {a["login"]: (a["status"], a["reason"]) for a in answers}
    assert got == {"alice@example.com": ("ok", "none"),
                   "alice@example.org": ("failed", "nouser"),
                   "carol": ("ok", "none")}, err


# ------------------------------------------------------------- bad logins

def test_wrong_password_and_unknown_user_look_alike(slapd):
    answers, stats, auth, err, _ = probe(
        [slapd.uri], [("alice@example.com", "wrong"),
                      ("nobody@example.com", "wrong"),
                      ("alice@example.com", "alice-secret-"),
                      ("alice@example.com", "ALICE-SECRET")])
    got = [(a["login"], a["status"], a["reason"]) for a in answers]
    assert sorted(got) == sorted([
        ("alice@example.com", "failed", "badpass"),
        ("nobody@example.com", "failed", "nouser"),
        ("alice@example.com", "failed", "badpass"),
        ("alice@example.com", "failed", "badpass")])
    assert all("dn" not in a and "mail" not in a for a in answers)
    # nobody was never bound as: the lookup said there is no such user.
    assert auth["binds"] == 3 and auth["failed"] == 4
    assert stats["errors"] == 0 and auth["unavailable"] == 0, err


def test_empty_password_is_refused_without_a_bind(own_slapd):
    answers, _, auth, _, _ = probe(
        [own_slapd.uri], [("alice@example.com", ""), ("bob", "")])
    assert [(a["status"], a["reason"]) for a in answers] == \
        [("failed", "empty")] * 2
    assert auth["binds"] == 0 and auth["failed"] == 2
    assert binds_as(own_slapd, ALICE_DN) == 0
    assert binds_as(own_slapd, BOB_DN) == 0
    # The same probe with the password does bind (the log check works).
    answer, auth, _ = auth_one(own_slapd, "alice@example.com", "alice-secret")
    assert answer["status"] == "ok"
    assert binds_as(own_slapd, ALICE_DN) == 1


def test_too_long_is_refused_without_asking(slapd):
    answers, _, auth, _, _ = probe(
        [slapd.uri], [("a" * 513 + "@example.com", "x"),
                      ("alice@example.com", "p" * 1025)])
    assert [(a["status"], a["reason"]) for a in answers] == \
        [("failed", "toolong")] * 2
    assert auth["binds"] == 0


@pytest.mark.parametrize("login", [
    "*",
    "*@example.com",
    "alice*",
    "a*e",
    "*)(uid=*",
    "alice)(|(uid=*",
    "alice@example.com)(mail=*",
    "x*)(uid=*))(|(uid=*",
    "alice@example.com\\",
    "\\2a",
    "alice\nuid=bob",
    "alice\x01",
])
@pytest.mark.parametrize("login_filter", [None, "(|(uid=%U)(mail=%s))"])
def test_filter_metacharacters_are_escaped(slapd, login, login_filter):
    answer, auth, err = auth_one(slapd, login, "alice-secret",
                                 login_filter=login_filter)
    if login_filter is not None and login.rpartition("@")[0] == "alice":
        # %U is "alice" by design: the domain part is ignored, whatever
        # it holds; it still only goes in as a value.
        assert (answer["status"], answer["dn"]) == ("ok", ALICE_DN), err
        return
    # Never a match (a wildcard would give "ambiguous" or, worse, "ok").
    assert (answer["status"], answer["reason"]) == ("failed", "nouser"), err
    assert auth["binds"] == 0
    assert "dir_search_invalid" not in err and "dir_search_failed" not in err


def test_ambiguous_login_fails(own_slapd):
    own_slapd.ldapadd(f"""\
dn: uid=alice2,ou=People,o=example.com,{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: alice2
cn: Another Alice
sn: Alice
userPassword: alice-secret
mail: alice2@example.com
mailAlternateAddress: alice@example.com
mailHost: store2.example.com
""")
    answers, _, auth, _, _ = probe([own_slapd.uri],
                                   [("alice@example.com", "alice-secret"),
                                    ("alice2@example.com", "alice-secret")])
    got = {a["login"]: (a["status"], a["reason"]) for a in answers}
    assert got == {"alice@example.com": ("failed", "ambiguous"),
                   "alice2@example.com": ("ok", "none")}
    assert auth["binds"] == 1


def test_groups_cannot_log_in(slapd):
    answer, auth, _ = auth_one(slapd, "staff@example.com", "x")
    assert (answer["status"], answer["reason"]) == ("failed", "nouser")
    assert auth["binds"] == 0


# ----------------------------------------------------- directory problems

def test_directory_down_is_unavailable_quickly():
    answers, stats, auth, err, took = probe(
        [dead_uri(), dead_uri()],
        [("alice@example.com", "alice-secret"), ("bob", "x")],
        secrets=["alice"], secret=SECRET, timeout_ms=2000)
    assert [(a["status"], a["reason"]) for a in answers] == \
        [("unavailable", "directory")] * 3
    assert auth["unavailable"] == 3 and auth["failed"] == 0
    assert "dir_unavailable" in err
    assert took < 30


def test_silent_directory_is_unavailable_within_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = "ldap://127.0.0.1:%d" % silent.getsockname()[1]
        answers, _, auth, _, took = probe(
            [uri], [("alice@example.com", "alice-secret")] * 3,
            timeout_ms=1000)
    assert [a["status"] for a in answers] == ["unavailable"] * 3
    assert auth["unavailable"] == 3
    assert took < 30


def test_failover_for_lookups_and_binds(slapd):
    dead = dead_uri()
    answers, stats, auth, err, _ = probe(
        [dead, slapd.uri], [("alice@example.com", "alice-secret"),
                            ("bob@example.com", "bob-secret")],
        secrets=["carol@example.org"], secret=SECRET, parallel=True)
    assert {a["login"]: a["status"] for a in answers} == {
        "alice@example.com": "ok", "bob@example.com": "ok",
        "carol@example.org": "ok"}, err
    assert f"dir_connected uri={slapd.uri} conn=auth1" in err
    assert f"dir_connected uri={slapd.uri} conn=secret" in err
    assert auth["auth_reconnects"] >= 2        # auth1 and secret failed over


def test_slapd_stopped_and_restarted(own_slapd):
    session = ProbeSession([own_slapd.uri], timeout_ms=2000, cache_max=0)
    try:
        assert session.auth("alice@example.com", "alice-secret")["status"] == "ok"
        own_slapd.stop()
        start = time.monotonic()
        assert session.auth("alice@example.com", "alice-secret")["status"] \
            == "unavailable"
        assert time.monotonic() - start < 30
        own_slapd.restart()
        deadline = time.monotonic() + 20
        while session.auth("bob", "bob-secret")["status"] != "ok":
            assert time.monotonic() < deadline, "never came back"
            time.sleep(0.2)
        assert session.auth("alice@example.com", "nope")["status"] == "failed"
    finally:
        session.close()


def test_slapd_killed_with_binds_in_flight(own_slapd):
    """Every login is answered, right or "unavailable", never wrong."""
    session = ProbeSession([own_slapd.uri], timeout_ms=3000, conns=4)
    try:
        assert session.auth("alice@example.com", "alice-secret")["status"] == "ok"
        session.send(*["!auth alice@example.com:alice-secret",
                       "!auth alice@example.com:wrong"] * 100)
        own_slapd.kill9()
        for a in session.answers(200):
            if a["status"] == "unavailable":
                continue
            assert a["status"] in ("ok", "failed")
        own_slapd.restart()
        deadline = time.monotonic() + 20
        while session.auth("alice@example.com", "alice-secret")["status"] != "ok":
            assert time.monotonic() < deadline, "never came back"
            time.sleep(0.2)
        assert session.auth("alice@example.com", "wrong")["reason"] == "badpass"
    finally:
        session.close()


# ------------------------------------------------------------ concurrency

def test_many_logins_in_flight(slapd):
    """200 logins issued before the first answer comes, on 4 connections."""
    cases = {("alice@example.com", "alice-secret"): ("ok", ALICE_DN),
             ("bob", "bob-secret"): ("ok", BOB_DN),
             ("carol@example.org", "alice-secret"): ("failed", None),
             ("nobody@example.com", "x"): ("failed", None)}
    answers, stats, auth, err, _ = probe(
        [slapd.uri], list(cases), repeat=50, parallel=True, cache_max=0)
    assert len(answers) == 200
    expect = {login: res for (login, _), res in cases.items()}
    for a in answers:
        assert (a["status"], a.get("dn")) == expect[a["login"]], a
    assert auth["ok"] == 100 and auth["failed"] == 100
    assert auth["binds"] == 150 and auth["unavailable"] == 0
    assert stats["errors"] == 0 and stats["reconnects"] == 0, err
    # The whole pool worked, each connection opened once.
    for n in range(1, 5):
        assert err.count(f"dir_connected uri={slapd.uri} conn=auth{n}\n") == 1


def test_many_users_each_get_their_own_verdict(tmp_path):
    """300 users, half with the right password, all at once: every
    verdict goes back to the login it belongs to."""
    server = Slapd(tmp_path / "slapd")
    users = server.add_users(300, "example.com", "store1.example.com")
    server.start()
    try:
        auths = [(login, pw if i % 2 == 0 else pw + "x")
                 for i, (login, pw) in enumerate(users)]
        answers, stats, auth, err, _ = probe(
            [server.uri], auths, parallel=True, conns=6)
    finally:
        server.stop()
    assert len(answers) == 300
    expect = {login: "ok" if i % 2 == 0 else "failed"
              for i, (login, _) in enumerate(users)}
    for a in answers:
        assert a["status"] == expect[a["login"]], a
        if a["status"] == "ok":
            uid = a["login"].split("@")[0]
            assert a["dn"].startswith(f"uid={uid},"), a
    assert auth["binds"] == 300 and auth["unavailable"] == 0, err


def test_queue_bound(slapd):
    answers, _, auth, err, _ = probe(
        [slapd.uri], [("alice@example.com", "alice-secret")], repeat=20,
        parallel=True, queue_max=5)
    statuses = sorted((a["status"], a["reason"]) for a in answers)
    assert statuses == [("ok", "none")] * 5 + [("unavailable", "busy")] * 15
    assert auth["busy"] == 15
    assert "dir_auth_busy" in err


# ------------------------------------------------- caching and identities

def test_verdicts_are_not_cached(slapd):
    session = ProbeSession([slapd.uri])
    try:
        assert session.auth("alice@example.com", "wrong")["status"] == "failed"
        assert session.auth("alice@example.com", "alice-secret")["status"] == "ok"
        assert session.auth("alice@example.com", "wrong")["status"] == "failed"
        assert session.auth("alice@example.com", "alice-secret")["status"] == "ok"
        st = session.auth_stats()
        assert st["binds"] == 4
    finally:
        session.close()


def test_lookup_is_cached_bind_is_not(slapd):
    answers, stats, auth, _, _ = probe(
        [slapd.uri], [("alice@example.com", "alice-secret")], repeat=3)
    assert [a["status"] for a in answers] == ["ok"] * 3
    assert stats["cache_hits"] == 2 and auth["binds"] == 3


def test_binds_do_not_change_the_search_identity(slapd):
    """Under the ACL alice may read only her own entry: if a login's bind
    happened on the search connection, bob would not be found after it."""
    session = ProbeSession([slapd.uri], cache_max=0, conns=1)
    try:
        assert session.lookup("bob@example.com")["dn"] == BOB_DN
        assert session.auth("alice@example.com", "alice-secret")["status"] == "ok"
        assert session.lookup("bob@example.com")["dn"] == BOB_DN
        assert session.lookup("carol@example.org")["dn"] == CAROL_DN
        assert session.auth("alice@example.com", "wrong")["status"] == "failed"
        assert session.lookup("bob@example.com")["dn"] == BOB_DN
        # And the one auth connection binds as one user after another.
        assert session.auth("bob@example.com", "bob-secret")["dn"] == BOB_DN
        assert session.auth("carol@example.org", "carol-secret")["dn"] == CAROL_DN
        assert session.auth("bob@example.com", "carol-secret")["status"] == "failed"
    finally:
        err = session.close()
    assert err.count("conn=auth1") == 1         # one connection throughout


# ----------------------------------------------------------------- secrets

def test_fetch_secret_with_rootdn(slapd):
    answers, _, auth, err, _ = probe(
        [slapd.uri], secrets=["alice@example.com", "bob", "alice.smith",
                              "nobody@example.com"],
        secret=SECRET, domain="example.com")
    got = {a["login"]: (a["status"], a["reason"], a.get("secret"), a.get("dn"))
           for a in answers}
    assert got == {
        "alice@example.com": ("ok", "none", "alice-secret", ALICE_DN),
        "bob": ("ok", "none", "bob-secret", BOB_DN),
        "alice.smith": ("ok", "none", "alice-secret", ALICE_DN),
        "nobody@example.com": ("failed", "nouser", None, None)}, err
    assert auth["binds"] == 0 and auth["secrets"] == 4


def test_fetch_secret_not_configured(slapd):
    answers, stats, auth, _, _ = probe([slapd.uri], secrets=["alice"])
    assert [(a["status"], a["reason"]) for a in answers] == \
        [("unsupported", "notconfigured")]
    assert stats["requests"] == 0           # nothing was asked


def test_fetch_secret_reader_without_access(slapd):
    """cn=mailsrv may not read userPassword: no clear secret to give."""
    answers, _, _, _, _ = probe([slapd.uri], secrets=["alice"],
                                secret="{}:{}".format(*MAILSRV))
    assert [(a["status"], a["reason"]) for a in answers] == \
        [("failed", "notclear")]


def test_fetch_secret_schemes(own_slapd):
    own_slapd.ldapmodify(f"""\
dn: {BOB_DN}
changetype: modify
replace: userPassword
userPassword: {{SSHA}}dGhpcyBpcyBub3QgYSByZWFsIGhhc2g=

dn: {CAROL_DN}
changetype: modify
replace: userPassword
userPassword: {{CLEARTEXT}}carol-clear
""")
    answers, _, _, err, _ = probe([own_slapd.uri],
                                  secrets=["bob@example.com", "carol@example.org"],
                                  secret=SECRET)
    got = {a["login"]: (a["status"], a["reason"], a.get("secret"))
           for a in answers}
    assert got == {"bob@example.com": ("failed", "notclear", None),
                   "carol@example.org": ("ok", "none", "carol-clear")}, err
