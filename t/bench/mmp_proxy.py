"""mmp_logins, mmp_logins_authcache, mmp_fetch_body, mmp_idle_rss -- the
mmp (our IMAP proxy) side by side with nginx's mail proxy, both in front
of the SAME store, in the same run.

  backend: one store (t/lib/store.py), users in slapd as for the IMAP
           benchmark (user0..user999 of bench.test, conf/ldap/sample.ldif
           beside them, whose uid=mmp entry is the mmp's administrator),
           IMAP with plaintextmincipher = 0, the session limits raised to
           100,000 (maxsessions, perclient, peruser) and store.admins =
           mmp@example.com.  BENCH_IMAP_USERS (100) users get the IMAP
           benchmark's mailboxes over LMTP (20 x 4 KiB, UID 21 100 KiB);
           every INBOX is checked directly and through both proxies before
           any figure is taken.
  ours:    the mmp with its defaults (log level info, authcachettl 0: every
           login is a bind as the user in slapd, then the store binds the
           administrator and looks the user up), plus plaintextmincipher =
           0, maxsessions and maxsessionsperclient 100,000, the store as
           mmp.imap.backends; a second mmp, "mmp+cache", the same with
           mmp.authcachettl = pt10m (mmp_logins_authcache).
  nginx:   Debian's nginx-light with libnginx-mod-mail: worker_processes 2
           (the CPUs), accept_mutex off, worker_connections 32768,
           worker_rlimit_nofile; auth_http answered by an http{} server of
           the same nginx that says "Auth-Status: OK" and points at the
           store, so the store checks the user's own LOGIN, which nginx
           passes through (nginx's auth_http client speaks HTTP/1.0 with
           one connection per login: it has no keepalive to tune);
           proxy_buffer at its default (one page) for the logins and the
           memory, 64k in a second nginx ("nginx+buf") for the FETCH
           figure, where the default one page halves nginx's rate (it is
           logged too).
Figures (t/bench/mailload.c, users round robin):
  mmp_logins            sessions/s of connect, LOGIN, SELECT INBOX, FETCH
                        1:10 (FLAGS ENVELOPE), LOGOUT, BENCH_SESSIONS at a
                        time, BENCH_MMP_N (5000) sessions a run; the store
                        reached directly is run too and logged, as the
                        ceiling; mmp_logins_authcache the same for
                        mmp+cache;
  mmp_fetch_body        MB/s of UID FETCH 21 BODY[] repeated on
                        BENCH_SESSIONS logged-in connections for
                        BENCH_IMAP_FETCH_SECS a run, against nginx+buf
                        (nginx and the store directly are logged);
  mmp_idle_rss          KiB of resident memory per idle logged-in
                        connection, BENCH_MMP_IDLE (10000) of them, all
                        1000 users: the growth of the mmp process against
                        that of the sum of nginx's workers, on freshly
                        started proxies after one login of every user.
                        The mmp holds two descriptors a connection in one
                        process: without CAP_SYS_RESOURCE the hard
                        RLIMIT_NOFILE caps the count (20,000 here: 9,872
                        connections), which the log says.
Rates are medians of BENCH_RUNS runs, the sides alternating; every run
logs the CPU seconds of the proxy, the store, slapd and the load client.
RLIMIT_NOFILE is raised (as root) for the servers to hold the idle
connections, and put back at the end.
"""
import os
import resource
import select
import subprocess
import time
import types

from benchlib import (BenchError, Child, compare, env_int, fresh_dir, log,
                      mem_available, proc_mem, proc_tree_cpu)

NGINX = "/usr/sbin/nginx"
NGINX_MAIL = "/usr/lib/nginx/modules/ngx_mail_module.so"
ADMIN = "mmp@example.com"           # uid=mmp in conf/ldap/sample.ldif
LIMITS = "100000"
WORKER_CONNECTIONS = 32768


