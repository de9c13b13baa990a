"""The operator's queue commands, `jobctl -c msg.conf queue ...`: the
queue files are the truth, read directly with no daemon running; hold,
release, retry and delete act on the files and announce to jobctl's
socket the way the mta does."""
import os
import re
import socket
import subprocess

import pytest

from smtpclient import Smtp
from suite import BUILD, ROOT

JOBCTL = os.path.join(BUILD, "bin", "jobctl")
HEADER = ["ID", "CHANNEL", "AGE", "SIZE", "FROM", "RCPTS", "ATTEMPTS", "NEXT", "STATE"]


def body(subject):
    return (b"From: Sender <s@example.net>\r\nTo: alice@example.com\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Message-ID: <q1@example.net>\r\n\r\n" + b"queued body\r\n" * 10)


class Queue:
    """An mta with three messages queued and a msg.conf jobctl can read."""

    def __init__(self, m, sock_path):
        self.m = m
        self.sock_path = sock_path
        self.ids = {}

    def send(self, name, rcpts, subject=b"queued"):
        c = Smtp(self.m.smtp, source="127.0.0.1")
        c.ehlo()
        code, text = c.transaction("s@example.net", rcpts, body(subject))[-1]
        assert code == 250, text
        self.ids[name] = text[0].split()[-1]
        c.cmd("QUIT")

    def run(self, *args):
        r = subprocess.run([JOBCTL, "-c", self.m.conf_path, "queue", *args],
                           capture_output=True, text=True, timeout=30)
        assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
        return r

    def by_id(self, qid):
        return sorted((e for e in self.m.entries() if e["env"]["id"] == qid),
                      key=lambda e: e["channel"])

    def rel(self, e):
        return os.path.relpath(e["path"], self.m.queue)

    def listen(self):
        """The socket jobctl would listen on, bound by the test."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(self.sock_path)
        s.settimeout(5)
        return s


@pytest.fixture
def q(make_mta, tmp_path):
    sock_path = str(tmp_path / "jobctl.sock")
    m = make_mta(conf={"mta.jobctl.socket": sock_path})
    queue = Queue(m, sock_path)
    queue.send("local", ["alice@example.com"],
               subject=b"folded\r\n  subject line")
    queue.send("remote", ["someone@elsewhere.example"])
    queue.send("both", ["bob@example.com", "other@elsewhere.example"])
    m.keys["jobctl.conf"] = os.path.join(ROOT, "conf", "mta", "job_controller.cnf")
    m.write_conf()
    assert len(m.entries()) == 4
    return queue


def table(out):
    """A `queue list` table: the header's columns and dicts per row."""
    lines = out.splitlines()
    head = lines[0].split()
    return head, [dict(zip(head, ln.split())) for ln in lines[1:]]


def test_list_table_sorted_and_aligned(q):
    r = q.run("list")
    assert r.returncode == 0, r.stderr
    head, rows = table(r.stdout)
    assert head == HEADER
    entries = q.m.entries()
    assert len(rows) == len(entries) == 4
    assert [row["ID"] for row in rows] == sorted(row["ID"] for row in rows)
    assert [row["ID"] for row in rows][0] == q.ids["local"], "oldest first"
    col = r.stdout.splitlines()[0].index("CHANNEL")
    for ln in r.stdout.splitlines()[1:]:
        assert ln[col - 2:col] == "  " and ln[col] != " ", "aligned columns"
    size = {(e["env"]["id"], e["channel"]): e["env"]["size"] for e in entries}
    for row in rows:
        assert row["SIZE"] == size[(row["ID"], row["CHANNEL"])]
        assert row["FROM"] == "<s@example.net>"
        assert row["RCPTS"] == "1/1"
        assert (row["ATTEMPTS"], row["NEXT"], row["STATE"]) == ("0", "now", "queued")
        assert re.fullmatch(r"\d+[smhd]", row["AGE"])
    both = [row["CHANNEL"] for row in rows if row["ID"] == q.ids["both"]]
    assert len(both) == 2 and "lmtp" in both


def test_list_tsv_raw_and_filters(q):
    r = q.run("list", "--tsv")
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert len(rows) == 4 and all(len(row) == 9 for row in rows)
    assert rows[0][0] == q.ids["local"]
    for qid, channel, age, size, frm, rcpts, attempts, nxt, state in rows:
        [e] = [e for e in q.by_id(qid) if e["channel"] == channel]
        assert 0 <= int(age) < 300
        assert size == e["env"]["size"]
        assert (frm, rcpts, attempts, nxt, state) == ("<s@example.net>", "1/1", "0", "0", "queued")
    r = q.run("list", "--channel", "lmtp")
    _, rows = table(r.stdout)
    assert {row["CHANNEL"] for row in rows} == {"lmtp"} and len(rows) == 2
    r = q.run("list", "--held")
    assert r.returncode == 0 and r.stdout.splitlines() == [r.stdout.splitlines()[0]]


