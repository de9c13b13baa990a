"""Routing in the mta: rewrite rules, the directory, aliases and groups,
the closed-relay access tables, and the operator's test-rewrite and
test-mapping.  The sample configuration (conf/mta/) is used as shipped:
127.0.0.1 is an internal client (INTERNAL_IP), 127.0.0.200 stands for the
Internet."""
import time

import pytest

from smtpclient import Smtp

MSG = b"Subject: routing\r\n\r\nbody\r\n"
INTERNET = "127.0.0.200"


def client(m, source=None):
    c = Smtp(m.smtp, source=source)
    assert c.ehlo()[0] == 250
    return c


def rcpt(m, address, sender="someone@example.net", source=INTERNET):
    c = client(m, source)
    assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
    return c.cmd(f"RCPT TO:<{address}>")


def queued(m, sender, rcpts, source=INTERNET):
    c = client(m, source)
    replies = c.transaction(sender, rcpts, MSG)
    assert replies[-1][0] == 250, replies
    return {e["channel"]: [r["address"] for r in e["env"]["rcpt"]]
            for e in m.entries()}


@pytest.mark.parametrize("address,dest", [
    ("alice@example.com", ("lmtp", "alice@example.com")),
    ("Alice.Smith@Example.COM", ("lmtp", "alice@example.com")),
    ("carol@example.org", ("lmtp", "carol@example.org")),
    ("ivan@example.com", ("lmtp", "ivan@example.com")),
    ("erin@example.com", ("tcp_local", "erin.remote@elsewhere.example")),
    ("postmaster@example.com", ("lmtp", "alice@example.com")),
])
def test_hosted_recipients(mta, address, dest):
    assert queued(mta, "x@example.net", [address]) == {dest[0]: [dest[1]]}


@pytest.mark.parametrize("address,code,status", [
    ("nobody@example.com", 550, "5.1.1"),
    ("grace@example.com", 550, "5.2.1"),     # deleted
    ("frank@example.com", 450, "4.2.1"),     # inactive
])
def test_refused_recipients(mta, address, code, status):
    got, text = rcpt(mta, address)
    assert (got, text[0].split()[0]) == (code, status)


def test_groups_expand_by_member_dn_address_and_url(mta):
    got = queued(mta, "x@example.net", ["staff@example.com"])
    assert sorted(got["lmtp"]) == ["alice@example.com", "bob@example.com",
                                   "carol@example.org"]
    assert got["tcp_local"] == ["partner@elsewhere.example"]


def test_dynamic_group(mta):
    got = queued(mta, "x@example.net", ["everyone@example.org"])
    assert sorted(got["lmtp"]) == ["carol@example.org", "dave@example.org",
                                   "judy@example.org"]


def test_one_copy_per_address(mta):
    got = queued(mta, "x@example.net", ["alice@example.com", "staff@example.com",
                                        "postmaster@example.com"])
    assert sorted(got["lmtp"]) == ["alice@example.com", "bob@example.com",
                                   "carol@example.org"]


def test_alias_loop_ends(make_mta):
    m = make_mta(aliases="loop1@example.com: loop2@example.com\n"
                         "loop2@example.com: loop1@example.com, alice@example.com\n")
    got = queued(m, "x@example.net", ["loop1@example.com"])
    assert got == {"lmtp": ["alice@example.com"]}


def test_expansion_limit(make_mta):
    m = make_mta(conf={"mta.maxexpansion": "3"})
    code, text = rcpt(m, "staff@example.com")
    assert code == 550 and text[0].startswith("5.5.3")


def test_directory_down_is_temporary(make_mta):
    m = make_mta(ldap_uri="ldap://127.0.0.1:9", conf={"local.ldap.timeout": "pt1s"})
    code, text = rcpt(m, "alice@example.com")
    assert code == 451 and text[0].startswith("4.4.3")
    # Mail for the Internet from an internal client needs no directory.
    code, _ = rcpt(m, "x@elsewhere.example", source="127.0.0.1")
    assert code == 250


RELAY_ATTEMPTS = [
    "victim@elsewhere.example",
    "victim@ELSEWHERE.EXAMPLE",
    "victim%elsewhere.example@example.com",
    "victim%elsewhere.example@mx.example.com",
    "@example.com:victim@elsewhere.example",
    "@example.com,@mail.example.com:victim@elsewhere.example",
    '"victim@elsewhere.example"@example.com',
    "elsewhere.example!victim@example.com",
    "elsewhere.example!victim",
    "victim@[192.0.2.1]",
    "victim@[127.0.0.1]",
    "victim@host.example.com",
    "postmaster@elsewhere.example",
    "victim@elsewhere.example@example.com",
]


