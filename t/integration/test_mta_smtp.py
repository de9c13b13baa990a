"""The mta's SMTP server (RFC 5321 and its extensions) driven by a raw
client and by smtplib: what it advertises, pipelining, CHUNKING, DSN
parameters carried into the queue, the trace field, and every limit with
its reply."""
import smtplib
import socket
import time

import pytest

from smtpclient import Smtp

MSG = b"From: a@example.net\r\nTo: alice@example.com\r\nSubject: t\r\n\r\nbody\r\n"


def session(mta, **kw):
    c = Smtp(mta.smtp, **kw)
    code, _ = c.ehlo()
    assert code == 250
    return c


def test_ehlo_extensions(mta):
    c = Smtp(mta.smtp)
    code, text = c.greeting()
    assert code == 220 and "mx.example.com" in text[0]
    code, lines = c.cmd("EHLO client.example.net")
    assert code == 250
    ext = {l.split()[0] for l in lines[1:]}
    assert {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8",
            "ENHANCEDSTATUSCODES", "DSN", "CHUNKING"} <= ext
    assert "AUTH" not in ext, "no AUTH offered over plaintext by default"
    assert "STARTTLS" not in ext, "no certificate configured"
    assert c.cmd("HELO old.example.net")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


def test_order_and_syntax_errors(mta):
    c = Smtp(mta.smtp)
    c.greeting()
    assert c.cmd("MAIL FROM:<a@example.net>")[0] == 503
    assert c.cmd("EHLO")[0] == 501
    assert c.cmd("EHLO x")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("FROB")[0] == 500
    assert c.cmd("MAIL FROM:a@example.net")[0] == 501
    assert c.cmd("MAIL FROM:<a@example.net> FOO=1")[0] == 555
    assert c.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert c.cmd("MAIL FROM:<a@example.net>")[0] == 503
    assert c.cmd("RCPT TO:<>")[0] == 501
    assert c.cmd("DATA")[0] == 554, "DATA without a recipient"
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("VRFY alice")[0] == 252
    assert c.cmd("NOOP")[0] == 250


def test_too_many_errors_hang_up(make_mta):
    m = make_mta(conf={"service.smtp.maxerrors": "3"})
    c = session(m)
    for _ in range(3):
        assert c.cmd("FROB")[0] == 500
    assert c.cmd("FROB")[0] == 500
    code, text = c.reply()
    assert code == 421 and "4.7.0" in text[0]
    assert c.closed()


def test_long_line_is_refused_and_session_goes_on(mta):
    c = session(mta)
    c.send("NOOP " + "x" * 5000 + "\r\n")
    code, text = c.reply()
    assert code == 500 and "5.5.2" in text[0]
    assert c.cmd("NOOP")[0] == 250


def test_http_on_the_smtp_port_is_dropped(mta):
    c = Smtp(mta.smtp)
    c.greeting()
    c.send("GET / HTTP/1.0\r\n\r\n")
    assert c.closed()


def test_message_is_queued_with_trace(mta):
    c = session(mta)
    replies = c.transaction("sender@example.net", ["alice@example.com"], MSG)
    assert [r[0] for r in replies] == [250, 250, 354, 250], replies
    qid = replies[-1][1][0].split()[-1]
    [entry] = mta.entries()
    assert entry["channel"] == "lmtp"
    env = entry["env"]
    assert env["id"] == qid and env["source"] == "tcp_intranet"
    assert env["from"] == "sender@example.net"
    assert [r["address"] for r in env["rcpt"]] == ["alice@example.com"]
    assert int(env["size"]) == len(entry["msg"])
    first = entry["msg"].split(b"\r\n\t")[0]
    assert first.startswith(b"Received: from client.example.net ([127.0.0.1])")
    assert f"with ESMTP id {qid}".encode() in entry["msg"]
    assert entry["msg"].endswith(MSG)
    assert mta.tmp_files() == []
    [line] = mta.tracking()
    assert f"E id={qid} src=tcp_intranet dst=lmtp from=<sender@example.net>" in line
    assert "to=<alice@example.com>" in line


