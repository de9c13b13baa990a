"""SORT and THREAD (RFC 5256, DISPLAYFROM/DISPLAYTO of RFC 5957), ESEARCH
(RFC 4731) and QUOTA (RFC 9208) on the store's IMAP server, driven with
imaplib against a real store.  Messages are delivered over LMTP with the
headers each test needs."""
import imaplib
import re

import pytest

from lmtpclient import Lmtp
from suite import free_port


def message(subject="x", frm="Sender <sender@example.net>", to="someone@example.org",
            cc=None, date=None, msgid=None, irt=None, refs=None, body="hello\r\n"):
    h = [f"From: {frm}", f"To: {to}", f"Subject: {subject}"]
    if cc is not None:
        h.append(f"Cc: {cc}")
    if date is not None:
        h.append(f"Date: {date}")
    if msgid is not None:
        h.append(f"Message-ID: {msgid}")
    if irt is not None:
        h.append(f"In-Reply-To: {irt}")
    if refs is not None:
        h.append(f"References: {refs}")
    return ("\r\n".join(h) + "\r\n\r\n" + body).encode()


def send(st, user, messages):
    """Deliver raw messages to user, in order, over one LMTP session."""
    c = Lmtp(*st.lmtp)
    c.lhlo()
    for raw in messages:
        _, _, data = c.deliver("sender@example.net", [user], raw)
        assert data and data[0][0] == 250, data
    c.cmd("QUIT")
    c.close()


def login(st, user, password):
    m = imaplib.IMAP4(*st.imap)
    assert m.login(user, password)[0] == "OK"
    return m


def assert_bad(m, *args):
    """The command gets a tagged BAD (imaplib raises for BAD only)."""
    try:
        typ, data = m._simple_command(*args)
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e), e
        return
    pytest.fail(f"{args!r} answered {typ} {data!r}")


def day(n, hour=12, zone="+0000"):
    return f"Mon, {n} Jan 2024 {hour:02d}:00:00 {zone}"


@pytest.fixture
def alice(imap_store):
    """Deliver messages to a user's INBOX, then log in and select it."""
    m = None

    def connect(messages, user="alice@example.com", password="alice-secret"):
        nonlocal m
        send(imap_store, user, messages)
        m = login(imap_store, user, password)
        assert m.select("INBOX")[0] == "OK"
        return m
    yield connect
    if m is not None:
        try:
            m.logout()
        except Exception:
            pass


def numbers(data):
    return [int(x) for x in data[0].split()]


# ---- SORT ----

SUBJECTS = [
    "Re: afternoon meeting",                          # AFTERNOON MEETING, reply
    "zebra",
    "[fwd: Apple pie]",                               # APPLE PIE
    "Banana =?UTF-8?Q?split?=",                       # BANANA SPLIT
    "[list] Re: [x] FW: afternoon  meeting (fwd)",    # AFTERNOON MEETING
    "",                                               # empty
    "[only a blob]",                                  # kept: nothing after it
    "Fwd: =?ISO-8859-1?Q?caf=E9?= =?UTF-8?B?Y3LDqG1l?=",  # CAFécrème (UTF-8)
    "=?utf-8?q?banana?=\t split",                     # BANANA SPLIT as well
]


