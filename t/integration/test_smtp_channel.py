"""The SMTP channels' delivery program (bin/smtp_client) as jobctl runs it:
`smtp_client -c msg.conf tcp_local` in the queue root, "entry PATH" lines
in, "rcpt PATH INDEX RESULT CODE TEXT" and "done PATH" lines out.

A private dnsmasq answers for the .test domains (MX records pointing at
127.0.0.x hosts); the remote hosts are Postfix's smtp-sink (a real MTA's
server side: PIPELINING, DSN, its canned error options) or, for exact
conversations and STARTTLS, a scripted server here.  All of them listen on
the same port (mta.smtp.port) on their own addresses, as MX hosts have no
port.  A real mta queues the messages (an internal client's mail for
someone@good.test goes to tcp_local), or entries are written here for the
odd cases."""
import glob
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time

import pytest

import chanjob
from certs import make_certs
from chanjob import rcpt_lines, rel, snapshot
from dnsmasq import Dnsmasq
from smtpclient import Smtp, send_accepted
from suite import Daemon, free_port, wait_port

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
BODY = (b"From: s@example.net\r\nTo: someone\r\nSubject: smtp channel test\r\n\r\n"
        b"first line\r\n.leading dot\r\n..two dots\r\nlast line\r\n")
HOSTS = {"mx1.good.test": "127.0.0.5", "mx2.good.test": "127.0.0.6",
         "aonly.test": "127.0.0.7", "smarthost.test": "127.0.0.8",
         "dead.fallback.test": "127.0.0.9", "fake.scripted.test": "127.0.0.10"}


@pytest.fixture(scope="module")
def port():
    """A port free on every remote host's address."""
    for _ in range(50):
        p = free_port("127.0.0.5")
        try:
            for addr in HOSTS.values():
                with socket.socket() as s:
                    s.bind((addr, p))
            return p
        except OSError:
            continue
    raise RuntimeError("no port free on all the hosts")


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    d = Dnsmasq(tmp_path_factory.mktemp("dns"), hosts=HOSTS, mx={
        "good.test": [(20, "mx2.good.test"), (10, "mx1.good.test")],
        "fallback.test": [(10, "dead.fallback.test"), (20, "mx2.good.test")],
        # this host (local.hostname mx.example.com) as the backup MX
        "backup.test": [(10, "mx1.good.test"), (20, "mx.example.com")],
        "loop.test": [(10, "mx.example.com"), (20, "mx2.good.test")],
        "scripted.test": [(10, "fake.scripted.test")],
    })
    d.start()
    yield d
    d.stop()


