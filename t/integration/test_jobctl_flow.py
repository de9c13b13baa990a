"""Mail end to end: SMTP into the mta, jobctl hands the lmtp channel's
entries to the lmtp_client program, the stores file them.  Retries by the
channel's backoff while a store is down, failures returned to the sender
as a delivery status notification, kill -9 of jobctl under load."""
import os
import threading
import time

import pytest

from jobctl import Jobctl
from smtpclient import Smtp, send_accepted
from suite import ROOT

MSG = b"Subject: flow\r\n\r\nbody of the message\r\n"


def imta_with_backoff():
    imta = open(os.path.join(ROOT, "conf", "mta", "imta.cnf")).read()
    return imta.replace("lmtp lmtp nomx", 'lmtp lmtp nomx backoff "pt1s" "pt2s"', 1)


@pytest.fixture
def site(make_store, make_mta):
    """Two stores, an mta that knows where their LMTP is, and jobctl."""
    s1 = make_store(name="store1", host="127.0.0.2")
    s2 = make_store(name="store2", host="127.0.0.3")
    m = make_mta(imta=imta_with_backoff(), start=False, conf={
        "mta.lmtp.hosts": f"store1.example.com=127.0.0.2:{s1.port} "
                          f"store2.example.com=127.0.0.3:{s2.port}",
        "mta.lmtp.timeout": "pt10s"})
    # Made before the mta starts, so that the mta announces its entries.
    j = Jobctl(m, conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    j.start()
    yield m, j, s1, s2
    j.stop()


def send(m, rcpts, body=MSG, sender="sender@example.net"):
    return send_accepted(m.smtp, sender, rcpts, body)


def lmtp_entries(m):
    return [e for e in m.entries() if e["channel"] == "lmtp"]


def test_local_delivery_to_two_stores(site):
    m, j, s1, s2 = site
    send(m, ["alice@example.com", "bob@example.com", "carol@example.org"])
    assert j.wait(lambda: lmtp_entries(m) == []), j.log()
    assert len(s1.inbox_files("alice@example.com")) == 1
    assert len(s1.inbox_files("carol@example.org")) == 1
    assert len(s2.inbox_files("bob@example.com")) == 1
    track = "\n".join(m.tracking())
    assert " D id=" in track and "to=<bob@example.com>" in track


def test_store_down_then_up(site):
    m, j, s1, s2 = site
    s2.stop()
    send(m, ["alice@example.com", "bob@example.com"])
    assert j.wait(lambda: len(s1.inbox_files("alice@example.com")) == 1)
    # bob waits: his entry stays with one attempt or more, alice delivered.
    assert j.wait(lambda: any(int(e["env"].get("attempts", "0")) >= 1
                              for e in lmtp_entries(m)))
    [e] = lmtp_entries(m)
    states = {r["address"]: r["state"] for r in e["env"]["rcpt"]}
    assert states == {"alice@example.com": "delivered", "bob@example.com": "pending"}
    s2.start()
    assert j.wait(lambda: lmtp_entries(m) == [], timeout=30), j.log()
    assert len(s2.inbox_files("bob@example.com")) == 1
    assert len(s1.inbox_files("alice@example.com")) == 1, "delivered once"


def test_failure_is_returned_to_the_sender(site):
    """A user removed from the directory after the mta accepted mail for
    him: the lmtp program fails him, jobctl writes a report, the reprocess
    program routes it to the sender, who is a local user: it lands in her
    mailbox."""
    m, j, s1, s2 = site
    j.stop()
    qid = send(m, ["bob@example.com"], sender="alice@example.com")
    [e] = lmtp_entries(m)
    text = open(e["path"]).read().replace("rcpt <bob@example.com>",
                                          "rcpt <ghost@example.com>")
    with open(e["path"], "w") as f:
        f.write(text)
    j.start()
    assert j.wait(lambda: len(s1.inbox_files("alice@example.com")) == 1,
                  timeout=30), j.log()
    assert m.entries() == []
    [(uid, path)] = s1.inbox_files("alice@example.com")
    report = open(path, "rb").read()
    assert b"multipart/report" in report and b"ghost@example.com" in report
    assert b"Action: failed" in report and qid.encode() in report
    assert b"Return-Path: <>" in report


def test_report_to_an_internet_sender_waits_for_the_smtp_channel(site):
    m, j, s1, s2 = site
    j.stop()
    send(m, ["bob@example.com"])
    [e] = lmtp_entries(m)
    text = open(e["path"]).read().replace("rcpt <bob@example.com>",
                                          "rcpt <ghost@example.com>")
    with open(e["path"], "w") as f:
        f.write(text)
    j.start()
    assert j.wait(lambda: [x["channel"] for x in m.entries()] == ["tcp_local"],
                  timeout=30), (m.entries(), j.log())
    [r] = m.entries()
    assert r["env"]["from"] == ""
    assert [x["address"] for x in r["env"]["rcpt"]] == ["sender@example.net"]


def test_kill9_under_load_delivers_everything(site):
    m, j, s1, s2 = site
    acked = []
    stop = threading.Event()

    def loop():
        c = Smtp(m.smtp)
        c.ehlo()
        i = 0
        while not stop.is_set() and i < 60:
            replies = c.transaction("s@example.net", ["alice@example.com"],
                                    b"Subject: n%d\r\n\r\nx\r\n" % i)
            if replies[-1][0] == 250:
                acked.append(i)
            i += 1

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.5)
    j.kill9()
    time.sleep(0.3)
    j.start()
    t.join(60)
    stop.set()
    assert j.wait(lambda: lmtp_entries(m) == [], timeout=60), j.log()
    got = len(s1.inbox_files("alice@example.com"))
    assert got >= len(acked), (got, len(acked))