def tail(path, keep=lambda l: True, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l for l in f if keep(l)]
        return " | ".join(l.strip()[:200] for l in lines[-n:])
    except OSError:
        return ""


class Direct:
    """The store itself: the ceiling of what a proxy can do."""
    name = "store"

    def __init__(self, ours):
        self.ours = ours

    @property
    def addr(self):
        return self.ours.imap

    def pid(self):
        return None

    def alive(self):
        return self.ours.alive()

    def log_tail(self):
        return self.ours.log_tail()


class MmpSide:
    def __init__(self, top, name, ours, conf=None):
        from mmp import Mmp, ADMIN as MMP_ADMIN
        assert MMP_ADMIN == ADMIN
        self.name = name
        backend = types.SimpleNamespace(imap=ours.imap)
        keys = {"mmp.maxsessions": LIMITS,
                "mmp.maxsessionsperclient": LIMITS,
                "mmp.pop.listen": None,
                # t/lib/mmp.py's test settings that are not the defaults
                "mmp.badloginmaxdelay": None,
                "mmp.backend.timeout": None,
                "local.log.level": None}
        keys.update(conf or {})
        self.mmp = Mmp(os.path.join(top, name), slapd=ours.slapd,
                       host="127.0.0.1", backends={ours.mailhost: backend},
                       conf=keys)

    def start(self):
        self.mmp.start(timeout=15)

    def restart(self):
        self.stop()
        self.start()

    @property
    def addr(self):
        return self.mmp.imap

    def pid(self):
        return self.mmp.daemon.proc.pid

    def alive(self):
        return self.mmp.daemon is not None and self.mmp.daemon.alive()

    def mem(self):
        """(processes, RSS, PSS) in KiB."""
        return (1,) + proc_mem(self.pid())

    def log_tail(self):
        return tail(self.mmp.log_path, lambda l: "result=ok" not in l)

    def stop(self):
        if self.mmp.daemon is not None:
            alive = self.alive()
            rc = self.mmp.stop()
            if not alive:
                raise BenchError(f"{self.name} died (exit {rc}); log: "
                                 f"{self.log_tail()}")

    def close(self):
        try:
            self.stop()
        except (BenchError, AssertionError) as e:
            log(f"  {self.name}: {e}")


class NginxSide:
    """nginx's mail proxy; its auth_http answered by its own http{}."""
    def __init__(self, top, store_addr, nofile, name="nginx", buffer=None):
        from suite import free_port
        self.name = name
        self.dir = fresh_dir(os.path.join(top, name))
        os.makedirs(os.path.join(self.dir, "tmp"))
        self.port = free_port("127.0.0.1")
        self.auth_port = free_port("127.0.0.1")
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.errlog = os.path.join(self.dir, "error.log")
        self.master = None
        self.workers = 2
        t = os.path.join(self.dir, "tmp")
        with open(self.conf, "w") as f:
            f.write(f"""\
# written by t/bench/mmp_proxy.py
load_module {NGINX_MAIL};
worker_processes {self.workers};
worker_rlimit_nofile {nofile};
pid {self.dir}/nginx.pid;
error_log {self.errlog} warn;
daemon off;
events {{
    worker_connections {WORKER_CONNECTIONS};
    accept_mutex off;
}}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    server {{
        listen 127.0.0.1:{self.auth_port} backlog=4096;
        location = /auth {{
            add_header Auth-Status OK;
            add_header Auth-Server {store_addr[0]};
            add_header Auth-Port {store_addr[1]};
            return 200;
        }}
    }}
}}
mail {{
    server_name imap.bench.test;
    auth_http 127.0.0.1:{self.auth_port}/auth;
    proxy_pass_error_message on;
{f"    proxy_buffer {buffer};" if buffer else ""}
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        protocol imap;
        imap_auth plain login;
    }}
}}
""")
        self.argv = [NGINX, "-p", self.dir + "/", "-c", self.conf,
                     "-e", self.errlog]
        r = subprocess.run(self.argv + ["-t", "-q"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise BenchError(f"nginx -t: {(r.stderr + tail(self.errlog)).strip()[-300:]}")

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def start(self):
        from suite import wait_port
        self.master = Child(self.argv, os.path.join(self.dir, "nginx.out"))
        wait_port("127.0.0.1", self.port, 15, self.master.proc)
        wait_port("127.0.0.1", self.auth_port, 15, self.master.proc)
        deadline = time.monotonic() + 10
        while len(self.worker_pids()) < self.workers:
            if time.monotonic() > deadline:
                raise BenchError(f"nginx: {len(self.worker_pids())} workers "
                                 f"after 10s; {tail(self.errlog)}")
            time.sleep(0.05)

    def restart(self):
        self.stop()
        self.start()

    def pid(self):
        return self.master.pid

    def worker_pids(self):
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.master.pid)],
                           capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()]

    def alive(self):
        return (self.master is not None and self.master.alive()
                and len(self.worker_pids()) == self.workers)

    def mem(self):
        """(workers, RSS, PSS) in KiB, summed over the workers."""
        n = rss = pss = 0
        for p in self.worker_pids():
            a, b = proc_mem(p)
            n, rss, pss = n + 1, rss + a, pss + b
        return n, rss, pss

    def log_tail(self):
        return tail(self.errlog)

    def stop(self):
        if self.master is not None:
            alive = self.alive()
            rc = self.master.stop()
            self.master = None
            if not alive:
                raise BenchError(f"nginx died (exit {rc}); {self.log_tail()}")

    def close(self):
        try:
            self.stop()
        except BenchError as e:
            log(f"  {e}")


