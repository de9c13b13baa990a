"""The lmtp channel's delivery program (bin/lmtp_client) as jobctl runs it:
`lmtp_client -c msg.conf lmtp` in the queue root, "entry PATH" lines in,
"rcpt PATH INDEX ok|defer|fail CODE TEXT" and "done PATH" lines out.
Real slapd, real stores on 127.0.0.2 (store1) and 127.0.0.3 (store2), a
real mta to queue the messages (or entry files written here for the odd
cases)."""
import os
import time

import chanjob
from chanjob import rcpt_lines, rel, snapshot
from smtpclient import send_accepted



def run_job(m, lines, channel="lmtp"):
    return chanjob.run_job("lmtp_client", m, lines, channel)


def write_entry(m, rcpts, sender="s@example.net", body=None, channel="lmtp",
                extra=()):
    return chanjob.write_entry(m, rcpts, BODY if body is None else body,
                               sender, channel, extra)


BODY = (b"From: s@example.net\r\nTo: team\r\nSubject: channel test\r\n\r\n"
        b"first line\r\n.leading dot\r\n..two dots\r\nlast line\r\n")


def stores(make_store, down=()):
    """store1 and store2, started unless named in down (then stopped)."""
    st1 = make_store(name="store1", host="127.0.0.2")
    st2 = make_store(name="store2", host="127.0.0.3")
    for st in (st1, st2):
        if st.name in down:
            st.stop()
            st.daemon = None
    return st1, st2


def lmtp_conf(st1, st2, timeout="pt10s"):
    return {"mta.lmtp.hosts": f"store1.example.com=127.0.0.2:{st1.port} "
                              f"store2.example.com=127.0.0.3:{st2.port}",
            "mta.lmtp.timeout": timeout}


def send(m, rcpts, body=BODY, sender="s@example.net"):
    return send_accepted(m.smtp, sender, rcpts, body)


def lmtp_entries(m):
    return [e for e in m.entries() if e["channel"] == "lmtp"]














def idle_mta(make_mta, st1, st2, **kw):
    """An mta configuration (not started) for entries written by hand."""
    m = make_mta(start=False, conf=lmtp_conf(st1, st2, **kw))
    os.makedirs(m.queue, exist_ok=True)
    return m