def test_sort_subject_uses_the_base_subject(alice):
    m = alice([message(s, date=day(1 + i)) for i, s in enumerate(SUBJECTS)])
    typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK"
    assert numbers(data) == [6, 1, 5, 3, 4, 9, 8, 2, 7]
    # REVERSE flips the key, ties still go by sequence number
    assert numbers(m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")[1]) == \
        [7, 2, 8, 4, 9, 3, 1, 5, 6]
    # search criteria after the charset
    assert numbers(m.sort("(SUBJECT)", "US-ASCII", "SUBJECT", "meeting")[1]) == [1, 5]
    assert m.sort("(SUBJECT)", "UTF-8", "SUBJECT", "nothing-like-it")[1] == [b""]


def test_sort_folds_case_beyond_ascii(alice):
    m = alice([message("=?UTF-8?Q?=C3=89mile?=", date=day(1)),      # Émile
               message("=?UTF-8?Q?=C3=A9lan?=", date=day(2)),       # élan
               message("=?UTF-8?Q?=C3=A9MILE?=", date=day(3)),      # éMILE
               message("zeta", date=day(4))])
    # É and é are one letter: élan first, the two Émiles tie (by number).
    assert numbers(m.sort("(SUBJECT)", "UTF-8", "ALL")[1]) == [4, 2, 1, 3]


def test_sort_dates_sizes_and_addresses(alice):
    m = alice([
        message("a", frm="Zed <aaa@example.net>", to="Xavier <x@example.org>",
                date=day(1, 12), body="x" * 300 + "\r\n"),
        message("b", frm="bob@example.net", to="yvonne@example.org",
                cc="Carl <carl@example.org>",
                date=day(1, 13, "+0200"), body="x" * 100 + "\r\n"),     # 11:00 UTC
        message("c", frm='"Al" <carl@example.net>', to="=?UTF-8?Q?=C3=89mile?= <w@example.org>",
                cc="ann@example.org", body="x" * 200 + "\r\n"),         # no Date:
        message("d", frm="Bea <bea@example.net>", to="zoe@example.org",
                date="not a date", body="x\r\n"),
    ])
    # messages without a usable Date: sort by INTERNALDATE (now)
    assert numbers(m.sort("(DATE)", "UTF-8", "ALL")[1]) == [2, 1, 3, 4]
    assert numbers(m.sort("(REVERSE DATE)", "UTF-8", "1:2")[1]) == [1, 2]
    assert numbers(m.sort("(SIZE)", "UTF-8", "ALL")[1]) == [4, 2, 3, 1]
    assert numbers(m.sort("(REVERSE SIZE)", "UTF-8", "ALL")[1]) == [1, 3, 2, 4]
    # FROM, TO, CC: the local part of the first address; none sorts first
    assert numbers(m.sort("(FROM)", "UTF-8", "ALL")[1]) == [1, 4, 2, 3]
    assert numbers(m.sort("(TO)", "UTF-8", "ALL")[1]) == [3, 1, 2, 4]
    assert numbers(m.sort("(CC)", "UTF-8", "ALL")[1]) == [1, 4, 3, 2]
    # DISPLAYFROM/DISPLAYTO: display name, else the address
    assert numbers(m.sort("(DISPLAYFROM)", "UTF-8", "ALL")[1]) == [3, 4, 2, 1]
    assert numbers(m.sort("(DISPLAYTO)", "UTF-8", "ALL")[1]) == [1, 2, 4, 3]
    # ARRIVAL: delivered in order; several criteria
    assert numbers(m.sort("(ARRIVAL)", "UTF-8", "ALL")[1]) == [1, 2, 3, 4]
    assert numbers(m.sort("(CC REVERSE SIZE)", "UTF-8", "ALL")[1]) == [1, 4, 3, 2]


def test_uid_sort_answers_with_uids(alice):
    m = alice([message(s) for s in ("gone", "b", "a", "c")])
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    assert numbers(m.sort("(SUBJECT)", "UTF-8", "ALL")[1]) == [2, 1, 3]
    typ, data = m.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and numbers(data) == [3, 2, 4]
    typ, data = m.uid("SORT", "(REVERSE SUBJECT)", "UTF-8", "UID", "3:4")
    assert numbers(data) == [4, 3]


def test_sort_errors(alice):
    m = alice([message("a")])
    typ, data = m._simple_command("SORT", "(SUBJECT)", "KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    for args in (("(SUBJECT)",), ("(SUBJECT)", "UTF-8"), ("()", "UTF-8", "ALL"),
                 ("(NAME)", "UTF-8", "ALL"), ("(REVERSE)", "UTF-8", "ALL"),
                 ("SUBJECT", "UTF-8", "ALL"), ("(SUBJECT)", "UTF-8", "BOGUS"),
                 ("(" + " ".join(["SIZE"] * 17) + ")", "UTF-8", "ALL")):
        assert_bad(m, "SORT", *args)
    assert numbers(m.sort("(" + " ".join(["SIZE"] * 16) + ")", "UTF-8", "ALL")[1]) == [1]


# ---- THREAD ----

def test_thread_orderedsubject(alice):
    m = alice([
        message("B", date=day(2)),              # 1
        message("a", date=day(3)),              # 2
        message("Re: b", date=day(1)),          # 3  earliest of "B": the parent
        message("RE: A", date=day(4)),          # 4
        message("c", date=day(5)),              # 5
        message("Fwd: b", date=day(6)),         # 6
        message("re: a", date=day(7)),          # 7
        message("a", date=day(8)),              # 8
    ])
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK"
    # RFC 5256: one child stays in the parent's list, two or more nest
    assert data == [b"(3 (1)(6))(2 (4)(7)(8))(5)"]
    assert m.thread("ORDEREDSUBJECT", "US-ASCII", "SUBJECT", "c")[1] == [b"(5)"]
    assert m.thread("ORDEREDSUBJECT", "UTF-8", "SUBJECT", "a", "NOT", "8")[1] == \
        [b"(2 (4)(7))"]
    assert m.thread("ORDEREDSUBJECT", "UTF-8", "SUBJECT", "a", "7:8")[1] == [b"(7 8)"]
    assert m.thread("ORDEREDSUBJECT", "UTF-8", "SUBJECT", "nothing")[1] == [b""]


def refs_mailbox():
    def ref(n, subject, refs=None, irt=None):
        return message(subject, msgid=f"<m{n}@test>", refs=refs, irt=irt, date=day(n))
    return [
        ref(1, "one"),
        ref(2, "two"),
        ref(3, "Re: two", refs="<m2@test>"),
        ref(4, "Re: two", refs="<m2@test> <m3@test>"),
        ref(5, "Re: two", refs="<m2@test>\r\n <m3@test>\r\n\t<m4@test>"),
        ref(6, "Re: two", refs="<m2@test> <m3@test>"),
        ref(7, "Re: two", refs="<m2@test> (a comment) <m3@test> <m6@test>"),
        ref(8, "Re: two", irt="<m7@test>"),              # no References
        ref(9, "lost", refs="<never-seen@test>"),
        ref(10, "Re: lost", refs="<never-seen@test>"),
        ref(11, "Re: one"),                               # joins "one" by subject
        ref(12, "two"),                                   # same subject, no reply
    ]


def test_thread_references(alice):
    m = alice(refs_mailbox())
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    # the shape of RFC 5256's "(3 6 (4 23)(44 7 96))"; a dummy parent for
    # the two replies to a message not in the mailbox, and for the two
    # threads called "two"
    assert data == [b"(1 11)((2 3 (4 5)(6 7 8))(12))((9)(10))"]
    # only the matches are threaded: 3 and 6 are missing, their children stay
    assert m.thread("REFERENCES", "UTF-8", "2:8", "NOT", "3", "NOT", "6")[1] == \
        [b"(2 (4 5)(7 8))"]
    assert m.thread("REFERENCES", "UTF-8", "4:5")[1] == [b"(4 5)"]
    assert m.thread("REFERENCES", "UTF-8", "9")[1] == [b"(9)"]


def test_uid_thread_answers_with_uids(alice):
    m = alice([message("gone")] + refs_mailbox())
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    assert data == [b"(2 12)((3 4 (5 6)(7 8 9))(13))((10)(11))"]
    typ, data = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "UID", "2:3")
    assert data == [b"(2)(3)"]


