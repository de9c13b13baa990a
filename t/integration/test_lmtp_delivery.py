"""LMTP delivery into the store: who is a recipient here, what lands on
disk and in the index, and how real clients (smtplib, swaks) see it."""
import os
import smtplib
import subprocess

from lmtpclient import Lmtp, make_message
from mindex import Index


def test_smtplib_lmtp_delivers_to_the_users_inbox(store):
    with smtplib.LMTP(*store.lmtp) as c:
        refused = c.sendmail("sender@example.net", ["alice@example.com"],
                             make_message("smtplib"))
        assert refused == {}
    files = store.inbox_files("alice@example.com")
    assert [uid for uid, _ in files] == [1]
    data = open(files[0][1], "rb").read()
    assert data.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from ")
    assert b"\r\nSubject: smtplib\r\n" in data and data.endswith(b"hello\r\n")


def test_index_records_the_message_and_usage(store, lmtp):
    msg = make_message("indexed", extra="Cc: c@example.org\r\n")
    _, _, data = lmtp.deliver("s@example.net", ["alice@example.com"], msg)
    assert data == [(250, "2.0.0 Delivered uid=1")]
    path = store.inbox_files("alice@example.com")[0][1]
    size = os.path.getsize(path)
    idx = Index(store.dbdir)
    try:
        user = idx.user("alice@example.com")
        assert user["bytes"] == size and user["messages"] == 1
        assert user["partition"] == "primary"
        box = idx.mailbox("alice@example.com")
        assert box["uidnext"] == 2 and box["exists"] == 1 and box["uidvalidity"] > 0
        rec = idx.messages_of(box["id"])[1]
        assert rec["size"] == size
        assert rec["envelope"]["subject"] == "indexed"
        assert rec["envelope"]["message-id"] == "<indexed@test>"
        assert rec["envelope"]["cc"] == "c@example.org"
        header = open(path, "rb").read()[:rec["header_size"]]
        assert header.endswith(b"\r\n\r\n") and b"Subject: indexed" in header
    finally:
        idx.close()


def test_one_copy_per_partition_with_hard_links(store, lmtp):
    _, rcpts, data = lmtp.deliver("s@example.net",
                                  ["alice@example.com", "carol@example.org", "ivan@example.com"],
                                  make_message("shared"))
    assert [c for c, _ in rcpts] == [250, 250, 250]
    assert [c for c, _ in data] == [250, 250, 250]
    paths = [store.inbox_files(u)[0][1] for u in
             ("alice@example.com", "carol@example.org", "ivan@example.com")]
    inodes = {os.stat(p).st_ino for p in paths}
    assert len(inodes) == 1 and os.stat(paths[0]).st_nlink == 3
    assert os.listdir(os.path.join(store.partition, "tmp")) == []


def test_uids_increase_per_mailbox(store, lmtp):
    for i in range(5):
        assert lmtp.deliver("s@example.net", ["carol@example.org"],
                            make_message(f"m{i}"))[2] == [(250, f"2.0.0 Delivered uid={i + 1}")]
    assert [u for u, _ in store.inbox_files("carol@example.org")] == [1, 2, 3, 4, 5]


