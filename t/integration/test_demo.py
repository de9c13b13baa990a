"""The README's quickstart: make demo brings up slapd, two stores, the
relays and the mmp, writes endpoints.env, delivers as printed, reads the
mail back as printed (from the store, and through the mmp), and stops
everything on SIGTERM."""
import os
import signal
import subprocess
import time

from suite import BUILD, ROOT, free_port


def read_env(path):
    return dict(line.split("=", 1) for line in open(path).read().splitlines())


def test_demo_runs_and_stops_cleanly(tmp_path):
    run = tmp_path / "demo"
    env = dict(os.environ, DEMO_DIR=str(run), DEMO_LDAP_PORT=str(free_port()),
               DEMO_LMTP_PORT=str(free_port("127.0.0.2")),
               DEMO_IMAP_PORT=str(free_port("127.0.0.2")),
               DEMO_IMAPS_PORT=str(free_port("127.0.0.2")),
               DEMO_POP_PORT=str(free_port("127.0.0.2")),
               DEMO_POPS_PORT=str(free_port("127.0.0.2")),
               DEMO_SMTP_PORT=str(free_port()), DEMO_SUBMIT_PORT=str(free_port()),
               DEMO_MMP_IMAP_PORT=str(free_port()), DEMO_MMP_IMAPS_PORT=str(free_port()),
               DEMO_MMP_POP_PORT=str(free_port()), DEMO_MMP_POPS_PORT=str(free_port()))
    out = open(tmp_path / "demo.out", "wb")
    proc = subprocess.Popen([os.path.join(ROOT, "conf", "demo", "run"), BUILD],
                            stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        envfile = run / "endpoints.env"
        deadline = time.monotonic() + 30
        while not envfile.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert envfile.exists(), open(tmp_path / "demo.out").read()
        ep = read_env(envfile)
        assert set(ep) >= {"LDAP_URI", "LMTP_STORE1", "LMTP_STORE2", "DEMO_USER1",
                           "DEMO_PASS1", "DEMO_USER2", "DEMO_PASS2", "IMAP_STORE1",
                           "IMAPS_STORE1", "IMAP_STORE2", "IMAPS_STORE2",
                           "POP_STORE1", "POPS_STORE1", "POP_STORE2", "POPS_STORE2",
                           "SMTP_INBOUND", "SUBMIT_OUTBOUND", "IMAP_MMP",
                           "IMAPS_MMP", "POP_MMP", "POPS_MMP"}
        for n, store in (("1", "STORE1"), ("2", "STORE2")):
            host, port = ep[f"LMTP_{store}"].split(":")
            r = subprocess.run(["swaks", "--protocol", "LMTP", "--server", host,
                                "--port", port, "--from", "you@example.net",
                                "--to", ep[f"DEMO_USER{n}"]],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stdout
        printed = open(tmp_path / "demo.out").read()
        # The paths it printed hold the messages.
        landed = [l.split("(the first message is ")[1].rstrip(")")
                  for l in printed.splitlines() if "the first message is" in l]
        assert len(landed) == 2
        for path in landed:
            assert os.path.isfile(os.path.join(ROOT, path) if not os.path.isabs(path) else path)
        # ... and the curl lines it printed read them: alice's over IMAPS
        # and POP3S from her store, then alice's and bob's through the mmp.
        curl = [l.strip() for l in printed.splitlines() if l.strip().startswith("curl ")]
        assert len(curl) == 4
        assert ep["IMAPS_MMP"] in curl[2] and ep["POPS_MMP"] in curl[3]
        for line in curl:
            r = subprocess.run(line, shell=True, capture_output=True, cwd=ROOT,
                               timeout=30)
            assert r.returncode == 0 and b"From: " in r.stdout, (line, r.stderr)
        check_relays(printed)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    text = open(tmp_path / "demo.out").read()
    assert "demo: stopped" in text
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(run) not in ps, "demo left processes behind"


def check_relays(printed):
    """The swaks lines printed for the relays do what the text says."""
    swaks = [l.strip() for l in printed.splitlines()
             if l.strip().startswith("swaks --server")]
    assert len(swaks) == 3      # inbound accepted, relay refused, submission
    results = [subprocess.run(line, shell=True, capture_output=True, text=True,
                              cwd=ROOT, timeout=30) for line in swaks]
    assert results[0].returncode == 0, results[0].stdout
    # ... and jobctl delivered it to alice's store: her second message.
    first = [l.split("(the first message is ")[1].rstrip(")")
             for l in printed.splitlines() if "the first message is" in l][0]
    second = os.path.join(ROOT, os.path.dirname(first), "2")
    deadline = time.monotonic() + 20
    while not os.path.exists(second) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(second), "the inbound relay's mail did not arrive"
    assert results[1].returncode != 0
    assert "550 5.7.1 Relaying not allowed" in results[1].stdout
    assert results[2].returncode == 0, results[2].stdout
    qlist = [l.strip() for l in printed.splitlines() if l.strip().endswith("queue list")]
    r = subprocess.run(qlist[0], shell=True, capture_output=True, text=True,
                       cwd=ROOT, timeout=30)
    assert r.returncode == 0 and "tcp_local" in r.stdout, r.stdout + r.stderr
    rewrite = [l.strip() for l in printed.splitlines() if "test-rewrite" in l]
    r = subprocess.run(rewrite[0], shell=True, capture_output=True, text=True,
                       cwd=ROOT, timeout=30)
    assert r.returncode == 0 and "result:  accepted" in r.stdout, r.stdout + r.stderr
