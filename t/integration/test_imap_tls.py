"""IMAP over TLS: implicit (993-style) and STARTTLS, with imaplib, curl
and openssl s_client; passwords refused before TLS by default."""
import imaplib
import ssl
import subprocess

import pytest

from certs import make_certs
from conftest import deliver
from suite import free_port


@pytest.fixture
def tls_store(make_store, tmp_path):
    certs = make_certs(str(tmp_path / "certs"), ["store1.example.com", "127.0.0.2"])
    plain, secure = free_port("127.0.0.2"), free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{plain}",
                          "service.imap.tlslisten": f"127.0.0.2:{secure}",
                          "local.tls.certfile": certs["cert"],
                          "local.tls.keyfile": certs["key"]})
    st.imap, st.imaps, st.ca = ("127.0.0.2", plain), ("127.0.0.2", secure), certs["ca"]
    return st


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def test_implicit_tls(tls_store):
    deliver(tls_store, "alice@example.com", ["secret mail"])
    m = imaplib.IMAP4_SSL(*tls_store.imaps, ssl_context=context(tls_store.ca))
    assert "AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities
    m.login("alice", "alice-secret")
    m.select("INBOX")
    assert b"Subject: secret mail" in m.fetch("1", "(BODY.PEEK[HEADER])")[1][0][1]
    m.logout()


def test_starttls_then_login(tls_store):
    m = imaplib.IMAP4(*tls_store.imap)
    assert "STARTTLS" in m.capabilities and "LOGINDISABLED" in m.capabilities
    typ, data = m._simple_command("LOGIN", "alice", "alice-secret")
    assert typ == "NO"
    m.starttls(ssl_context=context(tls_store.ca))
    assert "AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities
    assert m.login("alice", "alice-secret")[0] == "OK"
    m.logout()


def test_starttls_discards_pipelined_plaintext(tls_store):
    import socket
    s = socket.create_connection(tls_store.imap)
    s.recv(4096)
    s.sendall(b"a STARTTLS\r\nb LOGIN alice alice-secret\r\n")
    assert s.recv(4096).startswith(b"a OK")
    tls = context(tls_store.ca).wrap_socket(s, server_hostname="store1.example.com")
    tls.sendall(b"c NOOP\r\n")
    reply = tls.recv(4096)
    assert reply.startswith(b"c OK")        # b LOGIN was never run
    tls.sendall(b"d CAPABILITY\r\n")
    assert b"AUTH=PLAIN" in tls.recv(4096)
    tls.close()
    assert "discarded" in tls_store.log()


def test_curl_imaps(tls_store):
    deliver(tls_store, "alice@example.com", ["over imaps"])
    host, port = tls_store.imaps
    out = subprocess.run(["curl", "-s", "--cacert", tls_store.ca, "--user",
                          "alice:alice-secret", f"imaps://{host}:{port}/INBOX;UID=1"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"Subject: over imaps" in out.stdout
    host, port = tls_store.imap
    out = subprocess.run(["curl", "-s", "--ssl-reqd", "--cacert", tls_store.ca,
                          "--user", "alice:alice-secret",
                          f"imap://{host}:{port}/INBOX;UID=1"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0 and b"Subject: over imaps" in out.stdout


def test_tls_without_certificate_is_a_config_error(tmp_path, slapd):
    """The store refuses to start; its LMTP port may be open for a moment
    before that, so the exit is what is checked, not the ports."""
    from store import STORE_BIN, Store
    st = Store(tmp_path / "st", slapd=slapd, host="127.0.0.2", conf={
        "service.imap.tlslisten": f"127.0.0.2:{free_port('127.0.0.2')}"})
    r = subprocess.run([STORE_BIN, "-c", st.conf_path, "-f"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert "tlslisten needs local.tls.certfile" in r.stdout + r.stderr
