"""`jobctl status [--tsv]`: the backlog per channel and per destination,
asked of a running jobctl.  Mail waits in two channels: lmtp, whose stores
do not answer (deferred, waiting for the retry), and tcp_local, which has
no program here (its entries wait, due)."""
import subprocess

import pytest

from jobctl import JOBCTL_BIN, Jobctl
from smtpclient import Smtp
from suite import free_port


@pytest.fixture
def backlog(make_mta):
    dead = free_port("127.0.0.2")
    m = make_mta(start=False, conf={
        "mta.lmtp.hosts": f"store1.example.com=127.0.0.2:{dead} "
                          f"store2.example.com=127.0.0.2:{dead}",
        "mta.lmtp.timeout": "pt2s"})
    j = Jobctl(m, conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    j.start()
    for rcpt in ("alice@example.com", "bob@example.com", "carol@example.org",
                 "x@remote.test", "y@Remote.Test", "z@other.test"):
        c = Smtp(m.smtp)
        c.ehlo()
        assert c.transaction("s@example.net", [rcpt],
                             b"Subject: s\r\n\r\nx\r\n")[-1][0] == 250
        c.cmd("QUIT")
    lmtp = lambda: [e for e in m.entries() if e["channel"] == "lmtp"]
    assert j.wait(lambda: len(lmtp()) == 3 and
                  all(e["env"].get("attempts") == "1" for e in lmtp())), j.log()
    yield m, j
    j.stop()


def status(m, *args):
    r = subprocess.run([JOBCTL_BIN, "-c", m.conf_path, "status", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def block(text, channel):
    """The channel's line and its destination lines."""
    lines = text.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith(f"  {channel} "))
    out = [lines[i]]
    for l in lines[i + 1:]:
        if not l.startswith("    "):
            break
        out.append(l.split())
    return out


def test_human_backlog_per_destination(backlog):
    m, j = backlog
    text = status(m)
    lmtp = block(text, "lmtp")
    assert "entries 3 " in lmtp[0] and "due 0 " in lmtp[0] and "next-retry" in lmtp[0]
    # The largest backlog first; destinations are domains, in lower case.
    assert [d[:3] for d in lmtp[1:]] == [["example.com", "entries", "2"],
                                         ["example.org", "entries", "1"]], text
    assert all("next-retry" in d for d in lmtp[1:])
    tcp = block(text, "tcp_local")
    assert "entries 3 " in tcp[0] and "due 3 " in tcp[0] and "no program" in tcp[0]
    assert [d[:5] for d in tcp[1:]] == [["remote.test", "entries", "2", "due", "2"],
                                        ["other.test", "entries", "1", "due", "1"]], text


def test_tsv_backlog_per_destination(backlog):
    m, j = backlog
    rows = [l.split("\t") for l in status(m, "--tsv").splitlines()]
    assert all(r[0] in ("pool", "channel", "dest", "job") for r in rows), rows
    chans = {r[1]: r for r in rows if r[0] == "channel"}
    # channel NAME ENTRIES DUE IN-JOBS NEXT JOBS MAXJOBS POOL PROGRAM
    name, entries, due, in_jobs, nxt, jobs, maxjobs, pool, prog = chans["lmtp"][1:]
    assert (entries, due, in_jobs, maxjobs, pool, prog) == ("3", "0", "0", "7",
                                                            "LMTP_POOL", "yes")
    assert int(nxt) > 0
    assert chans["tcp_local"][2:5] == ["3", "3", "0"] and chans["tcp_local"][9] == "no"
    dests = {(r[1], r[2]): r[3:] for r in rows if r[0] == "dest"}
    # dest CHANNEL DEST ENTRIES DUE IN-JOBS NEXT
    assert dests[("lmtp", "example.com")][:3] == ["2", "0", "0"]
    assert int(dests[("lmtp", "example.com")][3]) > 0
    assert dests[("lmtp", "example.org")][:3] == ["1", "0", "0"]
    assert dests[("tcp_local", "remote.test")] == ["2", "2", "0", "0"]
    assert dests[("tcp_local", "other.test")] == ["1", "1", "0", "0"]
    assert {r[1] for r in rows if r[0] == "pool"} >= {"LMTP_POOL", "SMTP_POOL"}


def test_usage(backlog):
    m, j = backlog
    r = subprocess.run([JOBCTL_BIN, "-c", m.conf_path, "status", "--csv"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "status [--tsv]" in r.stderr
