"""CONDSTORE and QRESYNC (RFC 7162): modification sequences on every
change, conditional STORE, FETCH CHANGEDSINCE, and resynchronisation
with VANISHED."""
import re

from conftest import deliver
from test_imap_sessions import Raw


def session(st, *cmds):
    c = Raw(st.imap)
    c.cmd("l", "LOGIN alice alice-secret")
    for i, text in enumerate(cmds):
        c.cmd(f"p{i}", text)
    return c


def modseq_of(line):
    return int(re.search(r"MODSEQ \((\d+)\)", line).group(1))


def test_modseq_grows_with_each_change(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b", "c"])
    c = session(imap_store)
    untagged, _ = c.cmd("s", "SELECT INBOX (CONDSTORE)")
    hms = [u for u in untagged if "HIGHESTMODSEQ" in u]
    assert hms, untagged
    high = int(re.search(r"HIGHESTMODSEQ (\d+)", hms[0]).group(1))
    untagged, _ = c.cmd("f", "FETCH 1:3 (FLAGS MODSEQ)")
    before = [modseq_of(u) for u in untagged]
    assert max(before) == high
    untagged, t = c.cmd("st", "STORE 2 +FLAGS (\\Seen)")
    after = modseq_of(untagged[0])
    assert after > high
    untagged, _ = c.cmd("f2", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % high)
    assert len(untagged) == 1 and untagged[0].startswith("* 2 FETCH")
    untagged, _ = c.cmd("st2", "STATUS INBOX (HIGHESTMODSEQ)")
    assert f"HIGHESTMODSEQ {after}" in untagged[0]


def test_conditional_store(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b"])
    c = session(imap_store, "SELECT INBOX (CONDSTORE)")
    untagged, _ = c.cmd("f", "FETCH 1:2 (MODSEQ)")
    m1 = modseq_of(untagged[0])
    other = session(imap_store, "SELECT INBOX")
    other.cmd("x", "STORE 1 +FLAGS (\\Flagged)")
    untagged, t = c.cmd("s", f"STORE 1:2 (UNCHANGEDSINCE {m1 + 1}) +FLAGS (\\Seen)")
    assert t.startswith("s OK [MODIFIED 1]")
    flags = " ".join(untagged)
    assert "* 2 FETCH" in flags and "\\Seen" in flags


def test_qresync_reports_vanished_and_changes(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b", "c", "d"])
    c = session(imap_store, "ENABLE QRESYNC")
    untagged, _ = c.cmd("s", "SELECT INBOX")
    validity = int(re.search(r"UIDVALIDITY (\d+)", " ".join(untagged)).group(1))
    high = int(re.search(r"HIGHESTMODSEQ (\d+)", " ".join(untagged)).group(1))
    c.cmd("lo", "LOGOUT")
    # Meanwhile: one expunged, one flagged.
    o = session(imap_store, "SELECT INBOX")
    o.cmd("a", "STORE 2 +FLAGS (\\Deleted)")
    o.cmd("b", "EXPUNGE")
    o.cmd("c", "STORE 3 +FLAGS (\\Answered)")
    c = session(imap_store)
    untagged, t = c.cmd("e", "ENABLE QRESYNC")
    assert "* ENABLED QRESYNC" in untagged
    untagged, t = c.cmd("s", f"SELECT INBOX (QRESYNC ({validity} {high} 1:4))")
    assert t.startswith("s OK")
    assert "* VANISHED (EARLIER) 2" in untagged
    changed = [u for u in untagged if "FETCH" in u]
    assert len(changed) == 1 and "UID 4" in changed[0] and "\\Answered" in changed[0]
    # Expunges are now told as VANISHED.
    o.cmd("d", "STORE 1 +FLAGS (\\Deleted)")
    o.cmd("e", "EXPUNGE")
    untagged, _ = c.cmd("n", "NOOP")
    assert "* VANISHED 1" in untagged
    untagged, _ = c.cmd("u", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high} VANISHED)")
    assert "* VANISHED (EARLIER) 1,2" in untagged


def test_search_modseq(imap_store):
    deliver(imap_store, "alice@example.com", ["a", "b", "c"])
    c = session(imap_store, "SELECT INBOX")
    untagged, _ = c.cmd("f", "FETCH 1:3 (MODSEQ)")
    high = max(modseq_of(u) for u in untagged)
    c.cmd("s", "STORE 2 +FLAGS (\\Flagged)")
    untagged, _ = c.cmd("q", f"SEARCH MODSEQ {high + 1}")
    assert re.fullmatch(r"\* SEARCH 2 \(MODSEQ \d+\)", untagged[0]), untagged
    untagged, _ = c.cmd("r", f'SEARCH MODSEQ "/flags/\\\\flagged" all {high + 1}')
    assert untagged[0].startswith("* SEARCH 2")
