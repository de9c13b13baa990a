"""jobctl_startup -- how long jobctl takes to index a large queue when it
starts, and the memory its index needs.

BENCH_JOBCTL_ENTRIES (1,000,000) synthetic entries (short messages) are
written into the tcp_local channel of a fresh queue (subdirs 20, as the
sample imta.cnf has it), with a job_controller.cnf whose tcp_* channels
run nothing (so no delivery disturbs the figure).  jobctl is started
BENCH_RUNS times on that queue (the page cache warm after the first, as
after any restart of a busy host); each run is timed from exec to its
"jobctl started ... entries=N" log line, which must give the exact count,
and its RSS is read then.  There is no peer: the lines are

    BENCH jobctl_startup ours=<seconds> unit=s entries=<N>
    BENCH jobctl_index_rss ours=<KiB> unit=KiB entries=<N>
"""
import os
import re
import statistics
import subprocess
import time

from benchlib import BenchError, fresh_dir, log, proc_mem

ENVELOPE = """version 1
id {id}
created {created}
channel tcp_local
source tcp_intranet
from <sender@example.net>
priority normal
rcpt <user{n}@elsewhere.example> state=pending

"""
# The message does not matter to the index: a short one keeps the fill fast.
BODY = "Subject: bench\r\n\r\nx\r\n"
B32 = "0123456789ABCDEFGHIJKLMNOPQRSTUV"


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def queue_id(n):
    """Valid, distinct queue IDs in creation order (base32hex of n)."""
    v = (1700000000 << 46) | (n << 4)
    return "".join(B32[(v >> (5 * (15 - i))) & 31] for i in range(16))


def fill(queue, n):
    t0 = time.monotonic()
    for ss in range(20):
        os.makedirs(os.path.join(queue, "tcp_local", "%02d" % ss), exist_ok=True)
    for i in range(n):
        qid = queue_id(i)
        ss = fnv1a(qid) % 20
        with open(os.path.join(queue, "tcp_local", "%02d" % ss, qid), "w") as f:
            f.write(ENVELOPE.format(id=qid, created=1700000000 + i, n=i))
            f.write(BODY)
    log(f"  wrote {n} entries in {time.monotonic() - t0:.1f}s")


def start_once(build, conf, expect, timeout):
    logf = conf + ".log"
    with open(logf, "w") as out:
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(build, "bin", "jobctl"), "-c", conf, "-f"],
                             stdout=out, stderr=subprocess.STDOUT)
    try:
        while time.monotonic() - t0 < timeout:
            text = open(logf).read()
            m = re.search(r"jobctl started .* entries=(\d+)", text)
            if m:
                secs = time.monotonic() - t0
                if int(m.group(1)) != expect:
                    raise BenchError(f"jobctl indexed {m.group(1)} of {expect}")
                rss, _ = proc_mem(p.pid)
                return secs, rss
            if p.poll() is not None:
                raise BenchError(f"jobctl exited: {text[-300:]}")
            time.sleep(0.05)
        raise BenchError(f"jobctl did not finish its scan in {timeout}s")
    finally:
        p.terminate()
        p.wait(30)


def bench_jobctl_startup(top, clock, build, runs):
    n = int(os.environ.get("BENCH_JOBCTL_ENTRIES", "1000000"))
    d = fresh_dir(os.path.join(top, "jobctl"))
    queue = os.path.join(d, "queue")
    log(f"jobctl_startup: {n} entries, {runs} starts")
    try:
        fill(queue, n)
        imta = os.path.join(d, "imta.cnf")
        with open(imta, "w") as f:
            f.write(".  $U%$H@tcp_local-daemon\n\ntcp_local smtp subdirs 20\n"
                    "tcp_local-daemon\n")
        jcnf = os.path.join(d, "job_controller.cnf")
        with open(jcnf, "w") as f:
            f.write("[POOL=DEFAULT]\nJOB_LIMIT=1\n[CHANNEL=tcp_*]\nMASTER_COMMAND=NULL\n")
        conf = os.path.join(d, "msg.conf")
        with open(conf, "w") as f:
            f.write(f"mta.queue.path = {queue}\nmta.imtacnf = {imta}\n"
                    f"jobctl.conf = {jcnf}\nlocal.log.level = info\n")
        times, rss = [], []
        for r in range(runs):
            if clock.left() < 120:
                raise BenchError("no time left (BENCH_DEADLINE)")
            secs, kib = start_once(build, conf, n, min(clock.left() - 60, 600))
            log(f"  start {r + 1}: {secs:.2f}s, RSS {kib} KiB")
            times.append(secs)
            rss.append(kib)
    except BenchError as e:
        return [f"BENCH_ERROR jobctl_startup {e}"]
    finally:
        subprocess.run(["rm", "-rf", queue])
    return [f"BENCH jobctl_startup ours={statistics.median(times):.2f} unit=s entries={n}",
            f"BENCH jobctl_index_rss ours={statistics.median(rss):.0f} unit=KiB entries={n}"]
