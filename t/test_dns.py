"""common/dns through t/tools/dnsprobe against a private dnsmasq: MX
answers in preference order, the MX-then-address rule for a mail domain,
NXDOMAIN versus NODATA versus no server at all (a temporary failure,
never "does not exist"), and cancellation."""
import os
import subprocess

import pytest

from dnsmasq import Dnsmasq
from suite import BUILD, free_port

TOOL = os.path.join(BUILD, "t", "tools", "dnsprobe")


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = Dnsmasq(tmp_path_factory.mktemp("dns"),
                mx={"good.test": [(20, "mx2.good.test"), (10, "mx1.good.test")]},
                hosts={"mx1.good.test": "127.0.0.5", "mx2.good.test": "127.0.0.6",
                       "aonly.test": "127.0.0.7", "v6only.test": "::1"})
    d.start()
    yield d
    d.stop()


def probe(servers, kind, name):
    r = subprocess.run([TOOL, servers, kind, name], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_mx_in_preference_order(dns):
    assert probe(dns.servers, "mx", "good.test") == \
        "ok 10 mx1.good.test 20 mx2.good.test"


@pytest.mark.parametrize("name,status", [
    ("good.test", "ok"),            # MX
    ("aonly.test", "ok"),           # no MX, an A record
    ("v6only.test", "ok"),          # no MX, no A, an AAAA record
    ("mx1.good.test", "ok"),
    ("missing.test", "nxdomain"),
    ("", "nxdomain"),
    ("[127.0.0.1]", "nxdomain"),
])
def test_mail_domain(dns, name, status):
    assert probe(dns.servers, "domain", name) == status


def test_no_server_is_a_temporary_failure():
    dead = f"127.0.0.1:{free_port()}"
    assert probe(dead, "domain", "good.test") == "tempfail"
    assert probe(dead, "mx", "good.test") == "tempfail"


def test_cancel(dns):
    assert probe(dns.servers, "cancel", "good.test") == "cancelled"


def test_bad_server_list():
    r = subprocess.run([TOOL, "not a server", "mx", "x"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and r.stdout.startswith("error")
