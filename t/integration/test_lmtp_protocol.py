"""LMTP protocol behaviour of the store: commands, pipelining, BDAT, and
every input limit with the reply it must give."""
import socket
import time

from lmtpclient import Lmtp, make_message


def test_greeting_and_lhlo_capabilities(store):
    c = Lmtp(*store.lmtp)
    assert c.greeting[0] == 220 and "LMTP" in c.greeting[1]
    code, text = c.lhlo()
    caps = text.split("\n")[1:]
    assert code == 250
    for cap in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "CHUNKING",
                "SMTPUTF8", "SIZE 52428800"):
        assert cap in caps


def test_command_order_and_unknown_commands(store):
    c = Lmtp(*store.lmtp)
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503       # before LHLO
    assert c.cmd("HELO x")[0] == 500                        # this is LMTP
    assert c.cmd("EHLO x")[0] == 500
    assert c.cmd("LHLO")[0] == 501
    c.lhlo()
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 503   # before MAIL
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("FROB")[:2] == (500, "5.5.1 Unknown command")
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.example>")[0] == 503       # nested MAIL
    assert c.cmd("DATA")[0] == 503                          # no recipients
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("VRFY alice")[0] == 252
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


def test_mail_and_rcpt_syntax(lmtp):
    assert lmtp.cmd("MAIL FROM:alice@example.com")[0] == 501
    assert lmtp.cmd("MAIL FROM:<a@b.example> FOO=BAR")[0] == 555
    assert lmtp.cmd("MAIL FROM:<a@b.example> BODY=BINARYMIME")[0] == 501
    assert lmtp.cmd("MAIL FROM:<a@b.example> SIZE=abc")[0] == 501
    assert lmtp.cmd("MAIL FROM:<a@b.example> BODY=8BITMIME RET=HDRS ENVID=x")[0] == 250
    assert lmtp.cmd("RCPT TO:<>")[0] == 501
    assert lmtp.cmd("RCPT TO:<alice@example.com> FOO=1")[0] == 555
    assert lmtp.cmd("RCPT TO:<alice@example.com> NOTIFY=NEVER ORCPT=rfc822;a@b")[0] == 250
    assert lmtp.cmd("RCPT TO:<" + "a" * 65 + "@example.com>")[0] == 501