def test_show_every_entry_of_an_id(q):
    r = q.run("show", q.ids["both"])
    assert r.returncode == 0, r.stderr
    entries = q.by_id(q.ids["both"])
    blocks = r.stdout.split("\n\n")
    assert len(blocks) == 2
    for block, e in zip(blocks, entries):
        lines = block.splitlines()
        assert lines[0] == q.rel(e)
        fields = dict(re.match(r"  (\S+)\s+(.*)", ln).groups()
                      for ln in lines[1:] if not ln.startswith("    "))
        assert fields["path"] == e["path"]
        assert fields["state"] == "queued"
        assert fields["id"] == q.ids["both"]
        assert fields["channel"] == e["channel"]
        assert fields["from"] == "<s@example.net>"
        assert fields["client"] == "127.0.0.1" and fields["source"] == "tcp_intranet"
        assert fields["size"] == e["env"]["size"]
        assert fields["attempts"] == "0" and fields["retry"] == "now"
        assert fields["rcpt"] == "<%s>" % e["env"]["rcpt"][0]["address"]
        assert re.search(r"^    state\s+pending$", block, re.M)
        assert fields["Subject:"] == "queued"
        assert fields["Message-ID:"] == "<q1@example.net>"
        assert fields["From:"] == "Sender <s@example.net>"
    [e] = [e for e in entries if e["channel"] == "lmtp"]
    one = q.run("show", "lmtp/" + q.ids["both"])
    assert one.returncode == 0 and one.stdout.count("\n\n") == 0
    assert one.stdout.splitlines()[0] == q.rel(e)
    # The same entry, whatever the second it is shown in ("1s ago",
    # "in 5m").
    age = re.compile(r", (in )?[0-9dhms]+( ago)?\)")
    assert age.sub(")", q.run("show", q.rel(e)).stdout) == \
        age.sub(")", one.stdout), "CHANNEL/SS/ID too"


def test_show_unfolds_header_fields(q):
    r = q.run("show", q.ids["local"])
    assert re.search(r"^  Subject:\s+folded  subject line$", r.stdout, re.M), r.stdout
    assert re.search(r"^  Date:\s+-$", r.stdout, re.M)


def test_counts(q):
    r = q.run("counts")
    assert r.returncode == 0, r.stderr
    lines = [ln.split() for ln in r.stdout.splitlines()]
    assert lines[0] == ["CHANNEL", "ENTRIES", "PENDING", "BYTES", "HELD", "BROKEN"]
    per = {}
    for e in q.m.entries():
        c = per.setdefault(e["channel"], [0, 0, 0])
        c[0] += 1
        c[1] += len(e["env"]["rcpt"])
        c[2] += int(e["env"]["size"])
    want = [[ch, str(c[0]), str(c[1]), str(c[2]), "0", "0"] for ch, c in sorted(per.items())]
    total = [sum(c[i] for c in per.values()) for i in range(3)]
    assert lines[1:] == want + [["total"] + [str(x) for x in total] + ["0", "0"]]
    tsv = q.run("counts", "--tsv").stdout.splitlines()
    assert tsv[-1].split("\t") == ["total"] + [str(x) for x in total] + ["0", "0"]


def test_hold_and_release(q):
    qid = q.ids["local"]
    [e] = q.by_id(qid)
    rel = q.rel(e)
    r = q.run("hold", qid)
    assert (r.returncode, r.stdout) == (0, f"held {rel}\n"), r.stderr
    assert not os.path.exists(e["path"]) and os.path.isfile(e["path"] + ".held")
    assert q.by_id(qid) == [], "the scanner no longer sees it"
    _, rows = table(q.run("list", "--held").stdout)
    assert [(row["ID"], row["STATE"]) for row in rows] == [(qid, "held")]
    assert q.run("hold", qid).stdout == f"already held {rel}\n"
    assert re.search(r"^  state\s+held$", q.run("show", qid).stdout, re.M)
    sock = q.listen()
    try:
        r = q.run("release", qid)
        assert (r.returncode, r.stdout, r.stderr) == (0, f"released {rel}\n", "")
        assert sock.recv(4096) == (rel + "\n").encode()
    finally:
        sock.close()
    assert os.path.isfile(e["path"]) and not os.path.exists(e["path"] + ".held")
    assert q.by_id(qid)[0]["msg"] == e["msg"]


