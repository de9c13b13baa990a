"""ACL (RFC 4314): sharing a folder with another user of the same store,
rights enforced, and the "user/OWNER/NAME" namespace."""
import re

from conftest import deliver
from test_imap_sessions import Raw


def login(st, user, password):
    c = Raw(st.imap)
    _, t = c.cmd("l", f"LOGIN {user} {password}")
    assert t.startswith("l OK"), t
    return c


def test_share_a_folder(imap_store):
    # alice and carol both live on store1.
    deliver(imap_store, "alice@example.com", ["one", "two"])
    alice = login(imap_store, "alice", "alice-secret")
    carol = login(imap_store, "carol@example.org", "carol-secret")
    shared = "user/alice@example.com/INBOX"
    # Nothing shared yet: the mailbox does not exist for carol.
    assert carol.cmd("a", f'SELECT "{shared}"')[1].startswith("a NO [NONEXISTENT]")
    assert not any("alice" in l for l in carol.cmd("b", 'LIST "" "*"')[0])
    # alice grants read.
    _, t = alice.cmd("c", "SETACL INBOX carol@example.org lr")
    assert t == "c OK SETACL completed"
    untagged, _ = alice.cmd("d", "GETACL INBOX")
    assert untagged == ["* ACL INBOX alice@example.com lrswipkxtea carol@example.org lr"]
    assert any(shared in l for l in carol.cmd("e", 'LIST "" "*"')[0])
    untagged, t = carol.cmd("f", f'SELECT "{shared}"')
    assert t.startswith("f OK [READ-ONLY]") and "* 2 EXISTS" in untagged
    carol.send("g FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])\r\n")
    assert carol.line().endswith("{16}")        # the literal follows
    assert carol.line() == "Subject: one"
    assert carol.until("g")[1].startswith("g OK")
    # Reading did not mark it seen: carol has no "s".
    untagged, _ = alice.cmd("h", "SELECT INBOX")
    untagged, _ = alice.cmd("i", "FETCH 1 (FLAGS)")
    assert "\\Seen" not in untagged[0]
    untagged, _ = carol.cmd("j", f'MYRIGHTS "{shared}"')
    assert untagged == [f"* MYRIGHTS {shared} lr"]
    # Without "i", no APPEND; with it, yes.
    carol.send(f'k APPEND "{shared}" {{12}}\r\n')
    assert carol.line().startswith("+")
    carol.send("Subject: x\r\n\r\n")
    assert carol.until("k")[1].startswith("k NO [NOPERM]")
    alice.cmd("m", "SETACL INBOX carol@example.org +isw")
    carol.send(f'n APPEND "{shared}" {{19}}\r\n')
    assert carol.line().startswith("+")
    carol.send("Subject: hi\r\n\r\nyo\r\n\r\n")
    assert carol.until("n")[1].startswith("n OK [APPENDUID")
    # COPY from the shared folder into carol's own: one partition, allowed.
    carol.cmd("o", f'SELECT "{shared}"')
    _, t = carol.cmd("p", "COPY 1 INBOX")
    assert t.startswith("p OK"), t
    # No "e": no EXPUNGE; no "a": no SETACL.
    assert carol.cmd("q", "EXPUNGE")[1].startswith("q NO [NOPERM]")
    assert carol.cmd("r", f'SETACL "{shared}" dave@example.org lr')[1].startswith("r NO [NOPERM]")
    # Revoke.
    assert alice.cmd("s", "DELETEACL INBOX carol@example.org")[1].startswith("s OK")
    assert carol.cmd("t", f'STATUS "{shared}" (MESSAGES)')[1].startswith("t NO [NONEXISTENT]")


def test_anyone_and_bad_input(imap_store):
    alice = login(imap_store, "alice", "alice-secret")
    alice.cmd("a", "CREATE Public")
    assert alice.cmd("b", "SETACL Public anyone lr")[1].startswith("b OK")
    ivan = login(imap_store, "ivan", "ivan-secret")
    untagged, _ = ivan.cmd("c", 'LIST "" "user/*"')
    assert any("user/alice@example.com/Public" in u for u in untagged)
    assert alice.cmd("d", "SETACL Public carol@example.org lrz")[1].startswith("d BAD")
    assert alice.cmd("e", "SETACL Nope carol@example.org lr")[1].startswith("e NO")
    assert alice.cmd("f", "SETACL Public alice@example.com l")[1].startswith("f NO [CANNOT]")
    untagged, _ = alice.cmd("g", "NAMESPACE")
    assert untagged == ['* NAMESPACE (("" "/")) (("user/" "/")) NIL']


def test_hanging_up_during_setacl_is_harmless(imap_store):
    # The session goes while its ACL change is in the commit thread.
    for i in range(10):
        alice = login(imap_store, "alice", "alice-secret")
        alice.send(f"s SETACL INBOX carol@example.org lr{'s' if i % 2 else ''}\r\n")
        alice.sock.close()
    c = login(imap_store, "alice", "alice-secret")
    untagged, t = c.cmd("g", "GETACL INBOX")
    assert t.startswith("g OK") and "carol@example.org" in untagged[0]
    assert imap_store.alive()


def test_list_pattern_with_many_wildcards_is_fast(imap_store):
    import time
    c = login(imap_store, "alice", "alice-secret")
    c.cmd("a", "CREATE " + "x" * 60)
    t0 = time.monotonic()
    _, t = c.cmd("b", 'LIST "" "' + "*" * 60 + 'z"')
    assert t.startswith("b OK") and time.monotonic() - t0 < 2
    _, t = c.cmd("c", 'LIST "" "' + "%" * 100 + '"')
    assert t.startswith("c BAD")


def test_move_copyuid_is_well_formed(imap_store):
    deliver(imap_store, "alice@example.com", ["m"])
    c = login(imap_store, "alice", "alice-secret")
    c.cmd("s", "SELECT INBOX")
    untagged, t = c.cmd("m", "MOVE 1 Trash")
    assert t.startswith("m OK")
    ok = [u for u in untagged if "COPYUID" in u]
    assert ok and re.fullmatch(r"\* OK \[COPYUID \d+ 1 1\] Moved", ok[0]), ok
