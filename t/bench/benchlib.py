"""What every benchmark of t/bench/ shares: logging, the run's deadline,
processes started and stopped by their id, CPU and memory of process
trees, fresh directories, and the BENCH line of a comparison."""
import os
import signal
import statistics
import subprocess
import sys
import time


def log(msg):
    sys.stderr.write(time.strftime("[%H:%M:%S] ") + msg + "\n")
    sys.stderr.flush()


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ helpers


def env_int(name, default, lo=1):
    v = os.environ.get(name, "")
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        sys.exit(f"{name}={v!r}: not a number")
    if n < lo:
        sys.exit(f"{name}={v}: must be >= {lo}")
    return n


class Clock:
    """The whole run's deadline."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


def proc_tree_cpu(pid):
    """CPU seconds (user+sys, including reaped children) of pid and all its
    live descendants."""
    hz = os.sysconf("SC_CLK_TCK")
    children = {}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        ppid = int(fields[1])
        stats[int(d)] = sum(int(x) for x in fields[11:15])
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0)
        todo.extend(children.get(p, []))
    return total / hz


def proc_mem(pid):
    """(RSS, PSS) of one process in KiB; (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def children_mem(ppid, names):
    """(count, RSS, PSS) summed over the children of ppid whose command is
    one of names."""
    n = rss = pss = 0
    r = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(ppid)],
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        pid, comm = line.split(None, 1)
        if comm.strip() in names:
            a, b = proc_mem(int(pid))
            n, rss, pss = n + 1, rss + a, pss + b
    return n, rss, pss


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def fresh_dir(path):
    """mkdir path with the ext4 "top of directory hierarchy" flag, so that
    the directories made in it are spread over new block groups instead of
    following their parent.  On this machine's ext4 (no journal) every inode
    allocation skips, one by one, the inodes of its group freed in the last
    minutes (fs/ext4/ialloc.c recently_deleted()); without the flag a run
    would pay for whatever the machine deleted nearby lately (test suites,
    the previous run), up to 2/3 of the store's CPU.  Harmless elsewhere."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["chattr", "+T", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return path


class Child:
    """A process we started in its own session; stop() by its id only."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        if self.alive():
            try:
                self.proc.terminate()
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # What is left of it (its own process group) goes too.
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


def compare(name, runs, unit, fmt="%.1f", peer="dovecot"):
    """The BENCH line of a rate: medians of the runs, ratio ours/peer."""
    o = statistics.median(runs["ours"])
    p = statistics.median(runs[peer])
    for side in ("ours", peer):
        log(f"  {name} {side:7} runs: {' '.join(fmt % v for v in runs[side])}")
    return (f"BENCH {name} ours={fmt % o} {peer}={fmt % p} "
            f"ratio={o / p:.2f} unit={unit}")