class Sink:
    """Postfix's smtp-sink on host:port; each message is dumped to a file
    (its envelope as X-*-Args: lines, a Received: line, the message).
    It drops root for nobody, so its directory is outside pytest's."""

    def __init__(self, host, port, args=()):
        self.dir = tempfile.mkdtemp(prefix="smtp-sink-", dir="/tmp")
        os.chmod(self.dir, 0o1777)
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        argv = [SINK, *user, "-d", os.path.join(self.dir, "msg-%M."), *args,
                f"{host}:{port}", "16"]
        self.daemon = Daemon(argv, os.path.join(self.dir, "sink.log"))
        wait_port(host, port, 10, self.daemon.proc)

    def messages(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "msg-*"))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def make_sink(port):
    made = []

    def make(host, *args):
        s = Sink(host, port, args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def conf_keys(dns, port, **extra):
    keys = {"mta.dns.servers": dns.servers, "mta.dns.timeout": "pt1s",
            "mta.smtp.port": str(port), "mta.smtp.timeout": "pt10s"}
    keys.update(extra)
    return keys


def imta_with(tcp_local_keywords):
    """The sample imta.cnf with tcp_local's first line replaced."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "conf", "mta", "imta.cnf")).read()
    old = "tcp_local smtp mx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL maytls \\"
    assert old in text
    return text.replace(old, "tcp_local " + tcp_local_keywords + " \\")


def send(m, rcpts, body=BODY, sender="s@example.net"):
    return send_accepted(m.smtp, sender, rcpts, body)


def tcp_entries(m):
    return [e for e in m.entries() if e["channel"] == "tcp_local"]
















def run_job(m, lines, channel="tcp_local"):
    return chanjob.run_job("smtp_client", m, lines, channel)


def write_entry(m, rcpts, sender="s@example.net", body=None,
                channel="tcp_local", extra=()):
    return chanjob.write_entry(m, rcpts, BODY if body is None else body,
                               sender, channel, extra)


def idle_mta(make_mta, dns, port, imta=None, **extra):
    m = make_mta(start=False, imta=imta, conf=conf_keys(dns, port, **extra))
    os.makedirs(m.queue, exist_ok=True)
    return m


def rcpt_args(msg):
    """The RCPT TO arguments smtp-sink dumped."""
    return [l.split(b": ", 1)[1].decode() for l in msg.split(b"\n")
            if l.startswith(b"X-Rcpt-Args: ")]


# ---- real MTAs (smtp-sink) ----

def test_delivers_through_mx_and_implicit_mx(make_mta, make_sink, dns, port):
    mx1, mx2, aonly = (make_sink("127.0.0.5"), make_sink("127.0.0.6"),
                       make_sink("127.0.0.7"))
    m = make_mta(conf=conf_keys(dns, port))
    send(m, ["alice@good.test", "bob@good.test", "carol@aonly.test"])
    [entry] = tcp_entries(m)
    path = rel(m, entry)
    before = snapshot(m)
    out, err = run_job(m, [f"entry {path}"])
    assert out[-1] == f"done {path}" and len(out) == 4
    got = rcpt_lines(out, path)
    addrs = [r["address"] for r in entry["env"]["rcpt"]]
    where = {"alice@good.test": "mx1.good.test[127.0.0.5]",
             "bob@good.test": "mx1.good.test[127.0.0.5]",
             "carol@aonly.test": "aonly.test[127.0.0.7]"}
    for i, addr in enumerate(addrs):
        assert got[i] == ("passed", 250, f"2.0.0 Ok ({where[addr]})"), got
        assert f"rcpt=<{addr}> index={i} host={where[addr]} result=passed" in err
    assert snapshot(m) == before, "the job changed the queue"
    # One transaction for both good.test recipients, the body as queued
    # (dots un-stuffed again by the sink).
    [msg] = mx1.messages()
    assert sorted(rcpt_args(msg)) == ["<alice@good.test>", "<bob@good.test>"]
    assert entry["msg"].replace(b"\r\n", b"\n") in msg.replace(b"\r\n", b"\n")
    assert b"\n.leading dot\n..two dots\n" in msg.replace(b"\r\n", b"\n")
    assert b"X-Helo-Args: mx.example.com" in msg
    assert b"X-Mail-Args: <s@example.net>" in msg
    [msg] = aonly.messages()
    assert rcpt_args(msg) == ["<carol@aonly.test>"]
    assert mx2.messages() == []


def test_first_mx_dead_second_takes_it(make_mta, make_sink, dns, port):
    mx2 = make_sink("127.0.0.6")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["dave@fallback.test", "eve@FallBack.TEST"])
    out, err = run_job(m, [f"entry {path}"])
    ok = ("passed", 250, "2.0.0 Ok (mx2.good.test[127.0.0.6])")
    assert rcpt_lines(out, path) == {0: ok, 1: ok}
    assert (f"host=dead.fallback.test[127.0.0.9]: 4.4.1 dead.fallback.test[127.0.0.9]: "
            f"connect(127.0.0.9:{port}): Connection refused") in err
    [msg] = mx2.messages()      # domains compare case-insensitively
    assert rcpt_args(msg) == ["<dave@fallback.test>", "<eve@FallBack.TEST>"]


def test_greeting_refused_next_mx(make_mta, make_sink, dns, port):
    """mx1 answers the connection 4xx: mx2 is tried, like Postfix."""
    make_sink("127.0.0.5", "-r", "CONNECT")
    mx2 = make_sink("127.0.0.6")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["alice@good.test"])
    out, err = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path)[0][:2] == ("passed", 250)
    assert "mx1.good.test[127.0.0.5]: greeting: 450 4.3.0 Error: command failed" in err
    assert len(mx2.messages()) == 1


def test_every_mx_dead_defers_with_the_last_error(make_mta, dns, port):
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["alice@good.test", "bob@good.test"])
    out, _ = run_job(m, [f"entry {path}"])
    text = (f"4.4.1 mx2.good.test[127.0.0.6]: connect(127.0.0.6:{port}): "
            "Connection refused")
    assert rcpt_lines(out, path) == {0: ("defer", 0, text), 1: ("defer", 0, text)}
    assert out[-1] == f"done {path}"


def test_nxdomain_fails_and_dns_down_defers(make_mta, dns, port):
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["x@missing.test", "y@good.test"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0] == ("fail", 550, "5.1.2 domain missing.test does not exist")
    assert got[1][:2] == ("defer", 0)       # nothing listens on the MX hosts
    dead = idle_mta(make_mta, dns, port, **{"mta.dns.servers": f"127.0.0.1:{free_port()}"})
    path = write_entry(dead, ["x@missing.test"])
    t0 = time.monotonic()
    out, _ = run_job(dead, [f"entry {path}"])
    assert time.monotonic() - t0 < 20
    assert rcpt_lines(out, path) == {
        0: ("defer", 0, "4.4.3 DNS: MX lookup of missing.test failed for now")}


def test_remote_refusals(make_mta, make_sink, dns, port):
    """RCPT refused for now at good.test (450: defer), MAIL refused for
    good at aonly.test (500: every recipient fails)."""
    make_sink("127.0.0.5", "-r", "RCPT")
    make_sink("127.0.0.7", "-f", "MAIL")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["alice@good.test", "carol@aonly.test", "dan@aonly.test"])
    out, _ = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path) == {
        0: ("defer", 450, "4.3.0 Error: command failed (mx1.good.test[127.0.0.5])"),
        1: ("fail", 500, "5.3.0 Error: command failed (aonly.test[127.0.0.7])"),
        2: ("fail", 500, "5.3.0 Error: command failed (aonly.test[127.0.0.7])")}


def test_final_dot_refused(make_mta, make_sink, dns, port):
    make_sink("127.0.0.5", "-f", ".")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["alice@good.test", "bob@good.test"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0][:2] == got[1][:2] == ("fail", 500)


def test_smarthost(make_mta, make_sink, dns, port):
    """`daemon smarthost.test`: no MX lookups, one transaction for every
    domain."""
    smart = make_sink("127.0.0.8")
    mx1 = make_sink("127.0.0.5")
    imta = imta_with("smtp daemon smarthost.test single_sys subdirs 20 "
                     "maxjobs 7 pool SMTP_POOL maytls")
    m = make_mta(imta=imta, conf=conf_keys(dns, port))
    send(m, ["alice@good.test", "x@missing.test"])
    [entry] = tcp_entries(m)
    path = rel(m, entry)
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got == {0: ("passed", 250, "2.0.0 Ok (smarthost.test[127.0.0.8])"),
                   1: ("passed", 250, "2.0.0 Ok (smarthost.test[127.0.0.8])")}
    [msg] = smart.messages()
    assert sorted(rcpt_args(msg)) == ["<alice@good.test>", "<x@missing.test>"]
    assert mx1.messages() == []


def test_nomx_and_literal(make_mta, make_sink, dns, port):
    """nomx: the domain's own address even though it has MX records; a
    domain literal: that address."""
    mx1 = make_sink("127.0.0.5")
    imta = imta_with("smtp nomx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL")
    m = idle_mta(make_mta, dns, port, imta=imta)
    path = write_entry(m, ["a@mx1.good.test", "b@good.test", "c@[127.0.0.5]"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0] == ("passed", 250, "2.0.0 Ok (mx1.good.test[127.0.0.5])")
    assert got[1] == ("defer", 0, "4.4.4 good.test: no address (nodata)")
    assert got[2] == ("passed", 250, "2.0.0 Ok ([127.0.0.5])")
    assert len(mx1.messages()) == 2


def test_mail_loops_back_to_myself(make_mta, make_sink, dns, port):
    """This host as the best MX: a loop (fail).  As a backup MX: only the
    hosts preferred to it are tried."""
    mx1 = make_sink("127.0.0.5")
    make_sink("127.0.0.6")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["a@loop.test", "b@backup.test"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0] == ("fail", 554, "5.4.6 mail for loop.test loops back to myself")
    assert got[1] == ("passed", 250, "2.0.0 Ok (mx1.good.test[127.0.0.5])")
    assert len(mx1.messages()) == 1


def test_bad_input_and_entries(make_mta, dns, port):
    m = idle_mta(make_mta, dns, port)
    other = write_entry(m, ["a@good.test"], channel="lmtp")
    missing = "tcp_local/01/VVVVVVVVVVVVVVVV"
    before = snapshot(m)
    out, err = run_job(m, ["garbage", f"entry {missing}", f"entry {other}"])
    assert out == [f"done {missing}", f"done {other}"]
    assert "skipped" in err and "No such file or directory" in err
    assert "names channel lmtp" in err
    assert snapshot(m) == before
    assert run_job(m, [])[0] == []


# ---- exact conversations (a scripted server) ----

class FakeSmtp:
    """A scripted SMTP server on 127.0.0.10 (fake.scripted.test), one
    session after another; what the client sends is recorded (the body as
    sent, still dot-stuffed).  ext: the EHLO keywords (None: EHLO refused,
    502); rcpt maps an address to its RCPT reply; dot is the reply after
    the final dot; certs (a make_certs dict) turns STARTTLS on; with
    tls_broken it answers the ClientHello with plaintext and hangs up."""

    def __init__(self, port, ext=("PIPELINING", "8BITMIME", "DSN", "SMTPUTF8", "SIZE 100000"),
                 rcpt=None, dot="250 2.0.0 Ok: queued as 1234", certs=None,
                 tls_broken=False):
        self.ext, self.rcpt, self.dot, self.certs = ext, rcpt or {}, dot, certs
        self.tls_broken = tls_broken
        self.lines, self.body, self.tls = [], b"", []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.10", port))
        self.sock.listen(4)
        self.sock.settimeout(30)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                self.session(conn)
        except OSError:
            return

    def session(self, conn):
        conn.settimeout(20)
        f = conn.makefile("rb")
        out = lambda s: conn.sendall(s.encode())
        out("220 fake ESMTP\r\n")
        self.tls.append(False)
        while True:
            raw = f.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                if self.ext is None:
                    out("502 5.5.1 no EHLO here\r\n")
                    continue
                ext = list(self.ext)
                if self.certs and not self.tls[-1]:
                    ext.append("STARTTLS")
                out("".join(f"250-{e}\r\n" for e in ["fake"] + ext) + "250 HELP\r\n")
            elif verb == "HELO":
                out("250 fake\r\n")
            elif verb == "STARTTLS":
                out("220 2.0.0 go ahead\r\n")
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(self.certs["cert"], self.certs["key"])
                if self.tls_broken:
                    conn.sendall(b"this is no TLS record\r\n")
                    break
                try:
                    conn = ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    break
                self.tls[-1] = True
                f = conn.makefile("rb")
                out = lambda s, c=conn: c.sendall(s.encode())
            elif verb == "MAIL":
                out("250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = line[line.index("<") + 1:line.index(">")]
                out(self.rcpt.get(addr, "250 2.1.5 Ok") + "\r\n")
            elif verb == "DATA":
                out("354 go ahead\r\n")
                while True:
                    chunk = f.readline()
                    self.body += chunk
                    if chunk in (b".\r\n", b""):
                        break
                out(self.dot + "\r\n")
            elif verb == "QUIT":
                out("221 bye\r\n")
                break
            else:
                out("250 2.0.0 Ok\r\n")
        conn.close()

    def close(self):
        try:    # wakes the accept() of the thread; close() alone does not
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def fake(port):
    made = []

    def make(**kw):
        f = FakeSmtp(port, **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def test_commands_and_body_on_the_wire(make_mta, fake, dns, port):
    srv = fake(rcpt={"carol@scripted.test": "550 5.1.1 unknown",
                     "ivan@scripted.test": "451 4.3.0 busy"})
    m = idle_mta(make_mta, dns, port, **{"mta.smtp.helo": "out.example.com"})
    path = write_entry(m, [
        ("alice@scripted.test", " notify=success,delay orcpt=rfc822;Alice+2Bx@example.com"),
        ("carol@scripted.test", " notify=never"),
        "ivan@scripted.test",
    ], sender="j\u00f6rg@example.net", extra=["ret full", "envid id+3D1"],
        body=b"Subject: s\r\n\r\n.a\r\nb\n..c\r\n\xc3\xa9\r\nno end")
    out, _ = run_job(m, [f"entry {path}"])
    data = open(os.path.join(m.queue, path), "rb").read()
    size = len(data) - data.index(b"\n\n") - 2
    assert srv.lines[0] == "EHLO out.example.com"
    assert srv.lines[1] == ("MAIL FROM:<j\u00f6rg@example.net> BODY=8BITMIME SMTPUTF8 "
                            f"RET=FULL ENVID=id+3D1 SIZE={size}")
    assert srv.lines[2:6] == [
        "RCPT TO:<alice@scripted.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2Bx@example.com",
        "RCPT TO:<carol@scripted.test> NOTIFY=NEVER",
        "RCPT TO:<ivan@scripted.test>",
        "DATA"]
    assert srv.lines[-1] == "QUIT"
    assert srv.body == b"Subject: s\r\n\r\n..a\r\nb\r\n...c\r\n\xc3\xa9\r\nno end\r\n.\r\n"
    host = "(fake.scripted.test[127.0.0.10])"
    assert rcpt_lines(out, path) == {
        0: ("passed", 250, f"2.0.0 Ok: queued as 1234 {host}"),
        1: ("fail", 550, f"5.1.1 unknown {host}"),
        2: ("defer", 451, f"4.3.0 busy {host}")}


def test_helo_fallback_no_parameters(make_mta, fake, dns, port):
    """EHLO refused: HELO, and no extension parameters; a final 4xx
    defers every accepted recipient."""
    srv = fake(ext=None, dot="452 4.3.1 out of space")
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, [("a@scripted.test", " notify=never"), "b@scripted.test"],
                       extra=["ret full", "envid x"])
    out, _ = run_job(m, [f"entry {path}"])
    assert srv.lines[:4] == ["EHLO mx.example.com", "HELO mx.example.com",
                             "MAIL FROM:<s@example.net>", "RCPT TO:<a@scripted.test>"]
    got = rcpt_lines(out, path)
    assert got[0] == got[1] == ("defer", 452,
                                "4.3.1 out of space (fake.scripted.test[127.0.0.10])")


def test_smtputf8_needed_but_not_offered(make_mta, fake, dns, port):
    srv = fake(ext=("8BITMIME",))
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["b\u00e9a@scripted.test", "plain@scripted.test"])
    out, _ = run_job(m, [f"entry {path}"])
    got = rcpt_lines(out, path)
    assert got[0][:2] == ("fail", 553) and got[0][2].startswith("5.6.7 ")
    assert got[1][:2] == ("relayed", 250)
    assert "RCPT TO:<plain@scripted.test>" in srv.lines
    assert not any("b\u00e9a" in l for l in srv.lines)
    # BODY=8BITMIME only for a message with 8-bit octets
    assert "MAIL FROM:<s@example.net>" in srv.lines


def test_many_recipients_in_transactions_of_100(make_mta, fake, dns, port):
    srv = fake()
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["a@scripted.test"] * 150)
    out, _ = run_job(m, [f"entry {path}"])
    verbs = [l.split(" ")[0] for l in srv.lines]
    assert verbs == (["EHLO", "MAIL"] + ["RCPT"] * 100 + ["DATA", "RSET", "MAIL"] +
                     ["RCPT"] * 50 + ["DATA", "RSET", "QUIT"])
    got = rcpt_lines(out, path)
    assert sorted(got) == list(range(150))
    assert all(v[0] == "passed" for v in got.values())


# ---- STARTTLS ----

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    good = make_certs(d, ["fake.scripted.test"])
    wrong = make_certs(d, ["other.test"], stem="wrong")
    return good, wrong


def test_opportunistic_tls(make_mta, fake, dns, port, certs):
    """maytls (the sample's tcp_local): STARTTLS when offered, any
    certificate, EHLO again."""
    good, wrong = certs
    srv = fake(certs=wrong)
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["a@scripted.test"])
    out, err = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path)[0][:2] == ("passed", 250), err
    assert srv.tls == [True]
    assert srv.lines[:3] == ["EHLO mx.example.com", "STARTTLS", "EHLO mx.example.com"]
    assert "verified=no" in err


def test_required_tls_verified(make_mta, fake, dns, port, certs):
    good, wrong = certs
    imta = imta_with("smtp mx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL musttls")
    srv = fake(certs=good)
    m = idle_mta(make_mta, dns, port, imta=imta, **{"mta.smtp.tlscafile": good["ca"]})
    path = write_entry(m, ["a@scripted.test"])
    out, err = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path)[0][:2] == ("passed", 250), err
    assert srv.tls == [True] and "verified=yes" in err


def test_required_tls_refused_certificate(make_mta, fake, dns, port, certs):
    good, wrong = certs
    imta = imta_with("smtp mx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL musttls")
    fake(certs=wrong)
    m = idle_mta(make_mta, dns, port, imta=imta, **{"mta.smtp.tlscafile": good["ca"]})
    path = write_entry(m, ["a@scripted.test"])
    out, _ = run_job(m, [f"entry {path}"])
    result, code, text = rcpt_lines(out, path)[0]
    assert (result, code) == ("defer", 0)
    assert text.startswith("4.7.5 fake.scripted.test[127.0.0.10]: TLS handshake: "
                           "certificate verify failed"), text


def test_required_tls_not_offered(make_mta, fake, dns, port, certs):
    good, _ = certs
    imta = imta_with("smtp mx single_sys subdirs 20 maxjobs 7 pool SMTP_POOL musttls")
    srv = fake()
    m = idle_mta(make_mta, dns, port, imta=imta, **{"mta.smtp.tlscafile": good["ca"]})
    path = write_entry(m, ["a@scripted.test"])
    out, _ = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path) == {0: (
        "defer", 0, "4.7.5 fake.scripted.test[127.0.0.10]: TLS required but not offered")}
    assert "MAIL" not in " ".join(srv.lines)


def test_opportunistic_tls_falls_back_to_plaintext(make_mta, fake, dns, port, certs):
    """maytls and a handshake that fails: the same host again, in
    plaintext (like Postfix), rather than no delivery at all."""
    good, _ = certs
    srv = fake(certs=good, tls_broken=True)
    m = idle_mta(make_mta, dns, port)
    path = write_entry(m, ["a@scripted.test"])
    out, err = run_job(m, [f"entry {path}"])
    assert rcpt_lines(out, path)[0][:2] == ("passed", 250), err
    assert srv.tls == [False, False]
    assert srv.lines.count("STARTTLS") == 1
    assert "4.7.5 fake.scripted.test[127.0.0.10]: TLS handshake: " in err


def test_next_entry_to_the_same_domain_reuses_the_session(make_mta, fake, dns, port):
    """A session left clean (RSET) carries the job's next entry for the
    same domain: one connection, one EHLO, two transactions."""
    srv = fake()
    m = idle_mta(make_mta, dns, port)
    p1 = write_entry(m, ["a@scripted.test"])
    p2 = write_entry(m, ["b@scripted.test"])
    out, _ = run_job(m, [f"entry {p1}", f"entry {p2}"])
    verbs = [l.split(" ")[0] for l in srv.lines]
    assert verbs == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "MAIL",
                     "RCPT", "DATA", "RSET", "QUIT"]
    assert rcpt_lines(out, p1)[0][0] == "passed" and rcpt_lines(out, p2)[0][0] == "passed"


# ---- success reports through jobctl (RFC 3461 5.2.2, 5.2.3) ----

def test_relayed_report_only_for_a_next_hop_without_dsn(make_mta, make_sink, dns, port):
    """jobctl runs smtp_client.  aonly.test's host does not announce DSN
    (smtp-sink -N): carol asked for SUCCESS and gets a "relayed" report,
    dan asked nothing and gets none.  good.test's host speaks DSN: alice's
    NOTIFY goes along to it and the report is its to make, not ours.  The
    sender is at good.test, so the report itself arrives there."""
    from jobctl import Jobctl
    mx1 = make_sink("127.0.0.5")
    aonly = make_sink("127.0.0.7", "-N")
    m = make_mta(start=False, conf=conf_keys(dns, port))
    j = Jobctl(m, programs={"tcp_local": "smtp_client", "reprocess": "reprocess"},
               conf={"jobctl.rescaninterval": "pt1h"})
    m.start()
    j.start()
    try:
        c = Smtp(m.smtp)
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@good.test> ENVID=relay-1")[0] == 250
        for rcpt in ("<carol@aonly.test> NOTIFY=SUCCESS", "<dan@aonly.test>",
                     "<alice@good.test> NOTIFY=SUCCESS,FAILURE"):
            assert c.cmd("RCPT TO:" + rcpt)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(BODY.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        assert c.reply()[0] == 250
        assert j.wait(lambda: m.entries() == [] and len(mx1.messages()) == 2,
                      timeout=30), (m.entries(), j.log())
    finally:
        j.stop()
    [msg] = aonly.messages()
    assert sorted(rcpt_args(msg)) == ["<carol@aonly.test>", "<dan@aonly.test>"]
    [report] = [x for x in mx1.messages() if b"multipart/report" in x]
    [alice] = [x for x in mx1.messages() if x is not report and b"X-Rcpt-Args" in x
               and b"multipart/report" not in x]
    assert rcpt_args(alice) == ["<alice@good.test> NOTIFY=SUCCESS,FAILURE"]
    assert b"X-Mail-Args: <>" in report and rcpt_args(report) == ["<s@good.test>"]
    status = report.split(b"message/delivery-status", 1)[1].split(b"\n--", 1)[0]
    assert b"Final-Recipient: rfc822;carol@aonly.test" in status
    assert b"Action: relayed" in status
    assert b"dan@aonly.test" not in status and b"alice@good.test" not in status
    assert b"Original-Envelope-Id: relay-1" in status
