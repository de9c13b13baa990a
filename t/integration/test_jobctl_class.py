"""An entry's class in jobctl's schedule (jobctl/class.h), end to end:
SMTP into the mta, jobctl runs lmtp_client, a store files the mail.

* nonurgentblocklimit: a message past it waits for the next periodic run
  (every jobctl.rescaninterval, aligned to the clock), immnonurgent or not;
* immnonurgent: without it a non-urgent message (Importance: low) waits
  for that run too; with it (the sample's defaults) it goes at once;
* deferred: a Deferred-delivery: date to come holds the message until
  then; nodeferred ignores the field; a date past the last notices mark
  returns the message at that mark, undelivered."""
import email.utils
import os
import time

import pytest

from chanjob import write_entry
from jobctl import Jobctl
from smtpclient import Smtp
from suite import ROOT

PERIOD = 12     # jobctl.rescaninterval in these tests: the periodic run


def imta(lmtp_keywords="", immnonurgent=True):
    text = open(os.path.join(ROOT, "conf", "mta", "imta.cnf")).read()
    old = "lmtp lmtp nomx single_sys subdirs 20 maxjobs 7 pool LMTP_POOL defragment"
    assert old in text
    text = text.replace(old, old + " " + lmtp_keywords)
    if not immnonurgent:
        text = text.replace("defaults notices 1 2 4 7 immnonurgent",
                            "defaults notices 1 2 4 7")
    return text


@pytest.fixture
def make_site(make_store, make_mta):
    made = []

    def make(imta_text):
        s1 = make_store(name="store1", host="127.0.0.2")
        m = make_mta(imta=imta_text, start=False, conf={
            "mta.lmtp.hosts": f"store1.example.com=127.0.0.2:{s1.port}",
            "mta.lmtp.timeout": "pt10s"})
        j = Jobctl(m, conf={"jobctl.rescaninterval": f"pt{PERIOD}s"})
        made.append(j)
        m.start()
        j.start()
        return m, j, s1

    yield make
    for j in made:
        j.stop()


