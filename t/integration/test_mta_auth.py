"""TLS and AUTH in the mta: STARTTLS (RFC 3207) and implicit TLS, AUTH
PLAIN and LOGIN (RFC 4954) checked against the directory, the channel
keywords mustsaslserver and saslswitchchannel, and what an authenticated
client may do (relay) that an anonymous one may not."""
import base64
import smtplib
import ssl

import pytest

from certs import make_certs
from smtpclient import Smtp

MSG = b"Subject: auth\r\n\r\nbody\r\n"
INTERNET = "127.0.0.200"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1"])


@pytest.fixture
def tls_mta(make_mta, certs):
    from suite import free_port
    port = free_port("127.0.0.1")
    m = make_mta(certs=certs, conf={"service.smtp.tlslisten": f"127.0.0.1:{port}"})
    m.smtps = ("127.0.0.1", port)
    return m


def context(certs):
    ctx = ssl.create_default_context(cafile=certs["ca"])
    ctx.check_hostname = False
    return ctx


def smtp(addr, certs, source=None):
    s = smtplib.SMTP(*addr, source_address=(source, 0) if source else None,
                     timeout=10)
    s.starttls(context=context(certs))
    s.ehlo()
    return s


def test_auth_needs_tls(tls_mta):
    c = Smtp(tls_mta.submit)
    code, lines = c.ehlo()
    assert "STARTTLS" in lines and not any(l.startswith("AUTH") for l in lines)
    assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.com\0alice-secret").decode())[0] == 538


def test_submission_requires_auth(tls_mta, certs):
    with smtp(tls_mta.submit, certs) as s:
        code, text = s.mail("alice@example.com")
        assert code == 530 and b"5.7.0" in text
        s.login("alice@example.com", "alice-secret")
        assert s.sendmail("alice@example.com", ["friend@elsewhere.example"], MSG) == {}
    [e] = tls_mta.entries()
    assert e["channel"] == "tcp_local"
    assert e["env"]["source"] == "tcp_submit"
    assert e["env"]["auth"] == "alice@example.com"
    received = e["msg"].split(b"\r\n\t;")[0]
    assert b"with ESMTPSA id" in e["msg"] and b"authenticated as alice@example.com" in received
    assert b"(using TLSv1.3" in e["msg"]


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_mechanisms_and_bad_password(tls_mta, certs, mech):
    with smtp(tls_mta.submit, certs) as s:
        s.ehlo()
        s.user, s.password = "bob@example.com", "wrong"
        method = getattr(s, "auth_" + mech.lower())
        with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
            s.auth(mech, method)
        assert exc.value.smtp_code == 535
        s.password = "bob-secret"
        code, _ = s.auth(mech, method)
        assert code == 235


def test_disabled_account_cannot_authenticate(tls_mta, certs):
    with smtp(tls_mta.submit, certs) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("grace@example.com", "grace-secret")


def test_auth_cancel_and_garbage(tls_mta, certs):
    with smtp(tls_mta.submit, certs) as s:
        s.ehlo()
        assert s.docmd("AUTH LOGIN")[0] == 334
        assert s.docmd("*")[0] == 501
        assert s.docmd("AUTH PLAIN", "!!notbase64")[0] == 501
        assert s.docmd("AUTH CRAM-SHA9")[0] == 504
        assert s.noop()[0] == 250


def test_login_initial_response_and_malformed_steps(tls_mta, certs):
    """AUTH LOGIN with the user name as initial response (RFC 4954 4);
    a NUL inside a name, and a PLAIN with one NUL, are malformed."""
    b64 = lambda b: base64.b64encode(b).decode()
    with smtp(tls_mta.submit, certs) as s:
        s.ehlo()
        code, text = s.docmd("AUTH LOGIN", b64(b"bob@example.com"))
        assert (code, text) == (334, b"UGFzc3dvcmQ6")
        assert s.docmd(b64(b"bob-secret"))[0] == 235
    with smtp(tls_mta.submit, certs) as s:
        s.ehlo()
        assert s.docmd("AUTH LOGIN", b64(b"bob\0x"))[0] == 334
        assert s.docmd(b64(b"bob-secret"))[0] == 501
        assert s.docmd("AUTH PLAIN", b64(b"bob@example.com\0bob-secret"))[0] == 501
        assert s.docmd("AUTH PLAIN", b64(b"\0bob@example.com\0bob-secret"))[0] == 235


