"""How many jobs jobctl starts for a backlog (man/jobctl.8, SCHEDULING):
`filesperjob` (a job per N entries in hand or waiting) and `threaddepth`
(a job holds up to N entries of one destination before that destination
gets another job), against the default (a new job whenever every job is
busy).  The SMTP channel's real program delivers to Postfix's smtp-sink
as the remote MX hosts; the entries are queued by the mta while jobctl is
down, so that jobctl finds the whole backlog at once when it starts."""
import re

from jobctl import Jobctl
from test_smtp_channel import (conf_keys, dns, imta_with, make_sink,  # noqa: F401
                               port, rcpt_args, send)


def run_backlog(make_mta, dns, port, keywords, rcpts):
    """Queue one message per recipient with jobctl down, start it, let
    everything be delivered; the jobctl log."""
    m = make_mta(start=False, imta=imta_with(keywords), conf=conf_keys(dns, port))
    j = Jobctl(m, programs={"tcp_local": "smtp_client"},
               conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    for r in rcpts:
        send(m, [r])
    assert len(m.entries()) == len(rcpts)
    j.start()
    try:
        assert j.wait(lambda: m.entries() == [], timeout=60), j.log()
    finally:
        j.stop()
    return j.log()


def jobs_started(log):
    return len(re.findall(r"job pid=\d+ channel=tcp_local started", log))


BASE = "smtp mx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL"


def test_default_a_job_per_busy_job(make_mta, make_sink, dns, port):
    mx1 = make_sink("127.0.0.5")
    log = run_backlog(make_mta, dns, port, BASE,
                      [f"u{i}@good.test" for i in range(8)])
    assert jobs_started(log) == 7       # maxjobs
    assert len(mx1.messages()) == 8


def test_filesperjob(make_mta, make_sink, dns, port):
    """8 entries, filesperjob 3: ceil(8/3) = 3 jobs, not maxjobs."""
    mx1 = make_sink("127.0.0.5")
    log = run_backlog(make_mta, dns, port, BASE + " filesperjob 3",
                      [f"u{i}@good.test" for i in range(8)])
    assert jobs_started(log) == 3, log
    assert len(mx1.messages()) == 8


def test_threaddepth(make_mta, make_sink, dns, port):
    """threaddepth 3: six entries for good.test fill two jobs, three each;
    aonly.test's entry gets a job of its own."""
    mx1 = make_sink("127.0.0.5")
    aonly = make_sink("127.0.0.7")
    log = run_backlog(make_mta, dns, port, BASE + " threaddepth 3",
                      [f"u{i}@good.test" for i in range(6)] + ["x@aonly.test"])
    assert jobs_started(log) == 3, log
    assert len(mx1.messages()) == 6 and len(aonly.messages()) == 1
    assert sorted(rcpt_args(m)[0] for m in mx1.messages()) == \
        sorted(f"<u{i}@good.test>" for i in range(6))


def test_slave_channel_runs_no_job(make_mta, make_sink, dns, port):
    """`slave` (imta.cnf): only the receiving side works the channel; its
    MASTER_COMMAND is not run, even for `queue retry`; the entries wait,
    and `status` says why.  The same channel as `master` delivers."""
    import subprocess
    from jobctl import JOBCTL_BIN
    mx1 = make_sink("127.0.0.5")
    m = make_mta(start=False, imta=imta_with(BASE + " slave"), conf=conf_keys(dns, port))
    j = Jobctl(m, programs={"tcp_local": "smtp_client"},
               conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    j.start()
    try:
        send(m, ["u@good.test"])
        [e] = m.entries()
        assert j.queue("retry", e["env"]["id"]).returncode == 0
        assert not j.wait(lambda: m.entries() == [], timeout=3)
        status = subprocess.run([JOBCTL_BIN, "-c", m.conf_path, "status"],
                                capture_output=True, text=True, timeout=30).stdout
        [line] = [l for l in status.splitlines() if l.startswith("  tcp_local ")]
        assert "(slave: entries wait)" in line and "due 1 " in line, status
    finally:
        j.stop()
    assert jobs_started(j.log()) == 0 and mx1.messages() == []
    assert "channel tcp_local is slave: its MASTER_COMMAND is not run" in j.log()


def test_master_channel_delivers(make_mta, make_sink, dns, port):
    mx1 = make_sink("127.0.0.5")
    log = run_backlog(make_mta, dns, port, BASE + " master", ["u@good.test"])
    assert jobs_started(log) == 1 and len(mx1.messages()) == 1
