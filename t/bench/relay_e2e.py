"""relay_e2e -- mail relayed end to end: smtp-source (SESSIONS sessions,
4 KiB, N messages) into a relay whose next hop is Postfix's smtp-sink, in
the same run for both:
  ours:     the mta, jobctl and its smtp_client program (tcp_local with
            `daemon sink.bench.test`, a name a private dnsmasq gives
            127.0.0.9, maxjobs 20; a job keeps its session to the sink
            between its messages, and stays a few seconds when idle);
  postfix:  a private Postfix with relayhost [127.0.0.9] and its SMTP
            client (20 per destination, connection cache on demand).
Both make every message durable before 250 (see smtp_accept.py).  The
figure is messages per second from the first connection until the sink
has counted N; the median of RUNS runs, alternating.
"""
import os
import re
import subprocess
import time

from benchlib import BenchError, compare, fresh_dir, log
from smtp_accept import PostfixSide, source

SINK_HOST = "127.0.0.9"
SMTP_SINK = "/usr/sbin/smtp-sink"

SINK_NAME = "sink.bench.test"       # served by a private dnsmasq
IMTA = """\
.   $U%$H@tcp_local-daemon

tcp_local smtp daemon {host} maxjobs 20 pool SMTP_POOL subdirs 20
tcp_local-daemon
"""


class Sink:
    def __init__(self, top, port):
        self.log = os.path.join(top, "sink.log")
        self.port = port
        self.proc = None

    def start(self):
        out = open(self.log, "w")
        self.proc = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-c",
                                      "%s:%d" % (SINK_HOST, self.port), "1024"],
                                     stdout=out, stderr=subprocess.STDOUT)
        time.sleep(0.3)

    def count(self):
        text = open(self.log, errors="replace").read()[-400:].replace("\r", "\n")
        found = re.findall(r"mesg=(\d+)", text)
        return int(found[-1]) if found else 0

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class OurRelay:
    name = "ours"

    def __init__(self, top, sink_port):
        from dnsmasq import Dnsmasq
        from jobctl import Jobctl
        from mta import Mta
        self.dns = Dnsmasq(os.path.join(top, "dns"),
                           hosts={SINK_NAME: SINK_HOST}).start()
        self.mta = Mta(fresh_dir(os.path.join(top, "mta")), roles=("smtp",),
                       imta=IMTA.format(host=SINK_NAME), conf={
                           "mta.dns.servers": self.dns.servers,
                           "mta.mappings": None, "mta.aliases": None,
                           "mta.tracklog": None,
                           "local.ldap.uri": "ldap://127.0.0.1:1",
                           "mta.smtp.port": str(sink_port),
                           "service.smtp.maxtransactions": "1000000",
                           "service.smtp.maxsessionsperclient": "1000"})
        self.jobctl = Jobctl(self.mta, programs={"tcp_local": "smtp_client"},
                             pools={"SMTP_POOL": 20},
                             conf={"jobctl.rescaninterval": "pt1h"})
        self.mta.start()
        self.jobctl.start()

    @property
    def addr(self):
        return self.mta.smtp

    def close(self):
        self.jobctl.stop()
        self.mta.stop()
        self.dns.stop()


def relay_run(side, sink, n, sessions, clock, run_no):
    if clock.left() < 120:
        raise BenchError(f"{side.name} run {run_no}: no time left")
    sink.start()
    try:
        t0 = time.monotonic()
        source(side.addr, n, sessions, min(clock.left() - 60, 60 + n / 10))
        deadline = time.monotonic() + min(clock.left() - 30, 60 + n / 10)
        while sink.count() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        secs = time.monotonic() - t0
        got = sink.count()
    finally:
        sink.stop()
    if got < n:
        raise BenchError(f"{side.name} run {run_no}: the sink got {got} of {n}")
    log(f"  {side.name} run {run_no}: {n} msgs relayed in {secs:.2f}s = "
        f"{n / secs:.1f} msg/s")
    return n / secs


def bench_relay_e2e(top, clock, n, runs, sessions):
    from suite import free_port
    name = "relay_e2e"
    d = fresh_dir(os.path.join(top, "relay"))
    port = free_port(SINK_HOST)
    sink = Sink(d, port)
    log(f"{name}: {n} x 4096 B relayed to smtp-sink, smtp-source -s {sessions}, "
        f"{runs} runs each")
    sides = []
    try:
        sides.append(OurRelay(d, port))
        sides.append(PostfixSide(d, relay=(SINK_HOST, port)))
        rates = {"ours": [], "postfix": []}
        for r in range(runs):
            for side in sides:
                subprocess.run(["sync"])
                rates[side.name].append(relay_run(side, sink, n, sessions,
                                                  clock, r + 1))
    except BenchError as e:
        return [f"BENCH_ERROR {name} {e}"]
    except Exception as e:
        return [f"BENCH_ERROR {name} {type(e).__name__}: {e}"]
    finally:
        for side in sides:
            side.close()
    return [compare(name, rates, "msg/s", peer="postfix")]
