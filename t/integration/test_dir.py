"""common/dir against a real slapd, through t/tools/dirprobe.

dirprobe prints one line per answer (address=A status=S [mail=M mailHost=H
dn=DN]) and a counters line; with -s it reads addresses from stdin, which
lets a test stop and restart slapd between lookups of one process.

The read-only cases use the session's shared slapd; the ones that stop,
kill or change the directory start their own Slapd.  Timing is never
asserted tightly: "within the timeout" is checked against a generous bound.
"""
import os
import socket
import subprocess
import time

import pytest

from slapd import MAILSRV, SUFFIX, Slapd
from lineio import ProcessLines
from suite import BUILD, free_port

DIRPROBE = os.path.join(BUILD, "t", "tools", "dirprobe")
ALICE_DN = f"uid=alice,ou=People,o=example.com,{SUFFIX}"
BOB_DN = f"uid=bob,ou=People,o=example.com,{SUFFIX}"
STAFF_DN = f"cn=staff,ou=Groups,o=example.com,{SUFFIX}"


@pytest.fixture(scope="module", autouse=True)
def dirprobe_built():
    if not os.access(DIRPROBE, os.X_OK):
        pytest.fail(f"{DIRPROBE} is missing: run make first")


def parse_answer(line):
    """'address=A status=S mail=M mailHost=H dn=DN' -> dict; dn is last and
    may hold spaces."""
    head, sep, dn = line.partition(" dn=")
    answer = dict(kv.split("=", 1) for kv in head.split(" "))
    if sep:
        answer["dn"] = dn
    return answer


def parse(out):
    answers, stats = [], None
    for line in out.splitlines():
        if line.startswith("address="):
            answers.append(parse_answer(line))
        elif line.startswith("requests="):
            stats = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
    return answers, stats


def dead_uri():
    """A loopback port nobody listens on (connect is refused)."""
    return f"ldap://127.0.0.1:{free_port()}"


def probe_argv(uris, timeout_ms=3000, repeat=1, cache_max=None,
               parallel=False, bind=MAILSRV, base=SUFFIX, stdin=False):
    argv = [DIRPROBE, "-t", str(timeout_ms), "-n", str(repeat)]
    if cache_max is not None:
        argv += ["-c", str(cache_max)]
    if parallel:
        argv.append("-p")
    if stdin:
        argv.append("-s")
    binddn, bindpw = bind if bind else ("-", "")
    return argv + [",".join(uris), base, binddn, bindpw]


def probe(uris, addresses, limit=60, **kw):
    """Run dirprobe to the end: (answers, stats, stderr, seconds)."""
    start = time.monotonic()
    r = subprocess.run(probe_argv(uris, **kw) + list(addresses),
                       capture_output=True, text=True, timeout=limit)
    took = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    answers, stats = parse(r.stdout)
    assert stats is not None, r.stdout + r.stderr
    return answers, stats, r.stderr, took


def by_address(answers):
    return {a["address"]: a for a in answers}


class ProbeSession(ProcessLines):
    """dirprobe -s: one lookup per line written, one answer line back."""

    def __init__(self, uris, **kw):
        super().__init__(probe_argv(uris, stdin=True, **kw))

    def lookup(self, address, timeout=30):
        self.send(address)
        return parse_answer(self.line(timeout))

    def answers(self, n, timeout=30):
        return [parse_answer(self.line(timeout)) for _ in range(n)]

    def stats(self):
        self.send("!stats")
        return parse(self.line())[1]


@pytest.fixture
def own_slapd(tmp_path):
    """A slapd of this test alone, free to stop, kill and change."""
    server = Slapd(tmp_path / "slapd")
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------- lookups

def test_found_by_mail(slapd):
    answers, stats, _, _ = probe([slapd.uri], ["alice@example.com"])
    assert answers == [{"address": "alice@example.com", "status": "ok",
                        "mail": "alice@example.com",
                        "mailHost": "store1.example.com", "dn": ALICE_DN}]
    assert stats == {"requests": 1, "cache_hits": 0, "errors": 0,
                     "reconnects": 0}


@pytest.mark.parametrize("address", [
    "alice.smith@example.com",      # mailAlternateAddress
    "alice@example.net",            # mailEquivalentAddress
    "ALICE@EXAMPLE.COM",
    "Alice.Smith@Example.Com",
])
def test_found_by_other_addresses_and_case(slapd, address):
    answers, _, _, _ = probe([slapd.uri], [address])
    assert [(a["status"], a["dn"], a["mail"]) for a in answers] == \
        [("ok", ALICE_DN, "alice@example.com")]


def test_group_is_found(slapd):
    answers, _, _, _ = probe([slapd.uri], ["staff@example.com"])
    assert [(a["status"], a["dn"]) for a in answers] == [("ok", STAFF_DN)]


@pytest.mark.parametrize("address", [
    "nobody@example.com", "alice@example.org", "alice", "alice@",
])
def test_not_found(slapd, address):
    answers, stats, _, _ = probe([slapd.uri], [address])
    assert [a["status"] for a in answers] == ["notfound"]
    assert stats["errors"] == 0