# ------------------------------------------------------------ the runs

class Cpu:
    """CPU seconds of a side's proxy, the store and slapd over a run."""

    def __init__(self, side, ours):
        self.side, self.ours = side, ours
        self.t0 = self._now()

    def _now(self):
        p = self.side.pid()
        return (proc_tree_cpu(p) if p else 0.0, proc_tree_cpu(self.ours.pid()),
                self.ours.extra_cpu())

    def note(self, res=None, sessions=None):
        """res: mailload's result, for the client's CPU."""
        t1 = self._now()
        proxy, store, slapd = (b - a for a, b in zip(self.t0, t1))
        s = (f"load {os.getloadavg()[0]:.1f}, cpu proxy {proxy:.1f}s, store "
             f"{store:.1f}s, slapd {slapd:.1f}s")
        if res is not None:
            s += f", client {res['cpu']:.1f}s"
        if sessions:
            s += (f" = {1000 * proxy / sessions:.2f} + {1000 * store / sessions:.2f}"
                  f" + {1000 * slapd / sessions:.2f} ms a session")
        return s


def login_run(run, side, ours, exe, users, n, workdir, clock):
    """mmp_logins: one run against side; sessions/s."""
    if clock.left() < 30:
        raise BenchError("no time left (BENCH_DEADLINE)")
    limit = min(max(clock.left() - 20, 10), 60 + n / 50)
    cpu = Cpu(side, ours)
    res, cmd, err = run.mailload(exe, "imap-login", side.addr, users,
                                 ["-c", run.SESSIONS, "-n", n, "-t", limit],
                                 workdir, limit + 60)
    if (res["ok"] != n or res["errors"] or res["fetched"] != 10 * n
            or not side.alive() or not ours.alive()):
        raise BenchError(f"{side.name}: {res['ok']:.0f} of {n} sessions, "
                         f"{res['errors']:.0f} errors, {res['fetched']:.0f} "
                         f"FETCH responses, alive={side.alive()}, store "
                         f"alive={ours.alive()}; {err[:200]}; log: "
                         f"{side.log_tail()}")
    log(f"  mmp_logins {side.name:9} run: {n} sessions in {res['secs']:.2f}s "
        f"= {res['per_s']:.1f}/s, {cpu.note(res, n)}  [{cmd}]")
    return res["per_s"]


