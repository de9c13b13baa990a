"""The mta's promise: 250 means the message is on disk, in every queue
its recipients need.  Disk full, kill -9 under load, leftovers of a crash,
jobctl's notifications, and configuration checks and reloads."""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from mta import Mta
from smtpclient import Smtp

MSG = b"Subject: queue\r\n\r\n" + b"line of the body\r\n" * 20


def send(m, rcpts, body=MSG):
    c = Smtp(m.smtp)
    c.ehlo()
    return c.transaction("s@example.net", rcpts, body)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_queue_answers_452_and_leaves_nothing(tmp_path, slapd):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                   check=True)
    try:
        m = Mta(tmp_path / "m", slapd=slapd,
                conf={"mta.queue.path": str(mnt / "queue")})
        m.queue = str(mnt / "queue")
        m.start()
        try:
            assert send(m, ["alice@example.com"])[-1][0] == 250
            code, text = send(m, ["alice@example.com", "x@elsewhere.example"],
                              MSG * 2000)[-1]
            assert (code, text[0]) == (452, "4.3.1 Insufficient system storage")
            assert m.tmp_files() == []
            assert len(m.entries()) == 1
            assert send(m, ["bob@example.com"])[-1][0] == 250, "space came back"
        finally:
            m.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def sender_loop(m, tag, acked, stop):
    """Send until told to stop or the mta dies; record each queue id."""
    i = 0
    try:
        c = Smtp(m.smtp)
        c.ehlo()
        while not stop.is_set():
            body = b"Subject: %s-%d\r\n\r\n" % (tag.encode(), i) + MSG
            replies = c.transaction("s@example.net",
                                    ["alice@example.com", "x@elsewhere.example"], body)
            code, text = replies[-1]
            if code == 250:
                acked.append((text[0].split()[-1], len(body)))
            i += 1
    except (ConnectionError, OSError):
        pass


def test_kill9_under_load_loses_nothing_acknowledged(make_mta):
    m = make_mta()
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=sender_loop, args=(m, f"t{i}", acked, stop))
               for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    m.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 40
    found = {}
    for e in m.entries():
        found.setdefault(e["env"]["id"], {})[e["channel"]] = e
    for qid, _ in acked:
        assert set(found.get(qid, {})) == {"lmtp", "tcp_local"}, qid
        for e in found[qid].values():
            assert int(e["env"]["size"]) == len(e["msg"])
            assert e["msg"].endswith(MSG)
    # A restart clears what the dead process was still receiving.
    m.start()
    assert m.tmp_files() == []
    assert send(m, ["alice@example.com"])[-1][0] == 250


def test_one_file_per_entry(make_mta):
    """CHANNEL/[SS/]ID: the envelope, an empty line, the message as sent."""
    m = make_mta()
    code, text = send(m, ["alice@example.com", "x@elsewhere.example"])[-1]
    qid = text[0].split()[-1]
    entries = m.entries()
    assert sorted(e["channel"] for e in entries) == ["lmtp", "tcp_local"]
    for e in entries:
        assert os.path.basename(e["path"]) == qid
        assert e["env"]["id"] == qid and e["env"]["channel"] == e["channel"]
        assert e["msg"].endswith(MSG) and e["msg"].startswith(b"Received: ")
        with open(e["path"], "rb") as f:
            assert f.read().endswith(b"\n\n" + e["msg"])
        assert os.stat(e["path"]).st_nlink == 1
    # (tmp/ names go just after the 250: not looked at)
    files = [os.path.join(d, f) for d, _, fs in os.walk(m.queue) for f in fs
             if os.path.relpath(d, m.queue).split(os.sep)[0] != "tmp"]
    assert sorted(files) == sorted(e["path"] for e in entries), "nothing else"


