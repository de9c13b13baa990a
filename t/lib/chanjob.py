"""Driving a channel program (lmtp_client, smtp_client, ...) the way
jobctl does (common/channel_job.h), for the tests: feed "entry PATH"
lines, read its rcpt/done answers, write odd entry files by hand, and
check that the program changed no queue file.

    out, err = run_job("lmtp_client", m, [f"entry {path}"], "lmtp")
    rcpt_lines(out, path)        # {index: (result, code, text)}
"""
import hashlib
import os
import random
import subprocess
import time

from suite import BUILD


def rel(m, entry):
    """An entry's path relative to the queue root (what jobs are given)."""
    return os.path.relpath(entry["path"], m.queue)


def run_job(program, m, lines, channel):
    """Feed lines, close stdin; (stdout lines, stderr) of a job that must
    exit 0 without a sanitizer report."""
    proc = subprocess.run([os.path.join(BUILD, "bin", program), "-c",
                           m.conf_path, channel], cwd=m.queue,
                          input="".join(l + "\n" for l in lines),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Sanitizer" not in proc.stderr and "runtime error:" not in proc.stderr, \
        proc.stderr
    return proc.stdout.splitlines(), proc.stderr


def rcpt_lines(out, path):
    """{index: (result, code, text)} of path's rcpt lines."""
    got = {}
    for line in out:
        kind, _, rest = line.partition(" ")
        if kind != "rcpt":
            continue
        p, idx, result, code, text = rest.split(" ", 4)
        if p == path:
            assert int(idx) not in got, f"two lines for {idx}: {out}"
            got[int(idx)] = (result, int(code), text)
    return got


def snapshot(m):
    """Every queue file's bytes, mtime and inode, to check nothing changed."""
    snap = {}
    for root, _, files in os.walk(m.queue):
        for f in files:
            p = os.path.join(root, f)
            st = os.stat(p)
            snap[p] = (hashlib.sha256(open(p, "rb").read()).hexdigest(),
                       st.st_mtime_ns, st.st_ino)
    return snap


def xtext(s):
    return "".join(chr(b) if 33 <= b <= 126 and b not in (43, 61) else "+%02X" % b
                   for b in s.encode())


def write_entry(m, rcpts, body, sender="s@example.net", channel="lmtp",
                extra=()):
    """An entry file in the queue format (common/queue.h), for the cases
    an SMTP client cannot make; rcpts are addresses or (address, attrs).
    Returns its path relative to the queue root."""
    qid = "".join(random.choice("0123456789ABCDEFGHIJKLMNOPQRSTUV") for _ in range(16))
    env = ["version 1", f"id {qid}", f"created {int(time.time())}",
           f"channel {channel}", "source tcp_local", f"from <{xtext(sender)}>", *extra]
    for r in rcpts:
        addr, attrs = (r, "") if isinstance(r, str) else r
        env.append(f"rcpt <{xtext(addr)}>{attrs}")
    path = os.path.join(channel, "%02d" % random.randrange(20), qid)
    os.makedirs(os.path.join(m.queue, os.path.dirname(path)), exist_ok=True)
    with open(os.path.join(m.queue, path), "wb") as f:
        f.write(("\n".join(env) + "\n\n").encode() + body)
    return path