def test_thread_ids_loops_and_duplicates(alice):
    m = alice([
        message("p", msgid="<a@t>", refs="<b@t>", date=day(1)),
        message("q", msgid="<b@t>", refs="<a@t>", date=day(2)),     # a loop
        message("r", msgid="<a@t>", refs="<b@t>", date=day(3)),     # duplicate id
        message("s", msgid="<c@t>", refs="<c@t>", date=day(4)),     # refers to itself
        message("t", msgid="not an id", irt="<c@t> <a@t>", date=day(5)),
    ])
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    # 1 is under 2 first; 2 then wants 1 as parent: refused (a loop); the
    # second <a@t> is a message of its own, child of 2; 5 replies to 4.
    assert data == [b"(2 (1)(3))(4 5)"]


def test_thread_errors(alice):
    m = alice([message("a")])
    for args in (("JWZ", "UTF-8", "ALL"), ("REFERENCES",), ("REFERENCES", "UTF-8"),
                 ("REFERENCES", "UTF-8", "BOGUS")):
        assert_bad(m, "THREAD", *args)
    typ, data = m._simple_command("THREAD", "REFERENCES", "ISO-2022-JP", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]


def test_thread_deep_reply_chain(alice):
    """10,000 messages: each odd one has two answers, the next odd one and
    an even one nobody answers, so the answer nests 5,000 lists deep."""
    n = 10000
    msgs = []
    for i in range(1, n + 1):
        p = i - 1 if i % 2 == 0 else i - 2           # the odd one before
        refs = " ".join(f"<c{a}@t>" for a in (p - 4, p - 2, p) if a >= 1)
        msgs.append(message("chain", msgid=f"<c{i}@t>", refs=refs or None,
                            irt=f"<c{p}@t>" if p >= 1 else None, date=day(1)))
    m = alice(msgs, "carol@example.org", "carol-secret")    # no message quota
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    text = data[0].decode()
    assert text.startswith("(1 (2)(3 (4)(5 (6)(7 (8)")
    assert text.count("(") == text.count(")") == n - 1
    assert text.endswith("(9999 10000)" + ")" * (n // 2 - 1))
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data[0].startswith(b"(1 (2)(3)(4)") and data[0].count(b"(") == n


# ---- ESEARCH ----

def esearch(m, *args):
    typ, data = m._simple_command(*args)
    assert typ == "OK", data
    lines = m.untagged_responses.pop("ESEARCH", [])
    assert len(lines) == 1, lines
    line = lines[0].decode()
    assert re.match(r'\(TAG "[A-Z]+\d+"\)', line), line
    return line.split(")", 1)[1].strip()


def test_esearch_return_options(alice):
    m = alice([message(s) for s in ("a", "b", "a", "a", "c", "a")])
    m.store("2", "+FLAGS", "(\\Flagged)")
    assert esearch(m, "SEARCH", "RETURN", "(MIN MAX COUNT)", "SUBJECT", "a") == \
        "MIN 1 MAX 6 COUNT 4"
    assert esearch(m, "SEARCH", "RETURN", "(ALL)", "SUBJECT", "a") == "ALL 1,3:4,6"
    assert esearch(m, "SEARCH", "RETURN", "()", "SUBJECT", "a") == "ALL 1,3:4,6"
    assert esearch(m, "SEARCH", "RETURN", "(COUNT)", "CHARSET", "UTF-8", "FLAGGED") == \
        "COUNT 1"
    # nothing matches: only COUNT is said
    assert esearch(m, "SEARCH", "RETURN", "(MIN MAX ALL COUNT)", "SUBJECT", "zz") == \
        "COUNT 0"
    assert esearch(m, "SEARCH", "RETURN", "(MIN)", "SUBJECT", "zz") == ""
    # the plain form is unchanged
    assert m.search(None, "SUBJECT", "a")[1] == [b"1 3 4 6"]


def test_uid_esearch(alice):
    m = alice([message(s) for s in ("gone", "a", "b", "a", "a")])
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    assert esearch(m, "UID", "SEARCH", "RETURN", "(MIN MAX ALL COUNT)", "SUBJECT", "a") == \
        "UID MIN 2 MAX 5 COUNT 3 ALL 2,4:5"
    assert esearch(m, "SEARCH", "RETURN", "(ALL)", "SUBJECT", "a") == "ALL 1,3:4"


def test_esearch_errors(alice):
    m = alice([message("a")])
    for args in (("RETURN", "(SAVE)", "ALL"), ("RETURN", "MIN", "ALL"),
                 ("RETURN", "(MIN)")):
        assert_bad(m, "SEARCH", *args)


# ---- QUOTA ----

def quota(m, *args):
    typ, data = m._simple_command(*args)
    roots = m.untagged_responses.pop("QUOTAROOT", [])
    quotas = m.untagged_responses.pop("QUOTA", [])
    return typ, roots, quotas


def sizes(m):
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(RFC822.SIZE)")
    return [int(re.search(rb"RFC822.SIZE (\d+)", d).group(1)) for d in data]


def test_quota_alice(imap_store):
    send(imap_store, "alice@example.com", [message("a"), message("b", body="x" * 3000)])
    m = login(imap_store, "alice@example.com", "alice-secret")
    used = sum(sizes(m))
    kib = (used + 1023) // 1024
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "INBOX")
    assert typ == "OK"
    assert roots == [b'INBOX ""']
    assert quotas == [b'"" (STORAGE %d 102400 MESSAGE 2 10000)' % kib]
    typ, roots, quotas = quota(m, "GETQUOTA", '""')
    assert typ == "OK" and roots == []
    assert quotas == [b'"" (STORAGE %d 102400 MESSAGE 2 10000)' % kib]
    # the root covers every mailbox
    m.create("Work")
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "Work")
    assert typ == "OK" and roots == [b'Work ""'] and len(quotas) == 1
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "inbox")
    assert roots == [b'INBOX ""']
    m.logout()