@pytest.mark.parametrize("address", RELAY_ATTEMPTS)
def test_no_open_relay_for_the_internet(mta, address):
    c = client(mta, INTERNET)
    assert c.cmd("MAIL FROM:<someone@example.net>")[0] == 250
    code, text = c.cmd(f"RCPT TO:<{address}>")
    assert code >= 500, (address, code, text)
    c.cmd("RSET")
    assert not any(e["channel"].startswith("tcp_") for e in mta.entries())


def test_relay_refusal_text_and_delay(mta):
    c = client(mta, INTERNET)
    c.cmd("MAIL FROM:<someone@example.net>")
    start = time.monotonic()
    code, text = c.cmd("RCPT TO:<victim@elsewhere.example>")
    assert (code, text[0]) == (550, "5.7.1 Relaying not allowed")
    assert time.monotonic() - start >= 0.25, "the table's $D30 delays the reply"


def test_internal_clients_relay(mta):
    got = queued(mta, "alice@example.com", ["friend@elsewhere.example"],
                 source="127.0.0.1")
    assert got == {"tcp_local": ["friend@elsewhere.example"]}
    assert mta.entries()[0]["env"]["source"] == "tcp_intranet"


def test_internet_client_may_not_claim_a_local_sender(mta):
    c = client(mta, INTERNET)
    code, text = c.cmd("MAIL FROM:<alice@example.com>")
    assert (code, text[0]) == (550, "5.7.1 Local senders must authenticate")
    assert c.cmd("MAIL FROM:<someone@example.net>")[0] == 250


PORT_REFUSAL = """PORT_ACCESS

  TCP|*|*|127.0.0.201|*   $NYour$ network$ is$ refused
  TCP|*|*|*|*             $Y

SEND_ACCESS

  *|*|lmtp|heidi@example.com   $B
  *|*|lmtp|ivan@example.com    $H
"""


def test_port_access_and_send_access_flags(make_mta):
    m = make_mta(mappings=PORT_REFUSAL)
    c = Smtp(m.smtp, source="127.0.0.201")
    code, text = c.greeting()
    assert (code, text[0]) == (554, "5.7.1 Your network is refused")
    assert c.closed()
    got = queued(m, "x@example.net", ["heidi@example.com", "ivan@example.com",
                                      "alice@example.com"])
    assert got == {"bitbucket": ["heidi@example.com"], "hold": ["ivan@example.com"],
                   "lmtp": ["alice@example.com"]}


def test_test_rewrite_shows_every_step(mta):
    r = mta.test_rewrite("staff@example.com")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "try example.com -> $U%example.com@lmtp-daemon" in out
    assert "rewritten to staff@example.com channel lmtp" in out
    assert "group cn=staff,ou=Groups,o=example.com,dc=example,dc=com" in out
    assert "result:  accepted" in out
    assert "lmtp             alice@example.com" in out
    r = mta.test_rewrite("victim@elsewhere.example", "--from", "a@example.net")
    assert r.returncode == 1
    assert "result:  refused: 550 5.7.1 Relaying not allowed" in r.stdout
    r = mta.test_rewrite("victim@elsewhere.example", "--channel", "tcp_intranet")
    assert r.returncode == 0 and "tcp_local        victim@elsewhere.example" in r.stdout
    assert mta.test_rewrite("--nope").returncode == 2


def test_test_mapping(mta):
    r = mta.test_mapping("ORIG_SEND_ACCESS", "tcp_local|a@x|tcp_local|b@y")
    assert r.returncode == 0
    assert "flags:   $N $D" in r.stdout and "output:  Relaying not allowed" in r.stdout
    r = mta.test_mapping("ORIG_SEND_ACCESS", "tcp_local|a@x|lmtp|b@y")
    assert r.returncode == 1 and "no entry matches" in r.stdout
    r = mta.test_mapping("INTERNAL_IP", "127.0.0.1")
    assert r.returncode == 0 and "$Y" in r.stdout