def test_pipelined_transactions_answer_in_order(store):
    c = Lmtp(*store.lmtp)
    batch = ["LHLO pipe.test"]
    for i in range(3):
        batch += ["MAIL FROM:<p@example.net>", "RCPT TO:<alice@example.com>",
                  "RCPT TO:<nobody@example.com>", "RCPT TO:<carol@example.org>"]
        batch += ["RSET"] if i == 1 else []
    c.send("\r\n".join(batch[:5]) + "\r\n")
    assert c.reply()[0] == 250                      # LHLO
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 550, 250]
    assert c.cmd("DATA")[0] == 354
    # The message, then a whole second transaction, in one write.
    c.send(b"Subject: p1\r\n\r\nx\r\n.\r\nMAIL FROM:<p@example.net>\r\n"
           b"RCPT TO:<carol@example.org>\r\nNOOP\r\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 250, 250]
    assert len(store.inbox_files("carol@example.org")) == 1


def test_bdat_chunks(store, lmtp):
    assert lmtp.cmd("MAIL FROM:<b@example.net>")[0] == 250
    assert lmtp.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert lmtp.cmd("RCPT TO:<carol@example.org>")[0] == 250
    part1 = b"Subject: chunked\r\n\r\nfirst "
    part2 = b"second\r\n.not stuffed\r\n"
    lmtp.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert lmtp.reply()[0] == 250
    lmtp.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert [lmtp.reply()[0] for _ in range(2)] == [250, 250]
    data = store.inbox_messages("carol@example.org")[0]
    assert data.endswith(b"\r\n\r\nfirst second\r\n.not stuffed\r\n")


def test_bdat_keeps_a_final_bare_cr(store, lmtp):
    lmtp.cmd("MAIL FROM:<b@example.net>")
    lmtp.cmd("RCPT TO:<alice@example.com>")
    body = b"Subject: cr\r\n\r\nends in CR\r"
    lmtp.send(b"BDAT %d LAST\r\n" % len(body) + body)
    assert lmtp.reply()[0] == 250
    assert store.inbox_messages("alice@example.com")[0].endswith(b"ends in CR\r")


def test_bdat_without_transaction_skips_its_bytes(lmtp):
    body = b"RSET\r\nQUIT\r\n"          # looks like commands: must be skipped
    lmtp.send(b"BDAT %d LAST\r\n" % len(body) + body)
    assert lmtp.reply()[0] == 503
    assert lmtp.cmd("NOOP")[0] == 250
    assert lmtp.cmd("MAIL FROM:<b@example.net>")[0] == 250
    lmtp.send(b"BDAT 4\r\nabcd")
    assert lmtp.reply()[0] == 503           # no valid recipients
    assert lmtp.cmd("BDAT x")[0] == 501


def test_long_command_line(store):
    c = Lmtp(*store.lmtp)
    c.lhlo()
    assert c.cmd("NOOP " + "x" * 5000)[:2] == (500, "5.5.2 Line too long (limit 2048)")
    assert c.cmd("NOOP")[0] == 250          # the session carries on
    # Sent in pieces, without a newline for a while.
    c.send("MAIL FROM:<" + "y" * 3000)
    time.sleep(0.2)
    c.send("z" * 3000 + "@example.net>\r\nNOOP\r\n")
    assert c.reply()[0] == 500 and c.reply()[0] == 250


def test_size_limits(make_store):
    st = make_store(conf={"service.lmtp.maxmessagesize": "10k"})
    c = Lmtp(*st.lmtp)
    c.lhlo()
    assert "SIZE 10240" in c.lhlo()[1]
    assert c.cmd("MAIL FROM:<s@example.net> SIZE=20000")[:2] == \
        (552, "5.3.4 Message size exceeds fixed limit")
    _, _, data = c.deliver("s@example.net", ["alice@example.com", "carol@example.org"],
                           make_message("big", size=30000))
    assert [code for code, _ in data] == [552, 552]
    assert st.inbox_files("alice@example.com") == []
    assert c.deliver("s@example.net", ["alice@example.com"],
                     make_message("small", size=5000))[2][0][0] == 250
    # BDAT over the limit: refused at the chunk that crosses it, and
    # LAST still gets one reply per accepted recipient (RFC 2033 4.2).
    c.cmd("MAIL FROM:<s@example.net>")
    c.cmd("RCPT TO:<alice@example.com>")
    c.cmd("RCPT TO:<carol@example.org>")
    chunk = b"x" * 12000
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert c.reply()[0] == 552
    c.send(b"BDAT 3 LAST\r\nabc")
    assert [c.reply()[0], c.reply()[0]] == [552, 552]
    assert c.cmd("RSET")[0] == 250
    assert len(st.inbox_files("alice@example.com")) == 1
    assert __import__("os").listdir(st.partition + "/tmp") == []


def test_header_limits(make_store):
    st = make_store(conf={"service.lmtp.maxheadersize": "2k",
                          "service.lmtp.maxheaderfields": "20"})
    c = Lmtp(*st.lmtp)
    c.lhlo()
    big = "X-Big: " + "h" * 3000 + "\r\n"
    assert c.deliver("s@example.net", ["alice@example.com"],
                     make_message("hdr", extra=big))[2] == \
        [(552, "5.3.4 Message header exceeds limits")]
    many = "".join(f"X-F{i}: v\r\n" for i in range(30))
    assert c.deliver("s@example.net", ["alice@example.com"],
                     make_message("many", extra=many))[2][0][0] == 552
    assert st.inbox_files("alice@example.com") == []


def test_recipient_limit(make_store):
    st = make_store(conf={"service.lmtp.maxrecipients": "2"})
    c = Lmtp(*st.lmtp)
    c.lhlo()
    c.cmd("MAIL FROM:<s@example.net>")
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<nobody@example.com>")[0] == 550
    assert c.cmd("RCPT TO:<carol@example.org>")[:2] == (452, "4.5.3 Too many recipients")


def test_nul_and_bare_lf(store, lmtp):
    assert lmtp.deliver("s@example.net", ["alice@example.com"],
                        b"Subject: nul\r\n\r\na\0b\r\n")[2] == \
        [(554, "5.6.0 Message contains NUL octets")]
    lmtp.cmd("MAIL FROM:<s@example.net>")
    lmtp.cmd("RCPT TO:<alice@example.com>")
    lmtp.cmd("DATA")
    lmtp.send(b"Subject: lf\n\nline one\nline two\n.\n")
    assert lmtp.reply()[0] == 250
    data = store.inbox_messages("alice@example.com")[0]
    assert data.endswith(b"Subject: lf\r\n\r\nline one\r\nline two\r\n")


def test_dot_stuffing_is_undone(store, lmtp):
    lmtp.cmd("MAIL FROM:<s@example.net>")
    lmtp.cmd("RCPT TO:<alice@example.com>")
    lmtp.cmd("DATA")
    lmtp.send(b"Subject: dots\r\n\r\n..leading\r\n.\r\n")
    assert lmtp.reply()[0] == 250
    assert store.inbox_messages("alice@example.com")[0].endswith(b"\r\n.leading\r\n")


def test_too_many_errors_closes_the_session(make_store):
    st = make_store(conf={"service.lmtp.maxerrors": "3"})
    c = Lmtp(*st.lmtp)
    for _ in range(3):
        assert c.cmd("BOGUS")[0] == 500
    assert c.cmd("BOGUS")[0] == 500
    assert c.reply()[0] == 421
    assert c.closed()


def test_session_limit(make_store):
    st = make_store(conf={"service.lmtp.maxsessions": "2"})
    a, b = Lmtp(*st.lmtp), Lmtp(*st.lmtp)
    assert a.greeting[0] == 220 and b.greeting[0] == 220
    c = Lmtp(*st.lmtp)
    assert c.greeting[0] == 421 and c.closed()
    a.cmd("QUIT")
    time.sleep(0.2)
    assert Lmtp(*st.lmtp).greeting[0] == 220


def test_idle_timeout(make_store):
    st = make_store(conf={"service.lmtp.idletimeout": "1"})
    c = Lmtp(*st.lmtp)
    c.lhlo()
    time.sleep(1.5)
    assert c.reply()[0] == 421
    assert c.closed()


def test_client_vanishing_mid_data_leaves_nothing(store):
    c = Lmtp(*store.lmtp)
    c.lhlo()
    c.cmd("MAIL FROM:<s@example.net>")
    c.cmd("RCPT TO:<alice@example.com>")
    c.cmd("DATA")
    c.send(b"Subject: cut\r\n\r\n" + b"x" * 100000)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.3)
    assert store.alive()
    assert store.inbox_files("alice@example.com") == []
    assert __import__("os").listdir(store.partition + "/tmp") == []


def test_half_closed_client_still_gets_every_reply(store):
    # A client that pipelines a whole session and shuts down its sending
    # side must still be answered; its mail must be delivered once.
    s = socket.create_connection(store.lmtp)
    body = make_message("half-closed", size=2000).replace(b"\n.", b"\n..")
    s.sendall(b"LHLO half.test\r\nMAIL FROM:<h@example.net>\r\n"
              b"RCPT TO:<alice@example.com>\r\nRCPT TO:<carol@example.org>\r\n"
              b"DATA\r\n" + body + b".\r\nQUIT\r\n")
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    codes = [line[:3] for line in data.decode().split("\r\n")
             if line[3:4] == " "]
    assert codes == ["220", "250", "250", "250", "250", "354", "250", "250",
                     "221"]
    assert len(store.inbox_files("alice@example.com")) == 1