def test_quota_errors(imap_store):
    send(imap_store, "alice@example.com", [message("a")])
    m = login(imap_store, "alice@example.com", "alice-secret")
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "Nowhere")
    assert typ == "NO" and roots == [] and quotas == []
    typ, roots, quotas = quota(m, "GETQUOTA", "user.alice")
    assert typ == "NO" and quotas == []
    typ, data = m._simple_command("SETQUOTA", '""', "(STORAGE 512)")
    assert typ == "NO" and b"[NOPERM]" in data[0]
    for args in (("GETQUOTA",), ("GETQUOTAROOT",), ("SETQUOTA", '""'),
                 ("GETQUOTA", '""', "extra")):
        assert_bad(m, *args)
    m.logout()


def test_quota_heidi_on_store2(make_store):
    port = free_port("127.0.0.2")
    st = make_store(name="store2", conf={"service.imap.listen": f"127.0.0.2:{port}",
                                         "service.imap.plaintextmincipher": "0"})
    st.imap = ("127.0.0.2", port)
    send(st, "heidi@example.com", [message("a"), message("b")])
    m = login(st, "heidi@example.com", "heidi-secret")
    kib = (sum(sizes(m)) + 1023) // 1024
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "INBOX")
    # 20000 octets is 19.5 KiB: rounded up, like the usage
    assert typ == "OK" and quotas == [b'"" (STORAGE %d 20 MESSAGE 2 5)' % kib]
    m.logout()