def test_rcpt_between_bdat_chunks_is_refused(make_mta):
    """The envelopes are written at the first chunk: a later recipient
    is refused, and the message goes to the ones accepted before."""
    m = make_mta()
    c = Smtp(m.smtp)
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    c.send(b"BDAT %d\r\n" % len(MSG) + MSG)
    assert c.reply()[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 503
    c.send(b"BDAT 0 LAST\r\n")
    assert c.reply()[0] == 250
    [e] = m.entries()
    assert [r["address"] for r in e["env"]["rcpt"]] == ["alice@example.com"]


def test_jobctl_is_told_of_new_entries(make_mta, tmp_path):
    path = str(tmp_path / "jobctl.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    m = make_mta(conf={"mta.jobctl.socket": path})
    code, text = send(m, ["alice@example.com", "x@elsewhere.example"])[-1]
    qid = text[0].split()[-1]
    got = sorted(sock.recv(4096).decode().strip() for _ in range(2))
    assert [g.split("/")[0] for g in got] == ["lmtp", "tcp_local"]
    assert all(g.endswith("/" + qid) for g in got)
    sock.close()


def test_jobctl_down_changes_nothing(make_mta, tmp_path):
    m = make_mta(conf={"mta.jobctl.socket": str(tmp_path / "nobody.sock")})
    assert send(m, ["alice@example.com"])[-1][0] == 250


def test_config_check_reports_every_error(make_mta):
    m = make_mta(start=False, imta="example.com $U@nochannel\n\nl bogus_keyword\nlocalhost\n",
                 conf={"service.smtp.maxbogus": "1", "service.smtp.maxrecipients": "0"})
    r = m.check_config()
    assert r.returncode == 1
    assert "unknown key service.smtp.maxbogus" in r.stderr
    m.keys.pop("service.smtp.maxbogus")
    m.write_conf()
    r = m.check_config()
    assert r.returncode == 1
    assert "service.smtp.maxrecipients: 0 is out of range" in r.stderr
    assert "imta.cnf:3:" in r.stderr and "bogus_keyword" in r.stderr


def test_reload_refuses_a_broken_configuration(make_mta):
    m = make_mta()
    with open(os.path.join(m.workdir, "mappings"), "a") as f:
        f.write("\nBROKEN TABLE WITHOUT BLANK LINE\n  x\n")
    m.reload()
    time.sleep(0.5)
    assert "reload refused" in m.log()
    assert send(m, ["alice@example.com"])[-1][0] == 250
    # A good change takes effect for new sessions.
    with open(os.path.join(m.workdir, "mappings"), "w") as f:
        f.write("SEND_ACCESS\n\n  *|*|lmtp|alice@example.com  $NAlice$ is$ away\n")
    m.reload()
    deadline = time.monotonic() + 5
    while "reloaded" not in m.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    replies = send(m, ["alice@example.com"])
    assert replies[1] == (550, ["5.7.1 Alice is away"])


def test_sigterm_lets_a_transaction_finish(make_mta):
    m = make_mta()
    c = Smtp(m.smtp)
    c.ehlo()
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    m.daemon.send(signal.SIGTERM)
    time.sleep(0.3)
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    code, _ = c.reply()
    assert code == 421, "goodbye after the transaction"
    assert m.daemon.proc.wait(10) == 0
    m.daemon = None
    assert len(m.entries()) == 1


@pytest.mark.parametrize("role", ["inbound", "submit"])
def test_shipped_role_configurations_check(tmp_path, role):
    """conf/mta/{inbound,submit}.msg.conf with the shipped files pass -t
    (paths moved into a scratch directory)."""
    from mta import MTA_BIN
    from suite import ROOT
    src = os.path.join(ROOT, "conf", "mta")
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("imta.cnf", "mappings", "aliases"):
        (etc / name).write_text(open(os.path.join(src, name)).read())
    text = open(os.path.join(src, f"{role}.msg.conf")).read()
    text = text.replace("/etc/mailsuite/", f"{etc}/")
    text = text.replace("/var/spool/mailsuite/", f"{tmp_path}/spool/")
    text = text.replace("/var/log/mailsuite/", f"{tmp_path}/log/")
    (tmp_path / "msg.conf").write_text(text)
    r = subprocess.run([MTA_BIN, "-c", str(tmp_path / "msg.conf"), "-t"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