def test_one_entry_per_destination_channel(mta):
    c = session(mta)
    replies = c.transaction("sender@example.net",
                            ["alice@example.com", "bob@example.com",
                             "someone@elsewhere.example"], MSG)
    assert replies[-1][0] == 250
    entries = {e["channel"]: e for e in mta.entries()}
    assert set(entries) == {"lmtp", "tcp_local"}
    assert [r["address"] for r in entries["lmtp"]["env"]["rcpt"]] == \
        ["alice@example.com", "bob@example.com"]
    assert entries["lmtp"]["msg"] == entries["tcp_local"]["msg"]


def test_pipelined_commands_are_answered_in_order(mta):
    c = session(mta)
    c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.com>\r\n"
           "RCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
           "DATA\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354]
    c.send(MSG + b".\r\nNOOP\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert len(mta.entries()) == 1


def test_dsn_parameters_reach_the_queue(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net> RET=HDRS ENVID=QQ+2Bx")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com> NOTIFY=SUCCESS,DELAY "
                 "ORCPT=rfc822;Alice+40example.com")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com> NOTIFY=NEVER")[0] == 250
    assert c.cmd("RCPT TO:<heidi@example.com> NOTIFY=NEVER,SUCCESS")[0] == 501
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    [e] = mta.entries()
    env = e["env"]
    assert env["ret"] == "hdrs"
    a, b = env["rcpt"]
    assert a["notify"] in ("success,delay", "delay,success")
    assert a["orcpt"] == "rfc822;Alice@example.com"
    assert b["notify"] == "never"


def test_null_sender_and_postmaster(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    assert mta.entries()[0]["env"]["from"] == ""


def test_bdat_chunks(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    part1, part2 = MSG[:20], MSG[20:]
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, text = c.reply()
    assert code == 250 and "octets" in text[0]
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, text = c.reply()
    assert code == 250 and "queued as" in text[0]
    [e] = mta.entries()
    assert e["msg"].endswith(MSG)


def test_bdat_without_recipients_is_refused_and_skipped(mta):
    c = session(mta)
    c.send(b"BDAT 5 LAST\r\nhello")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250, "the chunk's octets were skipped"


def test_size_limits(make_mta):
    m = make_mta(conf={"service.smtp.maxmessagesize": "1k"})
    c = session(m)
    code, text = c.cmd("MAIL FROM:<s@example.net> SIZE=5000")
    assert code == 552 and "5.3.4" in text[0]
    replies = c.transaction("s@example.net", ["alice@example.com"],
                            MSG + b"x" * 2000 + b"\r\n")
    assert replies[-1][0] == 552
    assert m.entries() == [] and m.tmp_files() == []
    assert c.cmd("NOOP")[0] == 250


def test_recipient_limit(make_mta):
    m = make_mta(conf={"service.smtp.maxrecipients": "2"})
    c = session(m)
    c.cmd("MAIL FROM:<s@example.net>")
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    code, text = c.cmd("RCPT TO:<heidi@example.com>")
    assert code == 452 and "4.5.3" in text[0]


def test_transaction_limit(make_mta):
    m = make_mta(conf={"service.smtp.maxtransactions": "2"})
    c = session(m)
    for _ in range(2):
        assert c.transaction("s@example.net", ["alice@example.com"], MSG)[-1][0] == 250
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 421
    assert c.closed()


def test_mail_loop_is_refused(mta):
    c = session(mta)
    hops = b"".join(b"Received: from h%d by h%d; Sun, 22 Nov 2026 10:00:00 +0000\r\n"
                    % (i, i) for i in range(101))
    replies = c.transaction("s@example.net", ["alice@example.com"], hops + MSG)
    code, text = replies[-1]
    assert code == 554 and "5.4.6" in text[0]
    assert mta.entries() == []


def test_nul_octets_are_refused(mta):
    c = session(mta)
    replies = c.transaction("s@example.net", ["alice@example.com"],
                            MSG + b"bad\x00byte\r\n")
    assert replies[-1][0] == 554
    assert mta.entries() == []


def test_idle_timeout(make_mta):
    m = make_mta(conf={"service.smtp.idletimeout": "pt1s"})
    c = session(m)
    code, text = c.reply()
    assert code == 421 and "4.4.2" in text[0]
    assert c.closed()


def test_sessions_per_client(make_mta):
    m = make_mta(conf={"service.smtp.maxsessionsperclient": "2"})
    keep = [session(m), session(m)]
    c = Smtp(m.smtp)
    code, _ = c.greeting()
    assert code == 421
    assert c.closed()
    for k in keep:
        assert k.cmd("NOOP")[0] == 250


def test_half_closed_client_is_answered(mta):
    c = Smtp(mta.smtp)
    c.greeting()
    c.send(b"EHLO x\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.com>\r\n"
           b"DATA\r\n" + MSG + b".\r\nQUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    codes = [c.reply()[0] for _ in range(6)]
    assert codes == [250, 250, 250, 354, 250, 221]
    assert len(mta.entries()) == 1


def test_smtplib_send_message(mta):
    with smtplib.SMTP(*mta.smtp) as s:
        refused = s.sendmail("sender@example.net",
                             ["alice@example.com", "nobody@example.com"], MSG)
    assert list(refused) == ["nobody@example.com"]
    assert refused["nobody@example.com"][0] == 550
    assert len(mta.entries()) == 1


def test_smtputf8(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<jos\u00e9@example.net> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    assert mta.entries()[0]["env"]["from"] == "jos\u00e9@example.net"


def test_refused_recipients_count_as_errors(make_mta):
    m = make_mta(conf={"service.smtp.maxerrors": "3"})
    c = session(m)
    c.cmd("MAIL FROM:<s@example.net>")
    for i in range(3):
        assert c.cmd(f"RCPT TO:<nobody{i}@example.com>")[0] == 550
    assert c.cmd("RCPT TO:<nobody9@example.com>")[0] == 550
    code, _ = c.reply()
    assert code == 421
    assert c.closed()


@pytest.mark.parametrize("helo", ["a b", "x|MAIL|tcp_intranet|y", "bad\rname", "[1.2.3.4"])
def test_helo_must_be_a_domain_or_literal(mta, helo):
    c = Smtp(mta.smtp)
    c.greeting()
    assert c.cmd("EHLO " + helo)[0] == 501
    assert c.cmd("EHLO [127.0.0.1]")[0] == 250


def test_mail_auth_parameter_is_accepted(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net> AUTH=<>")[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<s@example.net> AUTH=a+2Bb@example.net")[0] == 250
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<s@example.net> AUTH=bad=value")[0] == 501


def test_envid_is_kept_decoded(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net> ENVID=QQ+2Bx")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MSG + b".\r\n")
    assert c.reply()[0] == 250
    # Written as xtext once: the decoded value was "QQ+x".
    assert mta.entries()[0]["env"]["envid"] == "QQ+2Bx"
    assert c.cmd("MAIL FROM:<s@example.net> ENVID=bad+zz")[0] == 501


def test_utf8_recipient_needs_smtputf8(mta):
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    code, text = c.cmd("RCPT TO:<jos\u00e9@example.com>")
    assert code == 553 and text[0].startswith("5.6.7")


def test_bare_lf_dot_does_not_end_the_message(mta):
    """SMTP smuggling: "<LF>.<LF>" is data here; only CRLF.CRLF ends it."""
    c = session(mta)
    assert c.cmd("MAIL FROM:<s@example.net>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: x\r\n\r\nfirst\n.\nMAIL FROM:<forged@example.com>\r\n"
           b"RCPT TO:<bob@example.com>\r\n.\r\n")
    code, _ = c.reply()
    assert code == 250
    [e] = mta.entries()
    assert [r["address"] for r in e["env"]["rcpt"]] == ["alice@example.com"]
    assert b"MAIL FROM:<forged@example.com>" in e["msg"]


def test_curl_sends_mail(mta, tmp_path):
    import subprocess
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MSG)
    r = subprocess.run(["curl", "-sS", f"smtp://{mta.smtp[0]}:{mta.smtp[1]}",
                        "--mail-from", "sender@example.net",
                        "--mail-rcpt", "alice@example.com",
                        "--mail-rcpt", "bob@example.com",
                        "--upload-file", str(msg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    [e] = mta.entries()
    assert [x["address"] for x in e["env"]["rcpt"]] == ["alice@example.com",
                                                         "bob@example.com"]
    r = subprocess.run(["curl", "-sS", f"smtp://{mta.smtp[0]}:{mta.smtp[1]}",
                        "--mail-from", "sender@example.net",
                        "--mail-rcpt", "nobody@example.com",
                        "--upload-file", str(msg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "550" in r.stderr
