"""Shared plumbing for the integration tests: where the build is, free
loopback ports, waiting for a listener, and running a daemon as a child
that is always killed at the end of the test."""
import os
import random
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SUITE_BUILD", os.path.join(ROOT, "build"))


_handed_out = set()


def _ephemeral_low():
    """The first port the kernel gives outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1"):
    """A TCP port that is free on host right now, below the kernel's
    ephemeral range (an outgoing connection of some daemon could otherwise
    take it before the daemon meant to listen on it binds it), and never
    handed out before by this process."""
    low, high = 10000, _ephemeral_low() - 1
    for _ in range(10000):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port on {host} in {low}..{high}")


def wait_port(host, port, timeout=10.0, proc=None):
    """Wait until host:port accepts a connection; fail if proc dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def sanitized(binary):
    """Whether binary was built with ASan (make asan)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class Daemon:
    """A child process with its stderr in a log file; stop() is idempotent."""

    def __init__(self, argv, log_path, env=None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def send(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def stop_checked(self):
        """Stop it; a sanitizer report in its log (make asan) fails the
        test that stopped it."""
        rc = self.stop()
        log = self.output()
        if "Sanitizer" in log or "runtime error:" in log:
            raise AssertionError("sanitizer report in %s:\n%s"
                                 % (self.log_path, log[-4000:]))
        return rc

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Managed:
    """What the harness's daemon classes (Mta, Jobctl, Mmp) share: a
    msg.conf written from self.keys to self.conf_path, and the Daemon in
    self.daemon, logging to self.log_path, that stop() and kill9() end."""
    daemon = None

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(f"# written by t/lib ({type(self).__name__})\n")
            for k, v in self.keys.items():
                if v is not None:
                    f.write(f"{k} = {v}\n")

    def stop(self):
        """Stop it; a sanitizer report in its log (make asan) fails the test."""
        if self.daemon is None:
            return None
        daemon, self.daemon = self.daemon, None
        return daemon.stop_checked()

    def kill9(self):
        if self.daemon is not None:
            self.daemon.kill9()
            self.daemon = None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()