def test_hold_every_entry_of_an_id(q):
    qid = q.ids["both"]
    rels = sorted(q.rel(e) for e in q.by_id(qid))
    r = q.run("hold", qid)
    assert r.stdout.splitlines() == [f"held {x}" for x in rels]
    r = q.run("release", qid)
    assert r.returncode == 0
    assert "jobctl not running: it will find it on its next scan" in r.stderr
    assert len(q.by_id(qid)) == 2


def test_retry_announces(q):
    entries = q.by_id(q.ids["both"])
    sock = q.listen()
    try:
        r = q.run("retry", q.ids["both"])
        assert r.returncode == 0, r.stderr
        got = sorted(sock.recv(4096).decode() for _ in entries)
    finally:
        sock.close()
    assert got == sorted(q.rel(e) + "\n" for e in entries)
    assert r.stdout.splitlines() == sorted(f"retry {q.rel(e)}" for e in entries)
    r = q.run("retry", q.ids["remote"])
    assert r.returncode == 0
    assert r.stderr == "(jobctl not running: it will find it on its next scan)\n"


def test_delete(q):
    qid = q.ids["both"]
    entries = q.by_id(qid)
    q.run("hold", "lmtp/" + qid)
    r = q.run("delete", qid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    for ln, e in zip(lines, entries):
        assert ln.startswith(f"deleted {q.rel(e)}")
        assert "from=<s@example.net>" in ln and e["env"]["rcpt"][0]["address"] in ln
    assert "(held)" in lines[[e["channel"] for e in entries].index("lmtp")]
    for e in entries:
        assert not os.path.exists(e["path"]) and not os.path.exists(e["path"] + ".held")
    assert len(q.m.entries()) == 2
    r = q.run("delete", qid)
    assert r.returncode == 1 and qid in r.stderr


def test_unknown_id_exits_1_after_acting_on_the_rest(q):
    known = q.ids["remote"]
    unknown = known[:-1] + ("0" if known[-1] != "0" else "1")
    r = q.run("show", unknown)
    assert (r.returncode, r.stdout) == (1, "")
    assert f"{unknown}: no such entry" in r.stderr
    r = q.run("hold", unknown, known)
    assert r.returncode == 1
    assert r.stdout.startswith("held ") and known in r.stdout
    r = q.run("release", "lmtp/" + known)
    assert r.returncode == 1, "remote is not in lmtp"


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["show"], ["hold", "not-an-id"], ["delete", "0123"],
    ["list", "--bogus"], ["list", "--channel"], ["list", "--channel", "../x"],
    ["show", "tmp/0123456789ABCDEF"], ["counts", "extra"],
])
def test_usage_errors_exit_2(q, args):
    before = sorted(e["path"] for e in q.m.entries())
    r = q.run(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage:" in r.stderr
    assert sorted(e["path"] for e in q.m.entries()) == before


def test_broken_entry(q):
    [e] = q.by_id(q.ids["remote"])
    qid = q.ids["remote"]
    with open(e["path"], "rb") as f:
        data = f.read()
    with open(e["path"], "wb") as f:
        f.write(data.replace(b"\nfrom <", b"\nfrom nobracket<", 1))
    _, rows = table(q.run("list").stdout)
    row = [row for row in rows if row["ID"] == qid][0]
    assert row["STATE"] == "broken" and row["FROM"] == "-"
    assert re.fullmatch(r"\d+[smhd]", row["AGE"]), "age from the ID"
    r = q.run("show", qid)
    assert r.returncode == 0
    assert re.search(r"^  state\s+broken, queued$", r.stdout, re.M)
    assert re.search(r"^  error\s+line \d+: ", r.stdout, re.M), r.stdout
    lines = q.run("counts").stdout.splitlines()
    assert lines[-1].split()[-1] == "1", "one broken"
    # a file that is not even an envelope, and one that cannot be read
    junk = os.path.join(os.path.dirname(e["path"]), qid[:-1] + ("0" if qid[-1] != "0" else "1"))
    with open(junk, "wb") as f:
        f.write(b"\x00\xff garbage without end")
    r = q.run("show", os.path.basename(junk))
    assert r.returncode == 0 and "broken" in r.stdout
    r = q.run("delete", qid)
    assert r.returncode == 0 and "(broken: line" in r.stdout
    assert not os.path.exists(e["path"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_entry_is_reported(q):
    [e] = q.by_id(q.ids["local"])
    os.chmod(e["path"], 0)
    try:
        r = q.run("list")
        assert r.returncode == 0
        _, rows = table(r.stdout)
        assert [row["STATE"] for row in rows if row["ID"] == q.ids["local"]] == ["broken"]
        r = q.run("show", q.ids["local"])
        assert "Permission denied" in r.stdout
    finally:
        os.chmod(e["path"], 0o600)