def send(m, rcpt, headers=b"", size=0):
    c = Smtp(m.smtp)
    c.ehlo()
    body = (b"Subject: class\r\n" + headers + b"\r\n" +
            (b"x" * 70 + b"\r\n") * max(1, size // 72))
    replies = c.transaction("sender@example.net", [rcpt], body)
    assert replies[-1][0] == 250, replies
    return time.time()


def delivered_at(s, rcpt):
    """When the store filed rcpt's only message (its file's mtime), or None."""
    files = s.inbox_files(rcpt)
    return os.stat(files[0][1]).st_mtime if files else None


def next_run(t):
    """The periodic run for an entry queued at t ("created" is in whole
    seconds)."""
    t = int(t)
    return (t + PERIOD - 1) // PERIOD * PERIOD


def wait_for_the_periodic_run(j, s, waiting, prompt, sent):
    """prompt is delivered at once; waiting only at the periodic run after
    it was queued, sometime in sent (before, after)."""
    first, last = next_run(sent[0]), next_run(sent[1])
    assert j.wait(lambda: delivered_at(s, prompt) is not None), j.log()
    if first == last and time.time() < first - 1:
        assert delivered_at(s, waiting) is None, "it did not wait"
    assert j.wait(lambda: delivered_at(s, waiting) is not None,
                  timeout=PERIOD + 15), j.log()
    assert delivered_at(s, waiting) >= first - 1


def test_past_nonurgentblocklimit_waits_for_the_periodic_run(make_site):
    """immnonurgent (the sample's defaults) or not: a non-urgent message
    past 4 blocks drops below non-urgent and waits; one of 2 goes at once."""
    m, j, s = make_site(imta("nonurgentblocklimit 4"))
    t0 = time.time()
    send(m, "alice@example.com", b"Importance: low\r\n", size=8 * 1024)
    send(m, "carol@example.org", b"Importance: low\r\n", size=2 * 1024)
    wait_for_the_periodic_run(j, s, "alice@example.com", "carol@example.org",
                              (t0, time.time()))


def test_normalblocklimit_lowers_into_the_periodic_wait(make_site):
    """Without immnonurgent: a normal message past normalblocklimit is
    non-urgent, and waits; a small one goes at once."""
    m, j, s = make_site(imta("normalblocklimit 4", immnonurgent=False))
    t0 = time.time()
    send(m, "alice@example.com", size=8 * 1024)
    send(m, "carol@example.org", size=1024)
    wait_for_the_periodic_run(j, s, "alice@example.com", "carol@example.org",
                              (t0, time.time()))


def test_immnonurgent(make_site):
    """Importance: low waits for the periodic run without immnonurgent."""
    m, j, s = make_site(imta(immnonurgent=False))
    t0 = time.time()
    send(m, "alice@example.com", b"Importance: low\r\n")
    send(m, "carol@example.org", b"Importance: high\r\n")
    wait_for_the_periodic_run(j, s, "alice@example.com", "carol@example.org",
                              (t0, time.time()))


def test_immnonurgent_sends_non_urgent_at_once(make_site):
    m, j, s = make_site(imta())
    t = send(m, "alice@example.com", b"Importance: low\r\n")
    assert j.wait(lambda: delivered_at(s, "alice@example.com") is not None), j.log()
    assert delivered_at(s, "alice@example.com") < t + 5


def deferred_header(t):
    return b"Deferred-delivery: " + email.utils.formatdate(t, usegmt=True).encode() + b"\r\n"


def test_deferred_delivery_date_is_honoured(make_site):
    m, j, s = make_site(imta("deferred"))
    at = int(time.time()) + 6
    send(m, "alice@example.com", deferred_header(at))
    send(m, "carol@example.org", deferred_header(int(time.time()) - 3600))
    assert j.wait(lambda: delivered_at(s, "carol@example.org") is not None), j.log()
    if time.time() < at - 1:
        assert delivered_at(s, "alice@example.com") is None, "it did not wait"
    assert j.wait(lambda: delivered_at(s, "alice@example.com") is not None,
                  timeout=20), j.log()
    assert delivered_at(s, "alice@example.com") >= at - 1


def test_nodeferred_ignores_the_field(make_site):
    m, j, s = make_site(imta())
    t = send(m, "alice@example.com", deferred_header(int(time.time()) + 3600))
    assert j.wait(lambda: delivered_at(s, "alice@example.com") is not None), j.log()
    assert delivered_at(s, "alice@example.com") < t + 5


def test_deferred_past_the_last_notice_is_returned(make_site):
    """Queued 8 days ago (notices 1 2 4 7), held for a date next month: it
    is returned now, 4.4.7, never delivered; the sender (a local user) gets
    the report."""
    m, j, s = make_site(imta("deferred"))
    j.stop()
    later = deferred_header(int(time.time()) + 30 * 86400)
    path = write_entry(m, ["bob@example.com"],
                       b"Subject: later\r\n" + later + b"\r\nbody\r\n",
                       sender="alice@example.com")
    full = os.path.join(m.queue, path)
    lines = open(full, "rb").read().split(b"\n")
    eight_days_ago = b"created %d" % (int(time.time()) - 8 * 86400)
    with open(full, "wb") as f:
        f.write(b"\n".join(eight_days_ago if l.startswith(b"created ") else l
                           for l in lines))
    j.start()
    assert j.wait(lambda: delivered_at(s, "alice@example.com") is not None,
                  timeout=PERIOD - 2), j.log()
    assert s.inbox_files("bob@example.com") == []
    report = open(s.inbox_files("alice@example.com")[0][1], "rb").read()
    assert b"Action: failed" in report and b"bob@example.com" in report
    assert b"4.4.7" in report
    track = "\n".join(m.tracking())
    assert "held+20until+20its+20Deferred-delivery:+20date" in track, track