def fetch_run(run, side, ours, exe, users, size, workdir, clock):
    """mmp_fetch_body: one run against side; MB/s of message octets."""
    if clock.left() < 30:
        raise BenchError("no time left (BENCH_DEADLINE)")
    secs = run.FETCH_SECS
    cpu = Cpu(side, ours)
    res, cmd, err = run.mailload(exe, "imap-fetch", side.addr, users,
                                 ["-c", run.SESSIONS, "-n", 10 ** 9, "-t", secs,
                                  "-m", run.BIG_UID], workdir, secs + 60)
    if (res["errors"] or not res["ok"] or res["body_bytes"] != res["ok"] * size
            or res["fetched"] < res["ok"] or not side.alive()):
        raise BenchError(f"{side.name}: {res['ok']:.0f} fetches, "
                         f"{res['errors']:.0f} errors, {res['body_bytes']:.0f} "
                         f"octets of message ({size} each expected), "
                         f"alive={side.alive()}; {err[:200]}; log: "
                         f"{side.log_tail()}")
    mbs = res["body_bytes"] / res["secs"] / 1e6
    log(f"  mmp_fetch_body {side.name:9} run: {res['ok']:.0f} x {size} B in "
        f"{res['secs']:.2f}s = {res['per_s']:.0f} fetches/s, {mbs:.1f} MB/s, "
        f"{cpu.note(res)}  [{cmd}]")
    return mbs


def idle_run(run, side, ours, exe, users, nconn, workdir):
    """mmp_idle_rss: (RSS, PSS) KiB of the proxy per idle logged-in
    connection, nconn of them."""
    n0, rss0, pss0 = side.mem()
    st0 = ours.mem()[1]
    ma0 = mem_available()
    cpu = Cpu(side, ours)
    argv = [exe, "imap-idle", side.addr[0], str(side.addr[1]), "-u", users,
            "-c", str(nconn), "-p", "20", "-t", "150"]
    err_path = os.path.join(workdir, "mailload-idle.err")
    with open(err_path, "wb") as errf:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=errf, start_new_session=True)

    def read_until(done, secs):
        data = b""
        deadline = time.monotonic() + secs
        while not done(data) and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
        return data

    try:
        line = read_until(lambda d: b"\n" in d, 200).decode(errors="replace").strip()
        if not line.startswith("READY"):
            raise BenchError(f"{side.name}: mailload imap-idle: {line!r}; "
                             f"{tail(err_path)}; log: {side.log_tail()}")
        res = run.parse_result(line[6:])
        if res["ok"] != nconn or res["errors"]:
            raise BenchError(f"{side.name}: {res['ok']:.0f} of {nconn} idle "
                             f"logins, {res['errors']:.0f} errors; "
                             f"{tail(err_path)}; log: {side.log_tail()}")
        cpu_logins = cpu.note(sessions=nconn)
        time.sleep(2)
        n1, rss1, pss1 = side.mem()
        st1 = ours.mem()[1]
        ma1 = mem_available()
        crss, _ = proc_mem(p.pid)
        p.stdin.close()
        out = read_until(lambda d: False, 60)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    fin = run.parse_result((out.decode(errors="replace").strip().splitlines()
                            or [""])[-1])
    if fin.get("dropped") or not side.alive():
        raise BenchError(f"{side.name}: {fin.get('dropped', 0):.0f} idle "
                         f"connections dropped, alive={side.alive()}; "
                         f"log: {side.log_tail()}")
    rss = (rss1 - rss0) / nconn
    pss = (pss1 - pss0) / nconn
    log(f"  mmp_idle {side.name}: {nconn} connections logged in in "
        f"{res['secs']:.1f}s ({cpu_logins}); processes {n0} -> {n1}, RSS {rss0} -> {rss1} "
        f"KiB, PSS {pss0} -> {pss1} KiB: {rss:.1f} KiB RSS, {pss:.1f} KiB "
        f"PSS per connection; the store's RSS {st0} -> {st1} KiB "
        f"({(st1 - st0) / nconn:.1f} KiB per session); MemAvailable "
        f"-{(ma0 - ma1) / nconn:.1f} KiB per connection (everything); "
        f"client RSS {crss} KiB  [{' '.join(argv)}]")
    return rss, pss


