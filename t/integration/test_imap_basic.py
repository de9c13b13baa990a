"""The store's IMAP server with Python's imaplib: login, mailboxes,
FETCH, STORE, SEARCH, COPY/MOVE, APPEND, EXPUNGE (RFC 3501 and the
extensions it advertises)."""
import imaplib
import re

import pytest

from conftest import deliver


@pytest.fixture
def alice(imap_store):
    deliver(imap_store, "alice@example.com", ["first", "second", "third"],
            extra="Cc: Bob <bob@example.com>\r\n")
    m = imaplib.IMAP4(*imap_store.imap)
    assert m.login("alice@example.com", "alice-secret")[0] == "OK"
    yield m
    try:
        m.logout()
    except Exception:
        pass


def test_greeting_and_capabilities(imap_store):
    m = imaplib.IMAP4(*imap_store.imap)
    assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1")
    assert "AUTH=PLAIN" in m.capabilities and "IDLE" in m.capabilities
    m.login("alice", "alice-secret")        # uid works as a login too
    typ, caps = m.capability()
    for cap in (b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"NAMESPACE", b"CHILDREN"):
        assert cap in caps[0]
    m.logout()


def test_first_login_makes_special_use_folders(alice):
    typ, lines = alice.list()
    got = {l.decode().split('"/" ')[1]: l.decode() for l in lines}
    assert set(got) == {"INBOX", "Drafts", "Sent", "Trash", "Junk"}
    assert "\\Sent" in got["Sent"] and "\\Trash" in got["Trash"]
    typ, subs = alice.lsub()
    assert len(subs) == 5


def test_select_reports_the_mailbox(alice):
    typ, data = alice.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert alice.untagged_responses.get("RECENT") == [b"3"]
    typ, data = alice.response("UIDVALIDITY")
    assert int(data[0]) > 0
    typ, data = alice.response("UIDNEXT")
    assert data == [b"4"]


def test_examine_is_read_only(alice):
    alice.select("INBOX", readonly=True)
    typ, data = alice.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO" and b"READ-ONLY" in data[0]
    assert alice.fetch("1", "(BODY[TEXT])")[0] == "OK"
    assert b"\\Seen" not in alice.fetch("1", "(FLAGS)")[1][0]


def test_fetch_index_items(alice):
    alice.select("INBOX")
    typ, data = alice.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
    assert typ == "OK" and len(data) == 3
    first = data[0].decode()
    assert "UID 1 " in first and "\\Recent" in first
    assert re.search(r'INTERNALDATE "\d\d-\w{3}-\d{4} ', first)
    assert '"first" (("Sender" NIL "sender" "example.net"))' in first
    assert '(("Bob" NIL "bob" "example.com"))' in first


def test_fetch_body_sections_and_seen(alice):
    alice.select("INBOX")
    typ, data = alice.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"Subject: first\r\n\r\n"
    typ, data = alice.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = alice.fetch("1", "(BODY[TEXT])")
    assert data[0][1] == b"hello\r\n" and b"\\Seen" in data[0][0]
    typ, data = alice.fetch("1", "(BODY[]<0.11>)")
    assert data[0][1] == b"Return-Path"
    typ, data = alice.fetch("1", "(RFC822)")
    assert data[0][1].startswith(b"Return-Path: <sender@example.net>")
    typ, data = alice.fetch("2", "(BODYSTRUCTURE)")
    assert b'BODYSTRUCTURE ("TEXT" "PLAIN"' in data[0]


def test_store_and_search(alice):
    alice.select("INBOX")
    typ, data = alice.store("2", "+FLAGS", "(\\Flagged \\Answered)")
    assert b"\\Flagged" in data[0] and b"\\Answered" in data[0]
    assert alice.search(None, "FLAGGED")[1] == [b"2"]
    assert alice.search(None, "UNFLAGGED")[1] == [b"1 3"]
    assert alice.search(None, "OR", "FLAGGED", "SUBJECT", "third")[1] == [b"2 3"]
    assert alice.search(None, "NOT", "(FLAGGED ANSWERED)")[1] == [b"1 3"]
    assert alice.search(None, "HEADER", "Message-ID", "second")[1] == [b"2"]
    assert alice.search(None, "BODY", "hello")[1] == [b"1 2 3"]
    assert alice.search(None, "LARGER", "10", "SMALLER", "100000")[1] == [b"1 2 3"]
    assert alice.search(None, "CC", "bob")[1] == [b"1 2 3"]
    assert alice.search(None, "2:3", "UID", "1:2")[1] == [b"2"]
    assert alice.uid("SEARCH", "FLAGGED")[1] == [b"2"]
    assert alice.search("UTF-8", "ALL")[1] == [b"1 2 3"]
    typ, data = alice.search("KOI8-R", "ALL")
    assert typ == "NO"
    typ, data = alice.store("2", "-FLAGS.SILENT", "(\\Flagged)")
    assert typ == "OK" and data == [None]
    assert alice.search(None, "FLAGGED")[1] == [b""]


def test_search_dates(alice):
    alice.select("INBOX")
    assert alice.search(None, "SINCE", "1-Jan-2020")[1] == [b"1 2 3"]
    assert alice.search(None, "BEFORE", "1-Jan-2020")[1] == [b""]
    with pytest.raises(imaplib.IMAP4.error):
        alice.search(None, "SINCE", "yesterday")


def test_copy_move_with_uidplus(alice):
    alice.select("INBOX")
    typ, data = alice.copy("1:2", "Trash")
    assert typ == "OK" and re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0])
    typ, data = alice._simple_command("UID", "MOVE", "3", "Sent")
    assert typ == "OK"
    assert alice.untagged_responses.get("EXPUNGE") == [b"3"]
    assert alice.select("INBOX")[1] == [b"2"]
    assert alice.select("Trash")[1] == [b"2"]
    assert alice.select("Sent")[1] == [b"1"]
    typ, data = alice.copy("1", "Nowhere")
    assert typ == "NO" and b"TRYCREATE" in data[0]


