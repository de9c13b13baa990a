"""Quota at delivery: heidi@example.com has mailQuota 20000 and
mailMsgQuota 5 (on store2); the defaults apply to users without them."""
from lmtpclient import Lmtp, make_message
from mindex import Index


def session(st):
    c = Lmtp(*st.lmtp)
    c.lhlo()
    return c


def fill(c, n, user="heidi@example.com"):
    """Deliver n messages; the final code of each (RCPT or DATA reply)."""
    codes = []
    for i in range(n):
        _, rcpts, data = c.deliver("s@example.net", [user], make_message(f"q{i}"))
        codes.append(data[0][0] if data else rcpts[0][0])
    return codes


def test_over_quota_is_temporary_during_grace(make_store):
    st = make_store(name="store2")
    c = session(st)
    assert fill(c, 4) == [250] * 4
    # The fifth fills the message quota: delivered, with the warning.
    assert fill(c, 1) == [250]
    subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0]
                for m in st.inbox_messages("heidi@example.com")]
    assert subjects.count(b"Your mailbox is nearly full") == 1
    mail, rcpts, data = c.deliver("s@example.net", ["heidi@example.com"], make_message("x"))
    assert rcpts == [(452, "4.2.2 Mailbox full, try again later")]
    idx = Index(st.dbdir)
    assert idx.user("heidi@example.com")["overquota_since"] > 0
    assert idx.user("heidi@example.com")["warned"] == 1
    idx.close()


def test_over_quota_is_permanent_after_grace(make_store):
    st = make_store(name="store2", conf={"store.quotagraceperiod": "0"})
    c = session(st)
    fill(c, 5)
    _, rcpts, _ = c.deliver("s@example.net", ["heidi@example.com"], make_message("x"))
    assert rcpts == [(552, "5.2.2 Mailbox full")]


def test_byte_quota_checked_against_the_real_size(make_store):
    st = make_store(name="store2")
    c = session(st)
    # Under the message quota but 25 kB > mailQuota 20000: refused after DATA.
    _, rcpts, data = c.deliver("s@example.net", ["heidi@example.com", "dave@example.org"],
                               make_message("big", size=25000))
    assert [r[0] for r in rcpts] == [250, 250]
    assert data == [(452, "4.2.2 Mailbox full, try again later"),
                    (250, "2.0.0 Delivered uid=1")]
    assert st.inbox_files("heidi@example.com") == []


def test_enforcement_off(make_store):
    st = make_store(name="store2", conf={"store.quotaenforcement": "no"})
    assert fill(session(st), 8) == [250] * 8


def test_guaranteed_listener_and_sender_ignore_quota(make_store):
    from suite import free_port
    port = free_port("127.0.0.3")
    st = make_store(name="store2", host="127.0.0.3", conf={
        "service.lmtp.guaranteedlisten": f"127.0.0.3:{port}",
        "store.guaranteedsenders": "postmaster@example.com"})
    c = session(st)
    fill(c, 6)
    assert c.deliver("s@example.net", ["heidi@example.com"], make_message("n"))[1][0][0] == 452
    assert c.deliver("postmaster@example.com", ["heidi@example.com"],
                     make_message("g1"))[2][0][0] == 250
    g = Lmtp("127.0.0.3", port)
    g.lhlo()
    assert g.deliver("s@example.net", ["heidi@example.com"], make_message("g2"))[2][0][0] == 250


def test_default_quota_applies_without_attributes(make_store):
    st = make_store(name="store2", conf={"store.defaultmessagequota": "2"})
    c = session(st)
    assert fill(c, 3, "dave@example.org") == [250, 250, 452]
