"""A full synchronisation round trip with mbsync (isync): the store's
mailboxes to a local Maildir and back, over STARTTLS, with UIDPLUS and
flag changes in both directions."""
import os

import pytest

from certs import make_certs
from conftest import deliver
from mbsync import maildir_files, mbsync, mbsync_setup
from suite import free_port


@pytest.fixture
def synced(make_store, tmp_path):
    # mbsync matches the host against the common name, not IP SANs.
    certs = make_certs(str(tmp_path / "certs"), ["127.0.0.2"])
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          "local.tls.certfile": certs["cert"],
                          "local.tls.keyfile": certs["key"]})
    sync = mbsync_setup(tmp_path, "127.0.0.2", port, "alice@example.com",
                        "alice-secret", certs["ca"])
    st.mbsync_rc, st.maildir = sync.mbsync_rc, sync.maildir
    st.ca = certs["ca"]
    return st


def test_round_trip(synced):
    import imaplib
    deliver(synced, "alice@example.com", ["one", "two"])
    mbsync(synced)
    files = maildir_files(synced, "INBOX")
    assert len(files) == 2
    assert os.path.isdir(os.path.join(synced.maildir, "Sent"))
    # Local change: mark one seen, add a message to Drafts.
    box = os.path.join(synced.maildir, "INBOX")
    sub = "cur" if os.listdir(os.path.join(box, "cur")) else "new"
    first = sorted(os.listdir(os.path.join(box, sub)))[0]
    base = first.split(":2,")[0]
    os.rename(os.path.join(box, sub, first), os.path.join(box, "cur", base + ":2,FS"))
    drafts_new = os.path.join(synced.maildir, "Drafts", "new")
    os.makedirs(drafts_new, exist_ok=True)
    with open(os.path.join(drafts_new, "1.local.draft"), "wb") as f:
        f.write(b"Subject: local draft\r\nFrom: alice@example.com\r\n\r\ndraft\r\n")
    mbsync(synced)
    host, port = "127.0.0.2", int(open(synced.mbsync_rc).read().split("Port ")[1].split()[0])
    m = imaplib.IMAP4(host, port)
    import ssl
    m.starttls(ssl_context=ssl.create_default_context(cafile=synced.ca))
    m.login("alice@example.com", "alice-secret")
    m.select("INBOX")
    flags = [f for f in m.fetch("1:*", "(FLAGS)")[1]]
    assert sum(1 for f in flags if b"\\Seen" in f and b"\\Flagged" in f) == 1
    assert m.select("Drafts")[1] == [b"1"]
    # Remote change: delete one, flag the other, new mail; back to local.
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.store("1", "+FLAGS", "(\\Answered)")
    m.logout()
    deliver(synced, "alice@example.com", ["three"])
    mbsync(synced)
    files = maildir_files(synced, "INBOX")
    assert len(files) == 2
    assert any("R" in f.split(":2,")[1] for f in files if ":2," in f)