@pytest.mark.parametrize("address", [
    "*",                                    # unescaped: every entry
    "*)(mail=*",
    "alice@example.com)(mail=*",
    "*)(|(objectClass=*",
    "x*)(uid=*))(|(uid=*",
    "alice@example.com\\",
    "\\2a",
    "alice@exam\nple.com",
    "a" * 600,                              # longer than any address
])
def test_hostile_address_is_escaped(slapd, address):
    answers, stats, err, _ = probe([slapd.uri], [address])
    assert [a["status"] for a in answers] == ["notfound"], err
    assert stats["errors"] == 0
    assert "dir_search_invalid" not in err and "dir_search_failed" not in err


def test_every_sample_user(slapd):
    users = {"alice@example.com": "store1.example.com",
             "bob@example.com": "store2.example.com",
             "erin@example.com": "store1.example.com",
             "heidi@example.com": "store2.example.com",
             "carol@example.org": "store1.example.com",
             "dave@example.org": "store2.example.com"}
    answers, stats, _, _ = probe([slapd.uri], list(users))
    got = {a["address"]: (a["status"], a["mailHost"]) for a in answers}
    assert got == {u: ("ok", h) for u, h in users.items()}
    assert stats["requests"] == len(users)


# ------------------------------------------------------------------ cache

def test_cache_hits_on_repeat(slapd):
    addresses = ["alice@example.com", "bob@example.com", "nobody@example.com"]
    answers, stats, _, _ = probe([slapd.uri], addresses, repeat=3)
    assert len(answers) == 9
    for a in answers:
        assert a["status"] == ("notfound" if a["address"].startswith("nobody")
                               else "ok")
    # Round one asks slapd; rounds two and three (found and not found) hit.
    assert stats["requests"] == 9 and stats["cache_hits"] == 6
    assert stats["errors"] == 0


def test_cache_key_is_case_insensitive(slapd):
    _, stats, _, _ = probe([slapd.uri], ["alice@example.com"], repeat=1)
    answers, stats, _, _ = probe(
        [slapd.uri], ["ALICE@example.com", "alice@EXAMPLE.com"], repeat=2)
    assert {a["dn"] for a in answers} == {ALICE_DN}
    assert stats["cache_hits"] == 2


def test_cache_disabled(slapd):
    _, stats, _, _ = probe([slapd.uri], ["alice@example.com"], repeat=3,
                           cache_max=0)
    assert stats["requests"] == 3 and stats["cache_hits"] == 0


# ------------------------------------------------------------ concurrency

def test_many_lookups_in_flight(slapd):
    known = {"alice@example.com": ALICE_DN, "bob@example.com": BOB_DN,
             "staff@example.com": STAFF_DN}
    addresses = []
    for i in range(100):
        addresses += list(known) + [f"nobody{i}@example.com"]
    # -p: all 5 x 400 lookups are issued before the first answer comes.
    answers, stats, err, _ = probe([slapd.uri], addresses, repeat=5,
                                   parallel=True, cache_max=0)
    assert len(answers) == 2000
    for a in answers:
        if a["address"] in known:
            assert (a["status"], a["dn"]) == ("ok", known[a["address"]])
        else:
            assert a["status"] == "notfound"
    assert stats["requests"] == 2000 and stats["errors"] == 0
    assert stats["reconnects"] == 0, err


# --------------------------------------------------------------- failover

def test_failover_from_dead_first_server(slapd):
    dead = dead_uri()
    answers, stats, err, _ = probe([dead, slapd.uri],
                                   ["alice@example.com", "bob@example.com"])
    assert {a["address"]: a["status"] for a in answers} == \
        {"alice@example.com": "ok", "bob@example.com": "ok"}
    assert stats["errors"] == 0 and stats["reconnects"] == 1
    assert f"dir_failover uri={dead}" in err
    assert f"dir_connected uri={slapd.uri}" in err


