"""A job controller for the tests and the demo, beside an Mta (t/lib/mta.py)
whose msg.conf and queue it shares.

    j = Jobctl(mta)  # programs: lmtp, reprocess, bitbucket (from $SUITE_BUILD/bin)
    j.start()        # jobctl -c MTA_MSG_CONF -f; waits for its socket
    j.queue("list")  # jobctl queue ... (CompletedProcess)
    j.stop(); j.kill9()

Channels get the programs named (from $SUITE_BUILD/bin); every other
channel has none (MASTER_COMMAND=NULL: its entries wait).  Make it before
the mta starts: it writes the keys the mta reads at start-up (the socket
where jobctl hears of new entries) into their shared msg.conf.
"""
import os
import signal
import subprocess
import time

from suite import BUILD, Daemon, Managed

JOBCTL_BIN = os.path.join(BUILD, "bin", "jobctl")


class Jobctl(Managed):
    def __init__(self, mta, programs=None, pools=None, conf=None):
        self.mta = mta
        self.workdir = mta.workdir
        self.log_path = os.path.join(self.workdir, "jobctl.log")
        self.socket = os.path.join(self.workdir, "jobctl.sock")
        self.cnf = os.path.join(self.workdir, "job_controller.cnf")
        programs = programs if programs is not None else {
            "lmtp": "lmtp_client", "reprocess": "reprocess",
            "bitbucket": "bitbucket"}
        lines = ["! written by t/lib/jobctl.py"]
        for name, limit in (pools or {"DEFAULT": 10, "SMTP_POOL": 10,
                                      "LMTP_POOL": 10}).items():
            lines += [f"[POOL={name}]", f"JOB_LIMIT={limit}"]
        for chan, prog in programs.items():
            lines += [f"[CHANNEL={chan}]",
                      f"MASTER_COMMAND={os.path.join(BUILD, 'bin', prog)}"]
        with open(self.cnf, "w") as f:
            f.write("\n".join(lines) + "\n")
        mta.keys.update({"jobctl.conf": self.cnf,
                         "mta.jobctl.socket": self.socket,
                         "jobctl.rescaninterval": "pt2s"})
        mta.keys.update(conf or {})
        mta.write_conf()
        self.daemon = None

    def start(self, timeout=10):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.daemon = Daemon([JOBCTL_BIN, "-c", self.mta.conf_path, "-f"],
                             self.log_path)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if time.monotonic() > deadline or not self.daemon.alive():
                raise RuntimeError("jobctl did not start: " + self.daemon.output())
            time.sleep(0.05)
        return self

    def queue(self, *args):
        return subprocess.run([JOBCTL_BIN, "-c", self.mta.conf_path, "queue", *args],
                              capture_output=True, text=True, timeout=60)

    def wait(self, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()