def test_success_report_when_asked(site):
    m, j, s1, s2 = site
    c = Smtp(m.smtp)
    c.ehlo()
    assert c.cmd("MAIL FROM:<alice@example.com> ENVID=track-me")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE")[0] == 250
    assert c.cmd("RCPT TO:<carol@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    # bob's delivery is reported to alice (only bob asked for it).
    assert j.wait(lambda: len(s1.inbox_files("alice@example.com")) == 1,
                  timeout=30), j.log()
    [(uid, path)] = s1.inbox_files("alice@example.com")
    report = open(path, "rb").read()
    assert b"Action: delivered" in report and b"bob@example.com" in report
    assert b"carol@example.org" not in report.split(b"message/delivery-status")[1] \
        .split(b"Content-Type")[0]
    assert b"Original-Envelope-Id: track-me" in report


def test_delivery_jobs_killed_lose_nothing(site):
    import subprocess
    m, j, s1, s2 = site
    for i in range(30):
        send(m, ["alice@example.com", "bob@example.com"],
             body=b"Subject: k%d\r\n\r\nx\r\n" % i)
        if i % 5 == 4:
            # Kill whatever lmtp_client jobs of this site run right now.
            subprocess.run(["pkill", "-9", "-f", f"lmtp_client -c {m.conf_path}"])
    assert j.wait(lambda: lmtp_entries(m) == [], timeout=60), j.log()
    assert len(s1.inbox_files("alice@example.com")) >= 30
    assert len(s2.inbox_files("bob@example.com")) >= 30


def test_status(site):
    import subprocess
    from jobctl import JOBCTL_BIN
    m, j, s1, s2 = site
    s2.stop()
    send(m, ["bob@example.com"])
    assert j.wait(lambda: any(int(e["env"].get("attempts", "0")) >= 1
                              for e in lmtp_entries(m)))
    r = subprocess.run([JOBCTL_BIN, "-c", m.conf_path, "status"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "pools:" in r.stdout and "LMTP_POOL" in r.stdout
    lmtp = [l for l in r.stdout.splitlines() if l.strip().startswith("lmtp ")]
    # Deferred: waiting for its retry, or already due again (backoff 1s).
    assert lmtp and "entries 1 " in lmtp[0] and \
        ("next-retry" in lmtp[0] or "due 1 " in lmtp[0]), r.stdout
    j.stop()
    r = subprocess.run([JOBCTL_BIN, "-c", m.conf_path, "status"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "jobctl" in r.stderr
    j.start()


@pytest.mark.parametrize("program,why", [
    ("no-such-program", "exec"),
    ("garbage", "malformed answer"),
])
def test_broken_job_defers(make_store, make_mta, tmp_path, program, why):
    """A channel program that cannot run, or answers garbage, is a job
    that dies or is killed: its entries are deferred, never lost."""
    if program == "garbage":
        script = tmp_path / "garbage.sh"
        script.write_text("#!/bin/sh\nread line\necho 'this is not the protocol'\n"
                          "sleep 5\n")
        script.chmod(0o755)
        program = str(script)
    s1 = make_store(name="store1", host="127.0.0.2")
    m = make_mta(imta=imta_with_backoff(), start=False,
                 conf={"mta.lmtp.hosts": f"store1.example.com=127.0.0.2:{s1.port}"})
    j = Jobctl(m, programs={"lmtp": program},
               conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    j.start()
    try:
        send(m, ["alice@example.com"])
        assert j.wait(lambda: any(int(e["env"].get("attempts", "0")) >= 1
                                  for e in lmtp_entries(m))), j.log()
        assert why in j.log()
        [e] = lmtp_entries(m)
        assert e["env"]["rcpt"][0]["state"] == "pending"
        assert s1.inbox_files("alice@example.com") == []
    finally:
        j.stop()