def test_delivers_to_each_users_store(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = make_mta(conf=lmtp_conf(st1, st2))
    send(m, ["alice@example.com", "bob@example.com", "carol@example.org"])
    [entry] = lmtp_entries(m)
    path = rel(m, entry)
    before = snapshot(m)
    out, err = run_job(m, [f"entry {path}"])
    assert out[-1] == f"done {path}" and len(out) == 4
    addrs = [r["address"] for r in entry["env"]["rcpt"]]
    got = rcpt_lines(out, path)
    assert sorted(got) == [0, 1, 2]
    for i, addr in enumerate(addrs):
        result, code, text = got[i]
        assert (result, code) == ("ok", 250), (addr, got[i])
        assert text.startswith("2.0.0 Delivered")
        assert f"rcpt=<{addr}>" in err
    assert snapshot(m) == before, "the job changed the queue"
    for st, user in ((st1, "alice@example.com"), (st1, "carol@example.org"),
                     (st2, "bob@example.com")):
        [msg] = st.inbox_messages(user)
        # The store adds its trace fields; the rest is the queued message,
        # dots un-stuffed again.
        assert msg.endswith(entry["msg"]), user
        assert b"\r\n.leading dot\r\n..two dots\r\n" in msg
    assert st2.inbox_messages("alice@example.com") == []
    assert st1.inbox_messages("bob@example.com") == []


def test_directory_verdicts(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = idle_mta(make_mta, st1, st2)
    path = write_entry(m, [
        "nobody@example.com",                         # 0: not in the directory
        "frank@example.com",                          # 1: inactive
        "grace@example.com",                          # 2: deleted
        "mmp@example.com",                            # 3: no mailHost
        ("judy@example.org", " state=delivered"),     # 4: not pending
        ("ivan@example.com", " state=failed"),        # 5: not pending
        "alice@example.com",                          # 6
    ])
    before = snapshot(m)
    out, err = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0] == ("fail", 550, "5.1.1 no such user in the directory")
    assert got[1][:2] == ("defer", 450) and got[1][2].startswith("4.2.1")
    assert got[2][:2] == ("fail", 550) and got[2][2].startswith("5.2.1")
    assert got[3][0] == "defer" and got[3][2].startswith("4.")
    assert got[6][:2] == ("ok", 250)
    assert sorted(got) == [0, 1, 2, 3, 6]
    assert out[-1] == f"done {path}"
    assert len(st1.inbox_messages("alice@example.com")) == 1
    assert st1.inbox_messages("judy@example.org") == []
    assert st2.inbox_messages("frank@example.com") == []
    assert snapshot(m) == before


def test_store_down_defers_its_recipients_only(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = make_mta(conf=lmtp_conf(st1, st2))
    send(m, ["bob@example.com", "alice@example.com"])
    st2.stop()
    st2.daemon = None
    [entry] = lmtp_entries(m)
    path = rel(m, entry)
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    idx = {r["address"]: i for i, r in enumerate(entry["env"]["rcpt"])}
    assert got[idx["alice@example.com"]][:2] == ("ok", 250)
    result, code, text = got[idx["bob@example.com"]]
    assert (result, code) == ("defer", 0)
    assert text == (f"4.4.1 store2.example.com: connect(127.0.0.3:{st2.port}): "
                    "Connection refused")
    assert out[-1] == f"done {path}"


def test_store_answers_rcpt_refusals(make_store, make_mta):
    """A store that is not the user's mailHost refuses with 450 4.2.0:
    defer, with the store's own code and text."""
    st1, st2 = stores(make_store)
    conf = lmtp_conf(st1, st2)
    conf["mta.lmtp.hosts"] = f"STORE1.example.com=127.0.0.3:{st2.port}"
    m = make_mta(start=False, conf=conf)
    os.makedirs(m.queue, exist_ok=True)
    path = write_entry(m, ["alice@example.com", "carol@example.org"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    for i in (0, 1):
        assert got[i] == ("defer", 450, "4.2.0 Mailbox is not on this store (mailHost)")
    assert st1.inbox_messages("alice@example.com") == []


def test_quota_as_the_store_answers(make_store, make_mta):
    """heidi (store2) has mailMsgQuota 5: the sixth message is refused,
    for now (the store's grace period)."""
    st1, st2 = stores(make_store)
    m = make_mta(conf=lmtp_conf(st1, st2))
    for _ in range(6):
        send(m, ["heidi@example.com"])
    paths = sorted((e["env"]["id"], rel(m, e)) for e in lmtp_entries(m))
    assert len(paths) == 6
    out, _ = run_job(m, [f"entry {p}" for _, p in paths])
    verdicts = [rcpt_lines(out, p)[0] for _, p in paths]
    assert [v[0] for v in verdicts[:5]] == ["ok"] * 5
    assert verdicts[5] == ("defer", 452, "4.2.2 Mailbox full, try again later")
    assert [l.split()[0] for l in out].count("done") == 6
    assert len(st2.inbox_messages("heidi@example.com")) == 6  # 5 + the warning


def test_dsn_parameters_and_8bit(make_store, make_mta):
    """ENVID, RET, NOTIFY, ORCPT go to a store that offers DSN; an 8-bit
    sender asks for SMTPUTF8; the store takes them all."""
    st1, st2 = stores(make_store)
    m = idle_mta(make_mta, st1, st2)
    path = write_entry(m, [
        ("alice@example.com", " notify=success,failure orcpt=rfc822;Alice+40Example.com"),
        ("bob@example.com", " notify=never"),
    ], sender="j\u00f6rg@example.net", extra=["ret hdrs", "envid ab+2Bc"],
        body=b"Subject: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n")
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0][:2] == ("ok", 250) and got[1][:2] == ("ok", 250), out
    [msg] = st1.inbox_messages("alice@example.com")
    assert msg.endswith(b"Gr\xc3\xbc\xc3\x9fe\r\n")
    assert "j\u00f6rg@example.net".encode() in msg     # Return-Path


def test_bad_input_lines_and_entries(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = idle_mta(make_mta, st1, st2)
    good = write_entry(m, ["carol@example.org"])
    other = write_entry(m, ["alice@example.com"], channel="tcp_local")
    broken = os.path.join("lmtp", "00", "0123456789ABCDEF")
    os.makedirs(os.path.join(m.queue, "lmtp", "00"), exist_ok=True)
    with open(os.path.join(m.queue, broken), "wb") as f:
        f.write(b"version 1\nno such key\n\nbody\r\n")
    missing = "lmtp/01/VVVVVVVVVVVVVVVV"
    before = snapshot(m)
    out, err = run_job(m, [
        "garbage",
        "entry /etc/passwd",
        "entry ../outside",
        "done " + good,
        "entry " + "x" * 5000,
        f"entry {missing}",
        f"entry {broken}",
        f"entry {other}",
        f"entry {good}",
    ])
    assert out[:3] == [f"done {missing}", f"done {broken}", f"done {other}"]
    assert rcpt_lines(out, good)[0][:2] == ("ok", 250)
    assert out[3:] == [out[3], f"done {good}"] and len(out) == 5
    assert err.count("skipped") == 5, err
    assert "No such file or directory" in err
    assert "unparsable envelope" in err
    assert "names channel tcp_local" in err
    assert st1.inbox_messages("alice@example.com") == []
    assert snapshot(m) == before


def test_empty_input_exits_at_once(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = idle_mta(make_mta, st1, st2)
    out, _ = run_job(m, [])
    assert out == []


def test_store_that_stops_answering_defers(make_store, make_mta):
    """A store that accepts the connection but never greets: the timeout
    defers the recipients (code 0)."""
    import socket
    st1, st2 = stores(make_store)
    silent = socket.socket()
    silent.bind(("127.0.0.3", 0))
    silent.listen(4)
    try:
        conf = lmtp_conf(st1, st2, timeout="1")
        conf["mta.lmtp.hosts"] = f"store2.example.com=127.0.0.3:{silent.getsockname()[1]}"
        m = make_mta(start=False, conf=conf)
        os.makedirs(m.queue, exist_ok=True)
        path = write_entry(m, ["bob@example.com"])
        t0 = time.monotonic()
        out, _ = run_job(m, [f"entry {path}"])
        assert time.monotonic() - t0 < 10
        result, code, text = rcpt_lines(out, path)[0]
        assert (result, code) == ("defer", 0)
        assert text == "4.4.2 store2.example.com: timeout after 1s waiting for a reply"
    finally:
        silent.close()


class FakeStore:
    """A scripted LMTP server on 127.0.0.3 for one session: what the
    client sends is recorded (the body as sent, still dot-stuffed).
    rcpt maps an address to its RCPT reply (default 250); data lists the
    replies after the final dot (None: hang up there instead; data None:
    250 for each recipient taken)."""

    def __init__(self, rcpt=None, data=None, ext=("DSN", "8BITMIME", "SMTPUTF8", "SIZE 100000")):
        import socket
        import threading
        self.rcpt, self.data, self.ext = rcpt or {}, data, ext
        self.taken = 0
        self.lines, self.body = [], b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.3", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        f = conn.makefile("rb")
        out = lambda s: conn.sendall(s.encode())
        out("220 fake ready\r\n")
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ")[0].upper()
            if verb == "LHLO":
                out("".join(f"250-{e}\r\n" for e in ("fake",) + self.ext[:-1]) +
                    f"250 {self.ext[-1]}\r\n")
            elif verb == "MAIL":
                out("250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = line[line.index("<") + 1:line.index(">")]
                reply = self.rcpt.get(addr, "250 2.1.5 Ok")
                self.taken += reply.startswith("2")
                out(reply + "\r\n")
            elif verb == "RSET":
                self.taken = 0
                out("250 2.0.0 Ok\r\n")
            elif verb == "DATA":
                out("354 go ahead\r\n")
                while True:
                    chunk = f.readline()
                    self.body += chunk
                    if chunk == b".\r\n" or not chunk:
                        break
                replies = self.data
                if self.data is None:
                    replies = ["250 2.0.0 ok"] * self.taken
                self.taken = 0
                for reply in replies:
                    if reply is None:
                        conn.close()
                        return
                    out(reply + "\r\n")
            elif verb == "QUIT":
                out("221 bye\r\n")
                break
        conn.close()

    def close(self):
        self.thread.join(5)
        self.sock.close()


def fake_mta(make_mta, fake):
    m = make_mta(start=False, conf={
        "mta.lmtp.hosts": f"store1.example.com=127.0.0.3:{fake.port}",
        "mta.lmtp.timeout": "pt5s"})
    os.makedirs(m.queue, exist_ok=True)
    return m


def test_commands_and_body_on_the_wire(make_mta):
    fake = FakeStore(data=["250 2.0.0 one", "552-5.2.2 over\r\n552 5.2.2 quota",
                           "452 4.2.2 later"])
    m = fake_mta(make_mta, fake)
    path = write_entry(m, [
        ("alice@example.com", " notify=success,delay orcpt=rfc822;Alice+2Bx@example.com"),
        ("carol@example.org", " notify=never"),
        "ivan@example.com",
    ], sender="j\u00f6rg@example.net", extra=["ret full", "envid id+3D1"],
        body=b"Subject: s\r\n\r\n.a\r\nb\n..c\r\nno end")
    out, _ = run_job(m, [f"entry {path}"])
    fake.close()
    size = os.path.getsize(os.path.join(m.queue, path)) - \
        open(os.path.join(m.queue, path), "rb").read().index(b"\n\n") - 2
    assert fake.lines[0] == "LHLO mx.example.com"
    assert fake.lines[1] == ("MAIL FROM:<j\u00f6rg@example.net> BODY=8BITMIME SMTPUTF8 "
                             f"RET=FULL ENVID=id+3D1 SIZE={size}")
    assert fake.lines[2:6] == [
        "RCPT TO:<alice@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2Bx@example.com",
        "RCPT TO:<carol@example.org> NOTIFY=NEVER",
        "RCPT TO:<ivan@example.com>",
        "DATA"]
    assert fake.body == b"Subject: s\r\n\r\n..a\r\nb\r\n...c\r\nno end\r\n.\r\n"
    assert fake.lines[-1] == "QUIT"
    got = rcpt_lines(out, path)
    assert got == {0: ("ok", 250, "2.0.0 one"),
                   1: ("fail", 552, "5.2.2 over 5.2.2 quota"),
                   2: ("defer", 452, "4.2.2 later")}


def test_no_extensions_no_parameters_and_rcpt_refusals(make_mta):
    fake = FakeStore(ext=("PIPELINING",), rcpt={"carol@example.org": "550 5.1.1 unknown",
                                               "ivan@example.com": "451 4.3.0 busy"},
                     data=["250 2.0.0 ok"])
    m = fake_mta(make_mta, fake)
    path = write_entry(m, [("alice@example.com", " notify=never"),
                           "carol@example.org", "ivan@example.com"],
                       extra=["ret full", "envid x"])
    out, _ = run_job(m, [f"entry {path}"])
    fake.close()
    assert fake.lines[1] == "MAIL FROM:<s@example.net>"
    assert fake.lines[2] == "RCPT TO:<alice@example.com>"
    assert rcpt_lines(out, path) == {0: ("ok", 250, "2.0.0 ok"),
                                     1: ("fail", 550, "5.1.1 unknown"),
                                     2: ("defer", 451, "4.3.0 busy")}


def test_hang_up_after_some_data_replies(make_mta):
    """Replies given stand; the rest wait (code 0)."""
    fake = FakeStore(data=["250 2.0.0 first", None])
    m = fake_mta(make_mta, fake)
    path = write_entry(m, ["alice@example.com", "carol@example.org"])
    out, _ = run_job(m, [f"entry {path}"])
    fake.close()
    got = rcpt_lines(out, path)
    assert got[0] == ("ok", 250, "2.0.0 first")
    assert got[1][:2] == ("defer", 0)
    assert got[1][2].startswith("4.4.2 store1.example.com: connection closed")


def test_directory_down_defers_everyone(make_store, make_mta):
    st1, st2 = stores(make_store)
    m = make_mta(start=False, ldap_uri="ldap://127.0.0.1:1", conf=lmtp_conf(st1, st2))
    os.makedirs(m.queue, exist_ok=True)
    path = write_entry(m, ["alice@example.com", "nobody@example.com"])
    out, _ = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path) == {0: ("defer", 0, "4.4.3 directory unavailable"),
                                     1: ("defer", 0, "4.4.3 directory unavailable")}
    assert out[-1] == f"done {path}"
    assert st1.inbox_messages("alice@example.com") == []


def test_many_recipients_in_transactions_of_100(make_mta):
    fake = FakeStore()
    m = fake_mta(make_mta, fake)
    path = write_entry(m, ["alice@example.com"] * 150)
    out, _ = run_job(m, [f"entry {path}"])
    fake.close()
    verbs = [l.split(" ")[0] for l in fake.lines]
    assert verbs == (["LHLO", "MAIL"] + ["RCPT"] * 100 + ["DATA", "RSET", "MAIL"] +
                     ["RCPT"] * 50 + ["DATA", "QUIT"])
    got = rcpt_lines(out, path)
    assert sorted(got) == list(range(150))
    assert all(v == ("ok", 250, "2.0.0 ok") for v in got.values())