def raise_nofile(want):
    """Raise RLIMIT_NOFILE, soft and hard, towards want for the children
    (the hard limit only with CAP_SYS_RESOURCE; without it, as far as the
    hard limit goes); returns the old limits, to put back."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if old[1] != resource.RLIM_INFINITY and old[1] < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return old
    except (ValueError, OSError) as e:
        log(f"  setrlimit(RLIMIT_NOFILE, {want}): {e}; the hard limit "
            f"{old[1]} stays")
    resource.setrlimit(resource.RLIMIT_NOFILE, (old[1], old[1]))
    return old


def write_users(path, users, run):
    with open(path, "w") as f:
        for i in users:
            f.write(f"user{i}@{run.DOMAIN} {run.password(i)}\n")
    return path


NAMES = ["mmp_logins", "mmp_logins_authcache", "mmp_fetch_body",
         "mmp_idle_rss"]


def bench_mmp_proxy(top, clock, run):
    """run: t/bench/run's module (its helpers, RUNS, SESSIONS, ...)."""
    for f in (NGINX, NGINX_MAIL):
        if not os.path.exists(f):
            return [f"BENCH_ERROR {n} {f} missing: run BENCH=1 t/lib/deps.sh"
                    for n in NAMES]
    n = env_int("BENCH_MMP_N", 5000)
    nidle = env_int("BENCH_MMP_IDLE", 10000)
    log(f"mmp: the mmp and nginx's mail proxy in front of one store; "
        f"{run.IMAP_USERS} users with mailboxes; logins: {run.RUNS} runs x "
        f"{n} sessions, {run.SESSIONS} at a time; fetch: {run.RUNS} runs x "
        f"{run.FETCH_SECS}s on {run.SESSIONS} connections; idle: {nidle} "
        f"connections of {run.USERS} users")
    d = fresh_dir(os.path.join(top, "mmp"))
    old_nofile = None
    ours = None
    sides = []
    try:
        old_nofile = raise_nofile(max(65536, 2 * nidle + 8192))
        # The mmp holds two descriptors per proxied connection, in one
        # process, and a few of its own.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and 2 * nidle + 256 > hard:
            nidle = (hard - 256) // 2
            log(f"  mmp_idle_rss: {nidle} idle connections, not more: "
                f"RLIMIT_NOFILE's hard limit is {hard}")
        ours = run.OurSide(d, 0, imap=True)
        return measure(run, clock, d, ours, sides, n, nidle)
    except Exception as e:      # a server that would not start, ...
        why = e if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
        return [f"BENCH_ERROR {n_} {why}" for n_ in NAMES]
    finally:
        # Every process started goes, however we leave (SIGINT, SIGTERM
        # arrive as SystemExit).
        for side in sides:
            side.close()
        if ours is not None:
            ours.close()
        if old_nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, old_nofile)