def test_swaks_lmtp(store):
    out = subprocess.run(
        ["swaks", "--protocol", "LMTP", "--server", store.host, "--port", str(store.port),
         "--from", "swaks@example.net", "--to", "carol@example.org",
         "--header", "Subject: via swaks", "--body", "swaks body"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    msgs = store.inbox_messages("carol@example.org")
    assert len(msgs) == 1 and b"Subject: via swaks" in msgs[0]


def test_recipient_answers_follow_the_directory(lmtp):
    cases = {
        "alice@example.com": 250,            # mail
        "ALICE.SMITH@Example.COM": 250,      # mailAlternateAddress, any case
        "alice@example.net": 250,            # mailEquivalentAddress
        "nobody@example.com": 550,           # unknown
        "bob@example.com": 450,              # mailHost is store2
        "frank@example.com": 450,            # inactive
        "grace@example.com": 550,            # deleted
        "staff@example.com": 550,            # a group
        '"x*)(uid=*"@example.com': 550,      # filter metacharacters stay data
        "alice*@example.com": 550,
    }
    assert lmtp.cmd("MAIL FROM:<s@example.net>")[0] == 250
    for addr, want in cases.items():
        code, text = lmtp.cmd(f"RCPT TO:<{addr}>")
        assert code == want, (addr, code, text)
    assert lmtp.cmd("RCPT TO:<nobody@example.com>")[1].startswith("5.1.1")
    assert lmtp.cmd("RCPT TO:<grace@example.com>")[1].startswith("5.2.1")


def test_same_user_twice_gets_one_copy_and_two_answers(store, lmtp):
    _, rcpts, data = lmtp.deliver("s@example.net",
                                  ["alice@example.com", "alice.smith@example.com"],
                                  make_message("twice"))
    assert [c for c, _ in data] == [250, 250]
    assert len(store.inbox_files("alice@example.com")) == 1


def test_mixed_recipients_get_their_own_data_replies(store, lmtp):
    mail, rcpts, data = lmtp.deliver("s@example.net",
                                     ["alice@example.com", "nobody@example.com", "carol@example.org"],
                                     make_message("mixed"))
    assert [c for c, _ in rcpts] == [250, 550, 250]
    assert len(data) == 2 and all(c == 250 for c, _ in data)


def test_null_sender_and_utf8(store, lmtp):
    assert lmtp.cmd("MAIL FROM:<> SMTPUTF8")[0] == 250
    assert lmtp.cmd("RCPT TO:<carol@example.org>")[0] == 250
    assert lmtp.cmd("DATA")[0] == 354
    lmtp.send("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncafé\r\n.\r\n".encode())
    assert lmtp.reply()[0] == 250
    data = store.inbox_messages("carol@example.org")[0]
    assert data.startswith(b"Return-Path: <>\r\n") and "café".encode() in data


def test_reconstruct_rebuilds_a_lost_index(store, lmtp):
    for i in range(3):
        lmtp.deliver("s@example.net", ["alice@example.com", "carol@example.org"],
                     make_message(f"r{i}"))
    lmtp.cmd("QUIT")
    store.stop()
    for f in os.listdir(store.dbdir):
        os.unlink(os.path.join(store.dbdir, f))
    out = store.reconstruct()
    assert out.returncode == 0, out.stderr
    assert "user=alice@example.com partition=primary mailboxes=1 messages=3" in out.stdout
    assert "user=carol@example.org partition=primary mailboxes=1 messages=3" in out.stdout
    idx = Index(store.dbdir)
    box = idx.mailbox("alice@example.com")
    recs = idx.messages_of(box["id"])
    assert box["uidnext"] == 4 and sorted(recs) == [1, 2, 3]
    assert recs[2]["envelope"]["subject"] == "r1"
    assert idx.user("alice@example.com")["messages"] == 3
    idx.close()
    store.start()
    c = Lmtp(*store.lmtp)
    c.lhlo()
    assert c.deliver("s@example.net", ["alice@example.com"], make_message("after"))[2] == \
        [(250, "2.0.0 Delivered uid=4")]
    c.close()


def test_reconstruct_one_user_drops_records_of_removed_files(store, lmtp):
    for i in range(3):
        lmtp.deliver("s@example.net", ["carol@example.org"], make_message(f"d{i}"))
    os.unlink(store.inbox_files("carol@example.org")[1][1])
    out = store.reconstruct("carol@example.org")
    assert out.returncode == 0 and "messages=2" in out.stdout
    idx = Index(store.dbdir)
    box = idx.mailbox("carol@example.org")
    assert sorted(idx.messages_of(box["id"])) == [1, 3]
    assert box["uidnext"] == 4      # never goes backwards
    idx.close()
    assert store.reconstruct("nobody@example.com").returncode == 1


def test_unacknowledged_leftover_file_is_replaced(store, lmtp):
    lmtp.deliver("s@example.net", ["carol@example.org"], make_message("first"))
    box = store.mailboxes("carol@example.org")["INBOX"]
    # What a crash between link() and the index commit leaves behind.
    with open(os.path.join(box, "2"), "wb") as f:
        f.write(b"Subject: half-delivered\r\n\r\n")
    assert lmtp.deliver("s@example.net", ["carol@example.org"],
                        make_message("second"))[2] == [(250, "2.0.0 Delivered uid=2")]
    assert b"Subject: second" in open(os.path.join(box, "2"), "rb").read()
