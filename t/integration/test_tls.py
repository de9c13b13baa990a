"""common/tls through t/tools/tlsecho, driven by Python's ssl module and
`openssl s_client`, with a throwaway CA from t/lib/certs.py.

tlsecho greets with "OK tlsecho ready" and answers one line per line:
STARTTLS ("OK begin TLS", then the handshake), INFO ("tls=no" or "tls=yes
protocol=P cipher=C bits=N verified=V"), QUIT ("OK bye"), anything else is
echoed.  Its plain port upgrades with STARTTLS; -i adds an implicit-TLS
port.  The shared instance asks for (optional) client certificates.

What is checked: handshakes against the generated CA on both ports and
with both clients; TLS 1.2 works and TLS 1.1 is refused; plaintext
pipelined after STARTTLS is discarded, never answered in plaintext or
inside TLS (CVE-2011-0411); a client that sends garbage instead of a
ClientHello is closed and the server keeps serving; many clients at once;
sessions resume (TLS 1.2 from the cache, TLS 1.3 from tickets);
the idle timeout bounds a stalled handshake; SIGHUP swaps certificates
without touching live connections, and a bad new one is refused.  Under
an ASan build the server's log must stay free of sanitizer reports.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings

import pytest

from certs import make_cert, make_certs
from suite import BUILD, Daemon, free_port, wait_port

TLSECHO = os.path.join(BUILD, "t", "tools", "tlsecho")
HOST = "127.0.0.1"


@pytest.fixture(scope="module", autouse=True)
def tlsecho_built():
    if not os.access(TLSECHO, os.X_OK):
        pytest.fail(f"{TLSECHO} is missing: run make first")
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line tool is missing (apt-get install openssl)")


class Echo:
    """A tlsecho process on two free loopback ports."""

    def __init__(self, workdir, certs, idle=10, extra=()):
        self.plain, self.implicit = free_port(), free_port()
        self.certs = certs
        argv = [TLSECHO, "-c", certs["cert"], "-k", certs["key"],
                "-T", str(idle), *extra, "-i", f"{HOST}:{self.implicit}",
                f"{HOST}:{self.plain}"]
        self.daemon = Daemon(argv, os.path.join(workdir, "tlsecho.log"))
        wait_port(HOST, self.plain, proc=self.daemon.proc)
        wait_port(HOST, self.implicit, proc=self.daemon.proc)

    def log(self):
        return self.daemon.output()

    def wait_log(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        rc = self.daemon.stop()
        log = self.log()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in log, log
        assert rc == 0, log


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    paths = make_certs(d, ["localhost", "127.0.0.1"])
    paths["client"], paths["client_key"] = make_cert(d, ["client.example.com"], stem="client")
    return paths


@pytest.fixture(scope="module")
def echo(tmp_path_factory, certs):
    e = Echo(tmp_path_factory.mktemp("tlsecho"), certs, extra=("-C", certs["ca"]))
    yield e
    e.stop()


def client_ctx(certs, **kw):
    ctx = ssl.create_default_context(cafile=certs["ca"])
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class Conn:
    """A line-at-a-time client on a plain socket that can turn to TLS."""

    def __init__(self, port, ctx=None, name="localhost", session=None):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=name,
                                        session=session)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def info(self):
        reply = self.cmd("INFO")
        return dict(kv.split("=", 1) for kv in reply.split())

    def quiet(self, seconds=0.5):
        """True when no data arrives for that long (TLS 1.3 session
        tickets are not data: the ssl module reads past them)."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            self.buf += self.sock.recv(4096) or b"<EOF>"
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        finally:
            self.sock.settimeout(10)
        return False

    def starttls(self, ctx, name="localhost"):
        assert self.cmd("STARTTLS") == "OK begin TLS"
        assert self.buf == b"", "plaintext after the go-ahead"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=name)

    def quit(self):
        assert self.cmd("QUIT") == "OK bye"
        assert self.sock.recv(100) == b""
        self.sock.close()

    def close(self):
        self.sock.close()


def s_client(port, certs, *args, stdin="INFO\nQUIT\n"):
    argv = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-quiet",
            "-crlf", "-ign_eof", "-CAfile", certs["ca"], *args]
    return subprocess.run(argv, input=stdin.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20)


# ---- handshakes ----

def test_implicit_tls_python(echo, certs):
    c = Conn(echo.implicit, client_ctx(certs))
    assert c.line() == "OK tlsecho ready"
    info = c.info()
    assert info["tls"] == "yes" and info["protocol"] == "TLSv1.3"
    assert int(info["bits"]) >= 128 and info["verified"] == "no"
    assert c.cmd("hello there") == "hello there"
    c.quit()


def test_starttls_python(echo, certs):
    c = Conn(echo.plain)
    assert c.line() == "OK tlsecho ready"
    assert c.info() == {"tls": "no"}
    c.starttls(client_ctx(certs))
    info = c.info()
    assert info["tls"] == "yes" and info["protocol"] == "TLSv1.3"
    assert c.cmd("STARTTLS") == "ERR TLS already active"
    c.quit()