def test_routing_golden(mta):
    """t/mta/route/*.probes through mta test-rewrite: the output must equal
    the .ref file (MTA_GOLDEN_UPDATE=1 rewrites it; read the diff)."""
    import glob
    import os
    import shlex
    from suite import ROOT
    for probes in sorted(glob.glob(os.path.join(ROOT, "t", "mta", "route", "*.probes"))):
        out = []
        for line in open(probes).read().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            r = mta.test_rewrite(*shlex.split(line))
            text = r.stdout.replace(mta.workdir + "/", "")
            out.append(f"$ test-rewrite {line}\n{text}exit {r.returncode}\n")
        got = "\n".join(out)
        ref = probes[:-len(".probes")] + ".ref"
        if os.environ.get("MTA_GOLDEN_UPDATE") == "1":
            with open(ref, "w") as f:
                f.write(got)
        with open(ref) as f:
            assert got == f.read(), f"output differs from {os.path.relpath(ref, ROOT)}"


def test_expandlimit_defers_to_reprocess(make_mta):
    import os
    from suite import ROOT
    imta = open(os.path.join(ROOT, "conf", "mta", "imta.cnf")).read()
    imta = imta.replace("tcp_local smtp mx", "tcp_local smtp mx expandlimit 3", 1)
    m = make_mta(imta=imta)
    got = queued(m, "x@example.net", ["staff@example.com", "erin@example.com"])
    assert got == {"reprocess": ["staff@example.com"],
                   "tcp_local": ["erin.remote@elsewhere.example"]}


def test_holdlimit_and_blocklimit(make_mta):
    import os
    from suite import ROOT
    imta = open(os.path.join(ROOT, "conf", "mta", "imta.cnf")).read()
    imta = imta.replace("tcp_local smtp mx", "tcp_local smtp mx holdlimit 2", 1)
    imta = imta.replace("lmtp lmtp nomx", "lmtp lmtp nomx blocklimit 2", 1)
    m = make_mta(imta=imta)
    got = queued(m, "x@example.net", ["staff@example.com"])
    assert got == {"hold": ["bob@example.com", "alice@example.com",
                            "partner@elsewhere.example", "carol@example.org"]}
    c = client(m, INTERNET)
    replies = c.transaction("x@example.net", ["alice@example.com"],
                            MSG + b"x" * 3000 + b"\r\n")
    code, text = replies[-1]
    assert code == 552 and "blocklimit" in text[0]


def test_from_access_can_hold_a_message(make_mta):
    m = make_mta(mappings="FROM_ACCESS\n\n  *|*|*|*|*|*|*|*|spam*@*|*  $H\n")
    got = queued(m, "spammer@example.net", ["alice@example.com", "bob@example.com"])
    assert got == {"hold": ["alice@example.com", "bob@example.com"]}


def test_mailfromdnsverify(make_mta, tmp_path):
    import os
    from dnsmasq import Dnsmasq
    from suite import ROOT, free_port
    d = Dnsmasq(tmp_path / "dns", mx={"good.test": [(10, "mx.good.test")]},
                hosts={"mx.good.test": "127.0.0.5", "aonly.test": "127.0.0.6"})
    d.start()
    try:
        imta = open(os.path.join(ROOT, "conf", "mta", "imta.cnf")).read()
        imta = imta.replace("tcp_local smtp mx", "tcp_local smtp mx mailfromdnsverify", 1)
        m = make_mta(imta=imta, conf={"mta.dns.servers": d.servers,
                                      "mta.dns.timeout": "pt1s"})
        c = client(m, INTERNET)
        assert c.cmd("MAIL FROM:<x@good.test>")[0] == 250
        c.cmd("RSET")
        assert c.cmd("MAIL FROM:<x@aonly.test>")[0] == 250
        c.cmd("RSET")
        code, text = c.cmd("MAIL FROM:<x@missing.test>")
        assert (code, text[0]) == (553, "5.1.8 Sender domain does not exist")
        assert c.cmd("MAIL FROM:<>")[0] == 250, "the null sender is not checked"
        c.cmd("RSET")
        # Internal clients' channel (tcp_intranet) does not verify.
        assert client(m, "127.0.0.1").cmd("MAIL FROM:<x@missing.test>")[0] == 250
    finally:
        d.stop()
    m2 = make_mta(imta=imta, conf={"mta.dns.servers": f"127.0.0.1:{free_port()}",
                                   "mta.dns.timeout": "pt1s"})
    code, text = client(m2, INTERNET).cmd("MAIL FROM:<x@good.test>")
    assert code == 451 and text[0].startswith("4.1.8")
