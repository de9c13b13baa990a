"""SEARCH text keys match what the reader sees (RFC 3501 6.4.4, RFC 9051
recommends decoding): encoded words in header fields, transfer encodings
and charsets of text parts, case-insensitively on UTF-8.  Real messages
are delivered over LMTP and searched with imaplib, the UTF-8 search
strings sent as literals."""
import base64
import imaplib

import pytest

from lmtpclient import Lmtp


def header(*fields):
    return "".join(f + "\r\n" for f in fields).encode() + b"\r\n"


MESSAGES = [
    # 1: an encoded subject, a plain body
    header("From: Sender <sender@example.net>", "To: alice@example.com",
           "Subject: =?UTF-8?Q?caf=C3=A9?= au lait") + b"plain body\r\n",
    # 2: a quoted-printable body with a soft line break
    header("From: sender@example.net", "To: alice@example.com", "Subject: qp",
           "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
           "Content-Transfer-Encoding: quoted-printable")
    + b"a na=C3=AFve wo=\r\nrd\r\n",
    # 3: multipart: a base64 text part and a base64 attachment
    header("From: sender@example.net", "To: alice@example.com",
           "Subject: multi", "MIME-Version: 1.0",
           'Content-Type: multipart/mixed; boundary="b1"')
    + b"preamble\r\n--b1\r\n"
    + header("Content-Type: text/plain; charset=UTF-8",
             "Content-Transfer-Encoding: base64")
    + base64.encodebytes("Grüße aus Zürich\r\n".encode()).replace(b"\n", b"\r\n")
    + b"--b1\r\n"
    + header("Content-Type: application/octet-stream; name=x.bin",
             "Content-Disposition: attachment; filename=x.bin",
             "Content-Transfer-Encoding: base64")
    + base64.encodebytes(b"secretpayload hidden in an attachment\r\n").replace(b"\n", b"\r\n")
    + b"--b1--\r\n",
    # 4: an ISO-8859-1 body, 8bit
    header("From: sender@example.net", "To: alice@example.com",
           "Subject: latin1", "MIME-Version: 1.0",
           "Content-Type: text/plain; charset=ISO-8859-1",
           "Content-Transfer-Encoding: 8bit")
    + "Crème brûlée\r\n".encode("latin-1"),
    # 5: encoded words in address fields and another header
    header("From: =?ISO-8859-1?Q?J=F6rg?= Meyer <jorg@example.net>",
           "To: =?KOI8-R?B?8NLJ18XU?= <ivan@example.org>",
           "Subject: words", "X-Label: =?UTF-8?B?w6l0w6k=?=") + b"nothing\r\n",
    # 6: a forwarded message whose text is quoted-printable
    header("From: sender@example.net", "To: alice@example.com",
           "Subject: fwd", "MIME-Version: 1.0",
           "Content-Type: message/rfc822")
    + header("From: inner@example.net", "Subject: =?UTF-8?Q?inn=C3=A8r?=",
             "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: quoted-printable")
    + b"d=C3=A9j=C3=A0 vu\r\n",
]


@pytest.fixture
def mbox(imap_store):
    c = Lmtp(*imap_store.lmtp)
    c.lhlo()
    for raw in MESSAGES:
        _, _, data = c.deliver("sender@example.net", ["alice@example.com"], raw)
        assert data and data[0][0] == 250, data
    c.cmd("QUIT")
    c.close()
    conn = imaplib.IMAP4(*imap_store.imap)
    assert conn.login("alice@example.com", "alice-secret")[0] == "OK"
    assert conn.select("INBOX")[0] == "OK"
    yield conn
    try:
        conn.logout()
    except Exception:
        pass


def search(conn, key, text):
    """SEARCH CHARSET UTF-8 key {n}text: the matching sequence numbers."""
    conn.literal = text.encode()
    typ, data = conn.search("UTF-8", key)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_encoded_subject(mbox):
    assert search(mbox, "SUBJECT", "café") == [1]
    assert search(mbox, "SUBJECT", "CAFÉ AU") == [1]      # case-insensitive
    assert search(mbox, "SUBJECT", "=?UTF-8?Q?") == []    # not the raw octets
    # plain ASCII keys still work, with or without a charset
    typ, data = mbox.search(None, "SUBJECT", "LAIT")
    assert data == [b"1"]


def test_quoted_printable_body(mbox):
    assert search(mbox, "BODY", "naïve") == [2]
    assert search(mbox, "BODY", "NAÏVE WORD") == [2]      # soft break joined
    assert search(mbox, "BODY", "C3=AF") == []


def test_base64_text_part_but_not_the_attachment(mbox):
    assert search(mbox, "BODY", "zürich") == [3]
    assert search(mbox, "TEXT", "GRÜSSE") == []           # no special casing
    assert search(mbox, "TEXT", "grüße") == [3]
    assert search(mbox, "BODY", "secretpayload") == []
    raw = base64.encodebytes(b"secretpayload hidden")[:12].decode()
    assert search(mbox, "BODY", raw) == []
    assert search(mbox, "TEXT", raw) == []


def test_latin1_body_found_by_utf8(mbox):
    assert search(mbox, "BODY", "crème brûlée") == [4]
    assert search(mbox, "BODY", "CRÈME") == [4]


def test_address_fields_and_header_decoded(mbox):
    assert search(mbox, "FROM", "jörg") == [5]
    assert search(mbox, "TO", "привет") == [5]
    assert search(mbox, "TO", "ПРИВЕТ") == [5]
    assert search(mbox, "HEADER X-Label", "ÉTÉ") == [5]
    assert search(mbox, "HEADER X-Label", "") == [5]
    # TEXT sees the decoded header; BODY does not
    assert search(mbox, "TEXT", "Jörg Meyer") == [5]
    assert search(mbox, "BODY", "Jörg") == []


def test_embedded_message(mbox):
    assert search(mbox, "BODY", "déjà vu") == [6]
    assert search(mbox, "BODY", "innèr") == [6]           # its header too
    assert search(mbox, "TEXT", "DÉJÀ") == [6]


def test_combined_keys_and_uid(mbox):
    conn = mbox
    conn.literal = "café".encode()
    typ, data = conn.uid("SEARCH", "CHARSET", "UTF-8", "OR", "BODY", "zzz",
                         "SUBJECT")
    assert typ == "OK" and data[0].split() == [b"1"]
    typ, data = conn.search(None, "NOT", "BODY", "zzz-not-there")
    assert len(data[0].split()) == len(MESSAGES)