def test_failover_from_silent_first_server(slapd):
    """The first server accepts connections and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = "ldap://127.0.0.1:%d" % silent.getsockname()[1]
        answers, stats, err, took = probe([uri, slapd.uri],
                                          ["alice@example.com"],
                                          timeout_ms=4000)
    assert [a["status"] for a in answers] == ["ok"], err
    assert "err=\"timeout\"" in err
    assert took < 30


def test_all_servers_down_is_unavailable_quickly(slapd):
    addresses = ["alice@example.com", "bob@example.com", "nobody@example.com"]
    answers, stats, err, took = probe([dead_uri(), dead_uri()], addresses,
                                      timeout_ms=2000)
    assert sorted(a["status"] for a in answers) == ["unavailable"] * 3
    assert stats["errors"] == 3 and stats["cache_hits"] == 0
    assert "dir_unavailable" in err
    assert took < 30                # refused: far less than the timeout


def test_silent_server_is_unavailable_within_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = "ldap://127.0.0.1:%d" % silent.getsockname()[1]
        answers, stats, _, took = probe([uri], ["alice@example.com"] * 3,
                                        timeout_ms=1000)
    assert [a["status"] for a in answers] == ["unavailable"] * 3
    assert stats["errors"] == 3
    assert took < 30


def test_unavailable_is_not_cached(own_slapd):
    session = ProbeSession([own_slapd.uri], timeout_ms=2000)
    try:
        assert session.lookup("alice@example.com")["status"] == "ok"
        session.send("!flush")
        own_slapd.stop()
        assert session.lookup("bob@example.com")["status"] == "unavailable"
        own_slapd.restart()
        assert wait_for_status(session, "bob@example.com", "ok")
        stats = session.stats()
        assert stats["cache_hits"] == 0
    finally:
        session.close()


# ------------------------------------------------- server stops and starts

def wait_for_status(session, address, status, limit=20):
    """Look up until the answer has status (the retry hold-down is about a
    second); False when it never comes within limit seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if session.lookup(address)["status"] == status:
            return True
        time.sleep(0.2)
    return False


def test_slapd_stopped_and_restarted(own_slapd):
    session = ProbeSession([own_slapd.uri], timeout_ms=2000, cache_max=0)
    try:
        assert session.lookup("alice@example.com")["dn"] == ALICE_DN
        own_slapd.stop()
        start = time.monotonic()
        assert session.lookup("alice@example.com")["status"] == "unavailable"
        assert session.lookup("bob@example.com")["status"] == "unavailable"
        assert time.monotonic() - start < 30
        own_slapd.restart()
        assert wait_for_status(session, "alice@example.com", "ok")
        assert session.lookup("bob@example.com")["dn"] == BOB_DN
        assert session.stats()["reconnects"] >= 1
    finally:
        err = session.close()
    assert err.count(f"dir_connected uri={own_slapd.uri}") >= 2, err


def test_slapd_killed_with_lookups_in_flight(own_slapd):
    session = ProbeSession([own_slapd.uri], timeout_ms=3000, cache_max=0)
    try:
        assert session.lookup("alice@example.com")["status"] == "ok"
        session.send(*["bob@example.com", "nobody@example.com"] * 200)
        own_slapd.kill9()
        # Every lookup is answered, right or "unavailable", never wrong.
        for a in session.answers(400):
            if a["status"] != "unavailable":
                assert a["status"] == ("ok" if a["address"].startswith("bob")
                                       else "notfound")
        own_slapd.restart()
        assert wait_for_status(session, "bob@example.com", "ok")
        assert session.lookup("nobody@example.com")["status"] == "notfound"
    finally:
        session.close()


def test_failover_when_the_first_server_dies(own_slapd, slapd):
    session = ProbeSession([own_slapd.uri, slapd.uri], timeout_ms=3000,
                           cache_max=0)
    try:
        assert session.lookup("alice@example.com")["status"] == "ok"
        own_slapd.kill9()
        # The second server answers: no request may come back unavailable
        # except those caught mid-flight.
        assert wait_for_status(session, "bob@example.com", "ok", limit=10)
        answers = [session.lookup("carol@example.org") for _ in range(5)]
        assert {a["status"] for a in answers} == {"ok"}
    finally:
        err = session.close()
    assert f"next={slapd.uri}" in err, err


# ------------------------------------------------- directory answers badly

def test_ambiguous_address(own_slapd):
    own_slapd.ldapadd(f"""\
dn: uid=alice2,ou=People,o=example.com,{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: alice2
cn: Another Alice
sn: Alice
mail: alice2@example.com
mailAlternateAddress: alice@example.com
mailHost: store2.example.com
""")
    answers, stats, _, _ = probe([own_slapd.uri],
                                 ["alice@example.com", "alice2@example.com"])
    got = by_address(answers)
    assert got["alice@example.com"]["status"] == "ambiguous"
    assert "dn" not in got["alice@example.com"]
    assert got["alice2@example.com"]["status"] == "ok"
    assert stats["errors"] == 0


def test_wrong_bind_password_is_unavailable_not_notfound(slapd):
    answers, stats, err, _ = probe([slapd.uri], ["alice@example.com"],
                                   bind=(MAILSRV[0], "wrong"))
    assert [a["status"] for a in answers] == ["unavailable"]
    assert "Invalid credentials" in err


def test_missing_base_is_unavailable_not_notfound(slapd):
    answers, _, err, _ = probe([slapd.uri], ["alice@example.com"],
                               base="dc=nowhere,dc=example")
    assert [a["status"] for a in answers] == ["unavailable"]
    assert "dir_search_failed" in err


@pytest.mark.parametrize("uri", [
    "ldaps://127.0.0.1:636", "ldapi:///run/slapd/ldapi", "http://127.0.0.1/",
])
def test_unsupported_uri_is_refused(uri):
    r = subprocess.run(probe_argv([uri]) + ["alice@example.com"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"uri={uri}" in r.stderr
