"""A private dnsmasq for the tests: authoritative answers for test domains
on a loopback port, NXDOMAIN for any other name under .test, nothing from
upstream.

    d = Dnsmasq(workdir, mx={"good.test": [(10, "mx1.good.test")]},
                hosts={"mx1.good.test": "127.0.0.5", "aonly.test": "127.0.0.6"})
    d.start(); d.servers      # "127.0.0.1:PORT", for local.dns.servers
    d.stop()
"""
import os
import shutil
import socket
import time

from suite import Daemon, free_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dnsmasq:
    def __init__(self, workdir, mx=None, hosts=None, host="127.0.0.1"):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.host = host
        self.port = free_port(host)
        self.log_path = os.path.join(self.workdir, "dnsmasq.log")
        self.argv = [DNSMASQ, "--keep-in-foreground", "--no-daemon",
                     f"--port={self.port}", f"--listen-address={host}",
                     "--bind-interfaces", "--no-resolv", "--no-hosts",
                     "--no-poll", "--local=/test/", "--user=root",
                     f"--pid-file={os.path.join(self.workdir, 'pid')}"]
        for domain, records in (mx or {}).items():
            for pref, target in records:
                self.argv.append(f"--mx-host={domain},{target},{pref}")
        for name, addr in (hosts or {}).items():
            self.argv.append(f"--host-record={name},{addr}")
        self.daemon = None

    @property
    def servers(self):
        return f"{self.host}:{self.port}"

    def start(self):
        self.daemon = Daemon(self.argv, self.log_path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._bound():
                return self
            if not self.daemon.alive():
                break
            time.sleep(0.05)
        raise RuntimeError("dnsmasq did not start: " + self.daemon.output())

    def _bound(self):
        """Whether dnsmasq holds its UDP port (our bind is refused)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.host, self.port))
            return False
        except OSError:
            return True
        finally:
            s.close()

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
