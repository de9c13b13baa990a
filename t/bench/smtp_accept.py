"""smtp_accept -- the rate at which an SMTP relay takes mail and makes it
durable, side by side with Postfix.

Postfix's smtp-source -s SESSIONS -m N -l 4096 (sender and recipient
outside any hosted domain: relayed mail) against
  ours:     the mta, its queue on a fresh directory: one entry file
            (envelope, then message) fsync'd, linked, the directory
            fsync'd, before 250; group
            commit across sessions; no access tables, a one-rule imta.cnf
            routing everything to tcp_local;
  postfix:  a private Postfix instance (postfix -c DIR), smtpd on loopback,
            mynetworks 127.0.0.0/8, every message put on hold by an access
            map (check_client_access static:HOLD) so that cleanup writes
            and fsyncs the queue file before 250 and no delivery runs
            during the measurement, as none runs in ours (jobctl does not
            exist yet).  smtpd_peername_lookup = no, as ours does no DNS.
Runs alternate between the two; the figure is the median of RUNS runs.
After every run the new queue entries are counted on disk: a run that did
not queue exactly N messages is an error, not a figure.
"""
import glob
import os
import shutil
import subprocess
import time

from benchlib import BenchError, compare, fresh_dir, log, proc_tree_cpu

SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
MSG_SIZE = 4096
DOMAIN = "relay.bench.test"

IMTA = """\
! Everything is relayed to the Internet channel.
.   $U%$H@tcp_local-daemon

tcp_local smtp mx subdirs 20
tcp_local-daemon
"""


class OurMta:
    name = "ours"

    def __init__(self, top):
        from mta import Mta
        self.mta = Mta(fresh_dir(os.path.join(top, "mta")), imta=IMTA,
                       roles=("smtp",), conf={
                           "mta.mappings": None, "mta.aliases": None,
                           "mta.tracklog": None,
                           "local.ldap.uri": "ldap://127.0.0.1:1",
                           "service.smtp.maxtransactions": "1000000",
                           "service.smtp.maxsessionsperclient": "1000"})
        self.mta.start()

    @property
    def addr(self):
        return self.mta.smtp

    def pid(self):
        return self.mta.daemon.proc.pid

    def queued(self):
        """Entry files: tcp_local/SS/ID, one per message."""
        from mta import QUEUE_ID
        return sum(1 for p in glob.glob(os.path.join(self.mta.queue, "tcp_local",
                                                     "*", "*"))
                   if QUEUE_ID.match(os.path.basename(p)))

    def close(self):
        self.mta.stop()


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {top}/spool
data_directory = {top}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
{hold}
smtpd_relay_restrictions = permit_mynetworks, reject
{relay}
local_recipient_maps =
alias_maps =
alias_database =
smtpd_peername_lookup = no
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
smtp_tls_security_level = none
default_destination_concurrency_limit = 20
biff = no
maillog_file = {top}/maillog
maillog_file_prefixes = {top}
"""

POSTFIX_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PostfixSide:
    """A private Postfix: every message held (relay None), or relayed to
    relay = (host, port) by its own SMTP client."""
    name = "postfix"

    def __init__(self, top, relay=None):
        from suite import free_port
        self.top = fresh_dir(os.path.join(top, "postfix"))
        self.etc = os.path.join(self.top, "etc")
        os.makedirs(self.etc)
        os.makedirs(os.path.join(self.top, "spool"))
        os.makedirs(os.path.join(self.top, "data"))
        shutil.chown(os.path.join(self.top, "data"), "postfix")
        self.port = free_port("127.0.0.1")
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(
                top=self.top,
                hold="" if relay else
                "smtpd_client_restrictions = check_client_access static:HOLD",
                relay="relayhost = [%s]:%d" % relay if relay else ""))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(port=self.port))
        # postfix prints its fatal errors only to a terminal.
        r = subprocess.run(["script", "-qec", f"{POSTFIX} -c {self.etc} start",
                            "/dev/null"], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"postfix start: {r.stdout.strip()[-300:]}")
        from suite import wait_port
        wait_port("127.0.0.1", self.port, 15)

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def pid(self):
        with open(os.path.join(self.top, "spool", "pid", "master.pid")) as f:
            return int(f.read().strip())

    def queued(self, queue="hold"):
        n = 0
        for _, _, files in os.walk(os.path.join(self.top, "spool", queue)):
            n += len(files)
        return n

    def close(self):
        subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True)
        time.sleep(1)


def source(addr, n, sessions, timeout):
    argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(n), "-l", str(MSG_SIZE),
            "-f", f"sender@{DOMAIN}", "-t", "rcpt@elsewhere.bench.test",
            "%s:%d" % addr]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"smtp-source did not finish {n} messages in "
                         f"{timeout:.0f}s")
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise BenchError(f"smtp-source exited {r.returncode}: "
                         f"{r.stderr.decode(errors='replace')[-300:]}")
    return secs, " ".join(argv)


def accept_run(side, n, sessions, clock, run_no):
    if clock.left() < 60:
        raise BenchError(f"{side.name} run {run_no}: no time left")
    before = side.queued()
    cpu0 = proc_tree_cpu(side.pid())
    secs, cmd = source(side.addr, n, sessions,
                       min(max(clock.left() - 30, 30), 60 + n / 20))
    cpu = proc_tree_cpu(side.pid()) - cpu0
    got = side.queued() - before
    if got != n:
        raise BenchError(f"{side.name} run {run_no}: {got} of {n} messages "
                         f"queued")
    rate = n / secs
    log(f"  {side.name} run {run_no}: {n} msgs in {secs:.2f}s = {rate:.1f} "
        f"msg/s, cpu {cpu:.1f}s ({1000 * cpu / n:.2f} ms/msg)  [{cmd}]")
    return rate


def bench_smtp_accept(top, clock, n, runs, sessions):
    name = "smtp_accept"
    log(f"{name}: {n} x {MSG_SIZE} B relayed, smtp-source -s {sessions}, "
        f"{runs} runs each, postfix with every message on hold")
    d = fresh_dir(os.path.join(top, "smtp"))
    sides = []
    try:
        sides.append(OurMta(d))
        sides.append(PostfixSide(d))
        rates = {"ours": [], "postfix": []}
        for r in range(runs):
            for side in sides:
                subprocess.run(["sync"])
                rates[side.name].append(accept_run(side, n, sessions, clock,
                                                   r + 1))
    except BenchError as e:
        return [f"BENCH_ERROR {name} {e}"]
    except Exception as e:      # a server that would not start, ...
        return [f"BENCH_ERROR {name} {type(e).__name__}: {e}"]
    finally:
        for side in sides:
            side.close()
    return [compare(name, rates, "msg/s", peer="postfix")]