def test_verify_against_generated_ca_by_ip(echo, certs):
    c = Conn(echo.implicit, client_ctx(certs), name="127.0.0.1")
    assert c.line() == "OK tlsecho ready"
    c.quit()


def test_unknown_ca_and_wrong_name_fail_on_the_client(echo, certs):
    with pytest.raises(ssl.SSLCertVerificationError):
        Conn(echo.implicit, ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        Conn(echo.implicit, client_ctx(certs), name="store9.example.com")
    c = Conn(echo.implicit, client_ctx(certs))      # and the server carries on
    assert c.line() == "OK tlsecho ready"
    c.quit()


def test_client_certificate_is_verified(echo, certs):
    ctx = client_ctx(certs)
    ctx.load_cert_chain(certs["client"], certs["client_key"])
    c = Conn(echo.implicit, ctx)
    assert c.line() == "OK tlsecho ready"
    assert c.info()["verified"] == "yes"
    c.quit()


def test_implicit_tls_s_client(echo, certs):
    p = s_client(echo.implicit, certs, "-verify_return_error",
                 "-verify_hostname", "localhost")
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()  # close_notify seen: clean exit
    assert "OK tlsecho ready" in out
    assert "tls=yes protocol=TLSv1.3" in out and "OK bye" in out


def test_starttls_s_client(echo, certs):
    # s_client's SMTP dialogue fits: it reads the greeting, sends EHLO (the
    # echo answers it), then STARTTLS, and starts TLS after one reply.
    p = s_client(echo.plain, certs, "-starttls", "smtp",
                 "-verify_return_error", "-verify_hostname", "localhost",
                 stdin="INFO\nQUIT\n")
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr.decode()
    assert "tls=yes protocol=TLSv1.3" in out and "OK bye" in out


def test_tls12_works(echo, certs):
    c = Conn(echo.implicit, client_ctx(certs, maximum_version=ssl.TLSVersion.TLSv1_2))
    assert c.line() == "OK tlsecho ready"
    info = c.info()
    assert info["protocol"] == "TLSv1.2"
    assert info["cipher"].startswith("ECDHE-") and "GCM" in info["cipher"] \
        or "CHACHA20" in info["cipher"]
    c.quit()
    p = s_client(echo.implicit, certs, "-tls1_2")
    assert p.returncode == 0 and b"protocol=TLSv1.2" in p.stdout


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_session_resumption(echo, certs, version):
    v = getattr(ssl.TLSVersion, version)
    ctx = client_ctx(certs, minimum_version=v, maximum_version=v)
    first = Conn(echo.implicit, ctx)
    assert first.line() == "OK tlsecho ready"     # TLS 1.3 tickets came first
    session = first.sock.session
    first.quit()
    again = Conn(echo.implicit, ctx, session=session)
    assert again.line() == "OK tlsecho ready"
    assert again.sock.session_reused
    assert again.info()["tls"] == "yes"
    again.quit()


def tls11_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_tls11_refused(echo, certs):
    with pytest.raises(ssl.SSLError) as exc:
        Conn(echo.implicit, tls11_ctx())
    assert "PROTOCOL_VERSION" in str(exc.value).upper() or "ALERT" in str(exc.value).upper()
    assert echo.wait_log("tls error: unsupported protocol")
    # The same after STARTTLS.
    c = Conn(echo.plain)
    assert c.line() == "OK tlsecho ready"
    with pytest.raises(ssl.SSLError):
        c.starttls(tls11_ctx())
    p = s_client(echo.implicit, certs, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert p.returncode != 0 and b"tls=yes" not in p.stdout


# ---- STARTTLS command injection (CVE-2011-0411) ----

def test_plaintext_pipelined_after_starttls_is_discarded(echo, certs):
    before = echo.log().count("starttls discarded=6")
    c = Conn(echo.plain)
    assert c.line() == "OK tlsecho ready"
    c.sock.sendall(b"STARTTLS\r\nINFO\r\n")             # one write
    assert c.line() == "OK begin TLS"
    # Not answered in plaintext ...
    assert c.quiet(0.5), f"plaintext after the go-ahead: {c.buf!r}"
    c.sock = client_ctx(certs).wrap_socket(c.sock, server_hostname="localhost")
    # ... nor inside TLS: nothing comes until we ask.
    assert c.quiet(0.5), "the pipelined INFO was answered inside TLS"
    assert c.info()["tls"] == "yes"
    assert c.quiet(0.3)
    c.quit()
    assert echo.log().count("starttls discarded=6") == before + 1


def test_plaintext_instead_of_client_hello_fails_handshake(echo, certs):
    c = Conn(echo.plain)
    assert c.line() == "OK tlsecho ready"
    assert c.cmd("STARTTLS") == "OK begin TLS"
    c.sock.sendall(b"INFO\r\n")         # read as a TLS record, not a command
    c.sock.settimeout(5)
    try:
        data = c.sock.recv(100)
    except ConnectionResetError:
        data = b""
    assert b"tls=" not in data          # a TLS alert at most, then EOF
    c.close()
    assert echo.wait_log("tls error: wrong version number")


# ---- robustness ----

GARBAGE = [
    b"GET / HTTP/1.0\r\n\r\n",
    b"a001 LOGIN user secret\r\n",
    b"\x17\x03\x03\x00\x05hello",
    b"\x16\x03\x01\x00\x04\x01\x00\x00\x00",
    os.urandom(600),
]


def test_garbage_instead_of_client_hello(echo, certs):
    for junk in GARBAGE:
        s = socket.create_connection((HOST, echo.implicit), timeout=5)
        s.sendall(junk)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        s.close()
        assert b"OK tlsecho ready" not in got
        assert got == b"" or got.startswith(b"\x15\x03")   # an alert, then EOF
    c = Conn(echo.implicit, client_ctx(certs))
    assert c.line() == "OK tlsecho ready"
    c.quit()
    assert echo.wait_log("tls error: http request")


def test_many_concurrent_clients(echo, certs):
    n = 60
    barrier = threading.Barrier(n, timeout=30)
    errors = []
    ctx = client_ctx(certs)

    def one(i):
        try:
            if i % 2:
                c = Conn(echo.implicit, ctx)
                assert c.line() == "OK tlsecho ready"
            else:
                c = Conn(echo.plain)
                assert c.line() == "OK tlsecho ready"
                c.starttls(ctx)
            barrier.wait()          # all n connected at once
            for j in range(20):
                assert c.cmd(f"client {i} line {j}") == f"client {i} line {j}"
            assert c.info()["tls"] == "yes"
            c.quit()
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(f"client {i}: {e!r}")
            barrier.abort()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]


def test_idle_timeout_bounds_a_stalled_handshake(tmp_path, certs):
    e = Echo(tmp_path, certs, idle=1)
    try:
        silent = socket.create_connection((HOST, e.implicit), timeout=10)
        half = Conn(e.plain)
        assert half.line() == "OK tlsecho ready"
        assert half.cmd("STARTTLS") == "OK begin TLS"
        start = time.monotonic()
        assert silent.recv(100) == b""      # closed, no greeting in clear
        assert half.sock.recv(100) == b""
        assert time.monotonic() - start < 8
        assert e.wait_log("timeout")
        c = Conn(e.implicit, client_ctx(certs))
        assert c.line() == "OK tlsecho ready"
        c.quit()
    finally:
        e.stop()


def peer_names(conn):
    cert = conn.sock.getpeercert()
    return sorted(v for k, v in cert.get("subjectAltName", ()))


def test_reload_swaps_certificate_and_keeps_connections(tmp_path, certs):
    d = tmp_path / "live"
    d.mkdir()
    for f in ("cert", "key"):
        shutil.copy(certs[f], d / f"server.{'pem' if f == 'cert' else 'key'}")
    live = {"cert": str(d / "server.pem"), "key": str(d / "server.key"),
            "ca": certs["ca"]}
    e = Echo(tmp_path, live)
    try:
        old = Conn(e.implicit, client_ctx(certs))
        assert old.line() == "OK tlsecho ready"
        assert "localhost" in peer_names(old)
        # A new certificate by the same CA, then SIGHUP.
        new_cert, new_key = make_cert(certs["dir"], ["reloaded.example.com"], stem="reloaded")
        shutil.copy(new_cert, live["cert"])
        shutil.copy(new_key, live["key"])
        e.daemon.send(signal.SIGHUP)
        assert e.wait_log("reload done")
        new = Conn(e.implicit, client_ctx(certs), name="reloaded.example.com")
        assert new.line() == "OK tlsecho ready"
        assert peer_names(new) == ["reloaded.example.com"]
        assert old.info()["tls"] == "yes"       # untouched by the reload
        # A broken key is refused and the last good context stays.
        with open(live["key"], "w") as f:
            f.write("not a key\n")
        e.daemon.send(signal.SIGHUP)
        assert e.wait_log("reload refused: TLS private key")
        again = Conn(e.implicit, client_ctx(certs), name="reloaded.example.com")
        assert again.line() == "OK tlsecho ready"
        for c in (old, new, again):
            c.quit()
    finally:
        e.stop()


def test_bad_configuration_is_fatal_with_a_clear_message(tmp_path, certs):
    missing = str(tmp_path / "missing.pem")
    p = subprocess.run([TLSECHO, "-c", missing, "-k", certs["key"],
                        f"{HOST}:{free_port()}"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 1
    assert f'TLS certificate "{missing}": No such file or directory' in p.stderr.decode()
    other_key = make_cert(tmp_path, ["x.example.com"], stem="other")[1]
    p = subprocess.run([TLSECHO, "-c", certs["cert"], "-k", other_key,
                        f"{HOST}:{free_port()}"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 1
    assert "does not match certificate" in p.stderr.decode()