def measure(run, clock, d, ours, sides, n, nidle):
    """The setup, then the figures: the BENCH lines.  sides gets every
    proxy as it is made, for the caller to close."""
    exe = run.build_mailload(d)
    users = write_users(os.path.join(d, "users.txt"), range(run.IMAP_USERS),
                        run)
    all_users = write_users(os.path.join(d, "all-users.txt"), range(run.USERS),
                            run)
    ours.conf["store.admins"] = ADMIN
    ours.mailhost = run.MAILHOST
    t0 = time.monotonic()
    run.imap_fill(ours.start(), run.IMAP_USERS)
    size = run.imap_check(ours.imap, run.IMAP_USERS)
    log(f"  store: mailboxes filled and checked in "
        f"{time.monotonic() - t0:.1f}s, large message {size} B")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    # One at a time: each takes free ports, which are free only until
    # the previous one listens on them.
    for make in (lambda: MmpSide(d, "mmp", ours),
                 lambda: MmpSide(d, "mmp+cache", ours,
                                 {"mmp.authcachettl": "pt10m"}),
                 lambda: NginxSide(d, ours.imap, nofile),
                 lambda: NginxSide(d, ours.imap, nofile, "nginx+buf", "64k")):
        side = make()
        sides.append(side)
        side.start()
        t0 = time.monotonic()
        got = run.imap_check(side.addr, run.IMAP_USERS)
        if got != size:
            raise BenchError(f"{side.name}: the large message has {got} "
                             f"octets, not {size}")
        log(f"  {side.name}: every INBOX checked through it in "
            f"{time.monotonic() - t0:.1f}s")
    mmp, cached, nginx, nginx_buf = sides
    direct = Direct(ours)
    lines = []
    try:
        runs = {"ours": [], "cached": [], "nginx": [], "store": []}
        for r in range(run.RUNS):
            for side, key in ((mmp, "ours"), (nginx, "nginx"),
                              (cached, "cached"), (direct, "store")):
                runs[key].append(login_run(run, side, ours, exe, users, n,
                                           d, clock))
        log(f"  mmp_logins store (direct) runs: "
            f"{' '.join('%.1f' % v for v in runs['store'])}")
        lines.append(compare("mmp_logins", runs, "sessions/s",
                             peer="nginx"))
        lines.append(compare("mmp_logins_authcache",
                             {"ours": runs["cached"], "nginx": runs["nginx"]},
                             "sessions/s", peer="nginx"))
    except BenchError as e:
        lines += [f"BENCH_ERROR {n_} {e}" for n_ in NAMES[:2]]
    try:
        runs = {"ours": [], "nginx": [], "nginx+buf": [], "store": []}
        for r in range(run.RUNS):
            for side, key in ((mmp, "ours"), (nginx, "nginx"),
                              (nginx_buf, "nginx+buf"), (direct, "store")):
                runs[key].append(fetch_run(run, side, ours, exe, users,
                                           size, d, clock))
        for key in ("nginx", "store"):
            log(f"  mmp_fetch_body {key} runs (logged only): "
                f"{' '.join('%.1f' % v for v in runs[key])}")
        lines.append(compare("mmp_fetch_body", {"ours": runs["ours"],
                                                "nginx": runs["nginx+buf"]},
                             "MB/s", peer="nginx"))
    except BenchError as e:
        lines.append(f"BENCH_ERROR mmp_fetch_body {e}")
    # Memory last, on fresh proxies after one login of every user.
    try:
        cached.close()
        mem = {}
        for side in (mmp, nginx):
            if clock.left() < 90:
                raise BenchError("no time left (BENCH_DEADLINE)")
            side.restart()
            res, cmd, err = run.mailload(
                exe, "imap-login", side.addr, all_users,
                ["-L", "-c", run.SESSIONS, "-n", run.USERS, "-t", 60], d, 90)
            if res["ok"] != run.USERS or res["errors"]:
                raise BenchError(f"{side.name}: warm-up: {res['ok']:.0f} "
                                 f"of {run.USERS} logins; {err[:200]}")
            mem[side.name] = idle_run(run, side, ours, exe, all_users,
                                      nidle, d)
        o, p = mem["mmp"][0], mem["nginx"][0]
        ratio = f"{p / o:.2f}" if o > 0 else "inf"
        lines.append(f"BENCH mmp_idle_rss ours={o:.1f} nginx={p:.1f} "
                     f"ratio={ratio} unit=KiB/conn")
    except BenchError as e:
        lines.append(f"BENCH_ERROR mmp_idle_rss {e}")
    return lines
