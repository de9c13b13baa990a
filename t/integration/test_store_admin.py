"""The store's admin endpoint: /health and /metrics, read with curl."""
import subprocess

from lmtpclient import Lmtp, make_message
from suite import free_port


def curl(url, *args):
    return subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args, url],
                          capture_output=True, text=True, timeout=10).stdout


def metric(text, line_start):
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return int(line.split()[-1])
    raise KeyError(line_start)


def test_health_and_metrics(make_store):
    port = free_port()
    st = make_store(conf={"store.admin.listen": f"127.0.0.1:{port}"})
    base = f"http://127.0.0.1:{port}"
    assert curl(base + "/health") == "ok\n\n200"
    c = Lmtp(*st.lmtp)
    c.lhlo()
    c.deliver("s@example.net", ["alice@example.com", "nobody@example.com", "bob@example.com"],
              make_message("m"))
    c.deliver("s@example.net", ["alice@example.com"], make_message("n", size=2000))
    text = curl(base + "/metrics")
    assert text.endswith("\n200")
    assert metric(text, 'store_deliveries_total{result="delivered"}') == 2
    assert metric(text, 'store_lmtp_rcpt_total{result="ok"}') == 2
    assert metric(text, 'store_lmtp_rcpt_total{result="temporary"}') == 1
    assert metric(text, 'store_lmtp_rcpt_total{result="permanent"}') == 1
    assert metric(text, "store_commit_messages_total") == 2
    assert metric(text, "store_lmtp_sessions") >= 1
    assert metric(text, "store_ldap_requests_total") >= 3
    assert metric(text, "store_imap_sessions") == 0
    assert metric(text, "store_pop3_sessions") == 0
    assert metric(text, 'store_logins_total{result="ok"}') == 0
    assert curl(base + "/nope").endswith("404")
    assert curl(base + "/health", "-X", "POST").endswith("405")