def test_no_start_without_sasl_plugins(make_mta, tmp_path):
    """libsasl2 without its PLAIN and LOGIN plugins (SASL_PATH pointing
    at an empty directory): the mta says so and does not start."""
    import os
    import subprocess
    from mta import MTA_BIN
    m = make_mta(start=False)
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    env = dict(os.environ, SASL_PATH=str(empty))
    r = subprocess.run([MTA_BIN, "-c", m.conf_path, "-f"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "libsasl2-modules" in r.stdout + r.stderr


def test_authenticated_internet_client_relays(tls_mta, certs):
    """Port 25 from the Internet: relaying refused, until AUTH switches
    the session to tcp_auth (saslswitchchannel)."""
    with smtp(tls_mta.smtp, certs, source=INTERNET) as s:
        s.mail("someone@example.net")
        assert s.rcpt("friend@elsewhere.example")[0] == 550
        s.rset()
        s.login("alice@example.com", "alice-secret")
        assert s.sendmail("alice@example.com", ["friend@elsewhere.example"], MSG) == {}
    [e] = tls_mta.entries()
    assert e["env"]["source"] == "tcp_auth"


def test_implicit_tls(tls_mta, certs):
    with smtplib.SMTP_SSL(*tls_mta.smtps, context=context(certs), timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250 and "starttls" not in s.esmtp_features
        s.login("alice@example.com", "alice-secret")
        assert s.sendmail("alice@example.com", ["bob@example.com"], MSG) == {}
    [e] = tls_mta.entries()
    assert e["env"]["source"] == "tcp_submit" and b"ESMTPSA" in e["msg"]


def test_starttls_discards_pipelined_plaintext(tls_mta, certs):
    c = Smtp(tls_mta.smtp)
    c.ehlo()
    c.send("STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n")
    assert c.reply()[0] == 220
    tls = context(certs).wrap_socket(c.sock, server_hostname="localhost")
    tls.sendall(b"EHLO again\r\n")
    data = b""
    while not data.endswith(b"250 HELP\r\n"):
        data += tls.recv(4096)
    assert data.startswith(b"250-"), "the injected MAIL was not answered"
    tls.sendall(b"RCPT TO:<alice@example.com>\r\n")
    assert tls.recv(4096).startswith(b"503"), "no transaction survived STARTTLS"
    tls.close()


def test_tls_refused_without_certificate(mta):
    c = Smtp(mta.smtp)
    c.ehlo()
    assert c.cmd("STARTTLS")[0] == 454


def test_failed_logins_end_the_session(make_mta, certs):
    m = make_mta(certs=certs, conf={"service.smtp.maxerrors": "2"})
    with smtp(m.submit, certs) as s:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login("alice@example.com", "wrong")
        with pytest.raises((smtplib.SMTPAuthenticationError,
                            smtplib.SMTPServerDisconnected)):
            s.login("alice@example.com", "wrong")


def test_starttls_forgets_a_plaintext_login(make_mta, certs):
    m = make_mta(certs=certs, conf={"service.smtp.plaintextauth": "yes"})
    c = Smtp(m.submit)
    c.ehlo()
    plain = base64.b64encode(b"\0alice@example.com\0alice-secret").decode()
    assert c.cmd("AUTH PLAIN " + plain)[0] == 235
    assert c.cmd("STARTTLS")[0] == 220
    tls = context(certs).wrap_socket(c.sock, server_hostname="localhost")
    tls.sendall(b"EHLO again\r\nMAIL FROM:<alice@example.com>\r\n")
    data = b""
    while b"\r\n5" not in data and not data.startswith(b"5"):
        data += tls.recv(4096)
    assert b"530 5.7.0 Authentication required" in data
    tls.close()


def test_cram_md5_without_tls(make_mta):
    m = make_mta(conf={"local.ldap.secretbinddn": "cn=admin,dc=example,dc=com",
                       "local.ldap.secretbindpw": "admin-secret"})
    with smtplib.SMTP(*m.submit, timeout=10) as s:
        s.ehlo()
        assert s.esmtp_features["auth"].split() == ["CRAM-MD5"]
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("alice@example.com", "wrong")
        s.login("alice@example.com", "alice-secret")
        assert s.sendmail("alice@example.com", ["bob@example.com"], MSG) == {}
    assert m.entries()[0]["env"]["auth"] == "alice@example.com"


def test_curl_submits_with_starttls_and_login(tls_mta, certs, tmp_path):
    import subprocess
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MSG)
    host, port = tls_mta.submit
    r = subprocess.run(["curl", "-sS", f"smtp://{host}:{port}", "--ssl-reqd",
                        "--cacert", certs["ca"], "--user",
                        "alice@example.com:alice-secret",
                        "--mail-from", "alice@example.com",
                        "--mail-rcpt", "friend@elsewhere.example",
                        "--upload-file", str(msg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    [e] = tls_mta.entries()
    assert e["env"]["auth"] == "alice@example.com" and e["channel"] == "tcp_local"