def test_append(alice):
    typ, data = alice.append("Drafts", "(\\Draft \\Seen)", None,
                             b"Subject: draft\r\nFrom: alice@example.com\r\n\r\nwip\r\n")
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\]", data[0])
    alice.select("Drafts")
    typ, data = alice.fetch("1", "(FLAGS BODY.PEEK[])")
    assert b"\\Draft" in data[0][0] and data[0][1].endswith(b"wip\r\n")
    typ, data = alice.append("Nowhere", None, None, b"Subject: x\r\n\r\ny\r\n")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    big = b"Subject: big\r\n\r\n" + b"x" * 200000 + b"\r\n"
    typ, data = alice.append("Drafts", None, '"01-Feb-2024 10:00:00 +0100"', big)
    assert typ == "OK"
    typ, data = alice.fetch("2", "(RFC822.SIZE INTERNALDATE)")
    assert b"RFC822.SIZE %d" % len(big) in data[0]
    assert b'" 1-Feb-2024 09:00:00 +0000"' in data[0]      # date-day-fixed


def test_expunge_and_close(alice):
    alice.select("INBOX")
    alice.store("1:2", "+FLAGS", "(\\Deleted)")
    typ, data = alice.expunge()
    # Each EXPUNGE uses the numbering left by the previous one.
    assert typ == "OK" and data in ([b"1", b"1"], [b"2", b"1"])
    assert alice.select("INBOX")[1] == [b"1"]
    alice.store("1", "+FLAGS", "(\\Deleted)")
    assert alice.close()[0] == "OK"
    assert alice.select("INBOX")[1] == [b"0"]


def test_create_delete_rename(alice):
    assert alice.create("Work/2024")[0] == "OK"
    assert alice.create("Work")[0] == "OK"
    assert alice.create("Work")[0] == "NO"
    typ, lines = alice.list('""', "Work*")
    text = b" ".join(lines)
    assert b'(\\HasChildren) "/" Work' in text and b"Work/2024" in text
    typ, lines = alice.list('""', "%")
    assert b"Work/2024" not in b" ".join(lines)
    assert alice.rename("Work", "Projects")[0] == "OK"
    typ, lines = alice.list('""', "*")
    text = b" ".join(lines)
    assert b"Projects/2024" in text and b'"/" Work' not in text
    assert alice.delete("Projects/2024")[0] == "OK"
    assert alice.delete("INBOX")[0] == "NO"
    assert alice.delete("Nope")[0] == "NO"


def test_rename_inbox_moves_its_messages(alice):
    assert alice.rename("INBOX", "Old")[0] == "OK"
    assert alice.select("Old")[1] == [b"3"]
    assert alice.select("INBOX")[1] == [b"0"]


def test_status(alice):
    typ, data = alice.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    text = data[0].decode()
    assert "MESSAGES 3" in text and "UIDNEXT 4" in text and "UNSEEN 3" in text
    assert alice.status("Nope", "(MESSAGES)")[0] == "NO"


def test_subscribe(alice):
    alice.create("News")
    assert alice.subscribe("News")[0] == "OK"
    assert any(b"News" in l for l in alice.lsub()[1])
    assert alice.unsubscribe("News")[0] == "OK"
    assert not any(b"News" in l for l in alice.lsub()[1])


def test_namespace_id_noop(alice):
    typ, data = alice.namespace()
    assert data == [b'(("" "/")) (("user/" "/")) NIL']
    typ, data = alice.xatom("ID", '("name" "pytest")')
    assert typ == "OK"
    assert alice.noop()[0] == "OK"


def test_keywords(alice):
    alice.select("INBOX")
    typ, data = alice.store("1", "+FLAGS", "($Forwarded Important)")
    assert typ == "OK" and b"$Forwarded" in data[0] and b"Important" in data[0]
    typ, data = alice.select("INBOX")
    flags = alice.untagged_responses.get("FLAGS")[0]
    assert b"$Forwarded" in flags and b"Important" in flags
    perm = [r for r in alice.untagged_responses.get("OK", []) if b"PERMANENTFLAGS" in r]
    assert perm and b"\\*" in perm[0]
    alice.store("1", "-FLAGS", "(Important)")
    assert b"Important" not in alice.fetch("1", "(FLAGS)")[1][0]
    alice.store("2", "FLAGS", "(\\Seen Work)")
    typ, data = alice.copy("2", "Trash")
    alice.select("Trash")
    assert b"Work" in alice.fetch("1", "(FLAGS)")[1][0]
    typ, data = alice.append("Drafts", "(Todo \\Draft)", None, b"Subject: k\r\n\r\nk\r\n")
    assert typ == "OK"
    alice.select("Drafts")
    assert b"Todo" in alice.fetch("1", "(FLAGS)")[1][0]
    with __import__("pytest").raises(imaplib.IMAP4.error):
        alice.store("1", "+FLAGS", "(\\Recent)")
    # 64 names per mailbox: Drafts has Todo already.
    many = " ".join(f"k{i}" for i in range(64))
    typ, data = alice.store("1", "+FLAGS", f"({many})")
    assert typ == "NO" and b"[LIMIT]" in data[0]


def test_uid_expunge_only_named_messages(alice):
    alice.select("INBOX")
    alice.store("1:3", "+FLAGS", "(\\Deleted)")
    typ, data = alice.uid("EXPUNGE", "2:3")
    assert typ == "OK"
    typ, data = alice.uid("SEARCH", "ALL")
    assert data == [b"1"]