def test_quota_unlimited_user(imap_store):
    send(imap_store, "carol@example.org", [message("a")])
    m = login(imap_store, "carol@example.org", "carol-secret")
    typ, roots, quotas = quota(m, "GETQUOTAROOT", "INBOX")
    assert typ == "OK" and roots == [b'INBOX ""'] and quotas == [b'"" ()']
    typ, roots, quotas = quota(m, "GETQUOTA", '""')
    assert typ == "OK" and quotas == [b'"" ()']
    m.logout()


def test_shared_mailbox_quota_root_and_sort(imap_store):
    """Another user's mailbox counts against its owner's quota, which the
    reader cannot see: no quota root.  SORT and THREAD work on it."""
    send(imap_store, "alice@example.com", [message("b"), message("a")])
    alice = login(imap_store, "alice@example.com", "alice-secret")
    carol = login(imap_store, "carol@example.org", "carol-secret")
    shared = '"user/alice@example.com/INBOX"'
    typ, roots, quotas = quota(carol, "GETQUOTAROOT", shared)
    assert typ == "NO" and roots == [] and quotas == []
    assert alice.setacl("INBOX", "carol@example.org", "lr")[0] == "OK"
    typ, roots, quotas = quota(carol, "GETQUOTAROOT", shared)
    assert typ == "OK" and roots == [b"user/alice@example.com/INBOX"] and quotas == []
    assert carol.select(shared, readonly=True)[0] == "OK"
    assert numbers(carol.sort("(SUBJECT)", "UTF-8", "ALL")[1]) == [2, 1]
    assert carol.thread("ORDEREDSUBJECT", "UTF-8", "ALL")[1] == [b"(1)(2)"]
    alice.logout()
    carol.logout()


def test_search_keywords(alice):
    m = alice([message(s) for s in ("a", "b", "c")])
    assert m.store("1,3", "+FLAGS", "(Work)")[0] == "OK"
    assert m.store("3", "+FLAGS", "($Junk)")[0] == "OK"
    assert m.search(None, "KEYWORD", "work")[1] == [b"1 3"]
    assert m.search(None, "UNKEYWORD", "Work")[1] == [b"2"]
    assert m.search(None, "KEYWORD", "$Junk", "KEYWORD", "Work")[1] == [b"3"]
    assert m.search(None, "KEYWORD", "never-used")[1] == [b""]
    assert m.search(None, "UNKEYWORD", "never-used")[1] == [b"1 2 3"]
    assert numbers(m.sort("(REVERSE SUBJECT)", "UTF-8", "KEYWORD", "Work")[1]) == [3, 1]
