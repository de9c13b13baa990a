"""The store under trouble: directory down, disk full, kill -9, and bad
configuration.  Temporary trouble must be a temporary failure, and nothing
that got 250 may be lost."""
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from lmtpclient import Lmtp, make_message
from mindex import Index
from slapd import Slapd
from store import Store
from suite import free_port


@pytest.fixture
def own_slapd(tmp_path):
    s = Slapd(tmp_path / "ldap")
    s.start()
    yield s
    s.stop()


def session(st):
    c = Lmtp(*st.lmtp)
    c.lhlo()
    return c


def test_directory_down_is_a_temporary_failure(tmp_path, own_slapd):
    st = Store(tmp_path / "s", slapd=own_slapd, host="127.0.0.2",
               conf={"local.ldap.cache.ttl": "0", "local.ldap.timeout": "pt2s"}).start()
    try:
        c = session(st)
        assert c.deliver("s@example.net", ["alice@example.com"], make_message("up"))[2][0][0] == 250
        own_slapd.stop()
        c.cmd("MAIL FROM:<s@example.net>")
        t0 = time.monotonic()
        assert c.cmd("RCPT TO:<carol@example.org>")[:2] == \
            (451, "4.4.3 Directory unavailable, try again later")
        assert time.monotonic() - t0 < 10
        c.cmd("RSET")
        own_slapd.restart()
        deadline = time.monotonic() + 15
        while True:
            c.cmd("MAIL FROM:<s@example.net>")
            code = c.cmd("RCPT TO:<carol@example.org>")[0]
            c.cmd("RSET")
            if code == 250 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert code == 250
    finally:
        st.stop()


def test_second_directory_server_takes_over(tmp_path, own_slapd):
    dead = f"ldap://127.0.0.1:{free_port()}"
    st = Store(tmp_path / "s", host="127.0.0.2",
               ldap_uri=f"{dead} {own_slapd.uri.rstrip('/')}").start()
    try:
        c = session(st)
        assert c.deliver("s@example.net", ["alice@example.com"], make_message("fo"))[2][0][0] == 250
    finally:
        st.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_partition_answers_452_and_leaves_nothing(tmp_path, slapd):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        st = Store(tmp_path / "s", slapd=slapd, host="127.0.0.2",
                   conf={"store.partition.primary.path": str(mnt / "primary")}).start()
        st.partition = str(mnt / "primary")
        try:
            c = session(st)
            assert c.deliver("s@example.net", ["alice@example.com"],
                             make_message("fits"))[2][0][0] == 250
            _, _, data = c.deliver("s@example.net", ["alice@example.com", "carol@example.org"],
                                   make_message("too big", size=400000))
            assert data == [(452, "4.3.1 Insufficient system storage")] * 2
            assert os.listdir(os.path.join(st.partition, "tmp")) == []
            assert len(st.inbox_files("alice@example.com")) == 1
            idx = Index(st.dbdir)
            assert idx.mailbox("alice@example.com")["exists"] == 1
            idx.close()
            # Space comes back: delivery works again.
            assert c.deliver("s@example.net", ["alice@example.com"],
                             make_message("again"))[2][0][0] == 250
        finally:
            st.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def sender_loop(st, user, tag, acked, stop):
    """Deliver until told to stop or the store dies; record each 250."""
    i = 0
    try:
        c = session(st)
        while not stop.is_set():
            subject = f"{tag}-{i}"
            _, _, data = c.deliver("s@example.net", [user], make_message(subject))
            if data and data[0][0] == 250:
                acked.append(subject)
            i += 1
    except (OSError, ConnectionError, AssertionError, ValueError):
        pass


def test_kill9_loses_no_acknowledged_message(tmp_path, slapd):
    st = Store(tmp_path / "s", slapd=slapd, host="127.0.0.2").start()
    users = ["alice@example.com", "carol@example.org", "ivan@example.com", "judy@example.org"]
    acked = {u: [] for u in users}
    for round_ in range(3):
        stop = threading.Event()
        threads = [threading.Thread(target=sender_loop,
                                    args=(st, u, f"r{round_}", acked[u], stop)) for u in users]
        for t in threads:
            t.start()
        time.sleep(0.5 + random.random())
        st.kill9()
        stop.set()
        for t in threads:
            t.join(10)
        st.start()
    st.stop()
    idx = Index(st.dbdir)
    total = 0
    for u in users:
        box = idx.mailbox(u)
        recs = idx.messages_of(box["id"]) if box else {}
        subjects = {r["envelope"]["subject"] for r in recs.values()}
        missing = set(acked[u]) - subjects
        assert not missing, (u, sorted(missing)[:5])
        # Every index record has its file.
        files = {uid for uid, _ in st.inbox_files(u)}
        assert set(recs) <= files
        total += len(acked[u])
    idx.close()
    assert total > 20       # the loop really delivered


def test_config_check_reports_file_and_line(tmp_path, slapd):
    st = Store(tmp_path / "s", slapd=slapd)
    base = len(open(st.conf_path).read().splitlines())
    st.write_conf("store.bogus = 1\nservice.lmtp.maxrecipients = lots\n"
                  "other.daemon.key = ignored\nno equals sign\n")
    out = st.check_config()
    assert out.returncode != 0
    assert f"msg.conf:{base + 4}: expected \"key = value\"" in out.stderr
    st.write_conf("store.bogus = 1\nservice.lmtp.maxrecipients = lots\n"
                  "other.daemon.key = ignored\n")
    out = st.check_config()
    assert f"msg.conf:{base + 1}: unknown key store.bogus" in out.stderr
    assert (f"msg.conf:{base + 2}: service.lmtp.maxrecipients: \"lots\" is not "
            "an integer") in out.stderr
    assert "other.daemon.key" not in out.stderr
    st.write_conf()
    out = st.check_config()
    assert out.returncode == 0, out.stderr


def test_sighup_reloads_and_refuses_a_broken_file(tmp_path, slapd):
    st = Store(tmp_path / "s", slapd=slapd, host="127.0.0.2").start()
    try:
        c = session(st)
        st.keys["service.lmtp.maxrecipients"] = "1"
        st.write_conf()
        st.daemon.send(signal.SIGHUP)
        time.sleep(0.3)
        c2 = session(st)
        c2.cmd("MAIL FROM:<s@example.net>")
        assert c2.cmd("RCPT TO:<alice@example.com>")[0] == 250
        assert c2.cmd("RCPT TO:<carol@example.org>")[0] == 452
        st.write_conf("this is not a key\n")
        st.daemon.send(signal.SIGHUP)
        time.sleep(0.3)
        assert st.alive()
        assert "reload refused" in st.log()
        assert c.cmd("NOOP")[0] == 250      # sessions were not dropped
    finally:
        st.stop()


def test_sigterm_drains_and_exits(tmp_path, slapd):
    st = Store(tmp_path / "s", slapd=slapd, host="127.0.0.2").start()
    c = session(st)
    st.daemon.send(signal.SIGTERM)
    assert c.reply()[0] == 421
    assert st.daemon.proc.wait(10) == 0
