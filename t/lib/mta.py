"""An mta daemon for the tests, the demo and the benchmarks.

    m = Mta(workdir, slapd=s, host="127.0.0.1")
    m.start()                  # mta -c workdir/msg.conf -f, waits for SMTP
    m.smtp, m.submit           # (host, port) of the relay and submission
    m.entries()                # the queue: [{"channel":..., "env": {...}, "msg": bytes, "path":...}]
    m.test_rewrite("alice@example.com", "--from", "x@y")
    m.test_mapping("ORIG_SEND_ACCESS", "tcp_local|a@x|tcp_local|b@y")
    m.stop(); m.kill9(); m.reload()

The MTA's files start as the shipped samples (conf/mta/); pass imta=,
mappings=, aliases= (text) to replace one.  Extra msg.conf keys go in
conf={...}.
"""
import glob
import os
import re
import shutil
import signal
import subprocess

from suite import BUILD, Daemon, Managed, ROOT, free_port, wait_port

MTA_BIN = os.path.join(BUILD, "bin", "mta")
SAMPLES = os.path.join(ROOT, "conf", "mta")
QUEUE_ID = re.compile(r"[0-9A-V]{16}\Z")


def xtext_decode(s):
    out = bytearray()
    i = 0
    b = s.encode()
    while i < len(b):
        if b[i:i + 1] == b"+":
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode("utf-8", "replace")


def parse_env(text):
    """An envelope (the head of an entry file) as a dict; rcpt lines as a
    list of dicts."""
    env = {"rcpt": []}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "rcpt":
            parts = value.split(" ")
            r = {"address": xtext_decode(parts[0][1:-1])}
            for attr in parts[1:]:
                k, _, v = attr.partition("=")
                r[k] = xtext_decode(v.strip("<>")) if k in ("orcpt", "original") else v
            env["rcpt"].append(r)
        elif key == "from":
            env[key] = xtext_decode(value[1:-1])
        else:
            env[key] = value
    return env


class Mta(Managed):
    def __init__(self, workdir, slapd=None, host="127.0.0.1", conf=None,
                 imta=None, mappings=None, aliases=None, ldap_uri=None,
                 certs=None, port=None, submit_port=None,
                 roles=("smtp", "submit")):
        self.workdir = str(workdir)
        self.host = host
        self.roles = roles
        self.port = port or free_port(host)
        self.submit_port = submit_port or free_port(host)
        self.conf_path = os.path.join(self.workdir, "msg.conf")
        self.log_path = os.path.join(self.workdir, "mta.log")
        self.queue = os.path.join(self.workdir, "queue")
        self.track = os.path.join(self.workdir, "track.log")
        self.daemon = None
        os.makedirs(self.workdir, exist_ok=True)
        files = {"imta.cnf": imta, "mappings": mappings, "aliases": aliases}
        for name, text in files.items():
            path = os.path.join(self.workdir, name)
            if text is None:
                shutil.copy(os.path.join(SAMPLES, name), path)
            else:
                with open(path, "w") as f:
                    f.write(text)
        keys = {
            "local.hostname": "mx.example.com",
            "local.log.level": "info",
            "local.ldap.uri": ldap_uri or (slapd.uri.rstrip("/") if slapd else "ldap://127.0.0.1:1"),
            "local.ldap.basedn": "dc=example,dc=com",
            "local.ldap.binddn": "cn=mailsrv,dc=example,dc=com",
            "local.ldap.bindpw": "mailsrv-secret",
            "local.ldap.timeout": "pt3s",
            "mta.imtacnf": os.path.join(self.workdir, "imta.cnf"),
            "mta.mappings": os.path.join(self.workdir, "mappings"),
            "mta.aliases": os.path.join(self.workdir, "aliases"),
            "mta.queue.path": self.queue,
            "mta.tracklog": self.track,
            "service.smtp.listen": f"{host}:{self.port}" if "smtp" in roles else None,
            "service.submit.listen": f"{host}:{self.submit_port}" if "submit" in roles else None,
        }
        if certs is not None:
            keys["local.tls.certfile"] = certs["cert"]
            keys["local.tls.keyfile"] = certs["key"]
        keys.update(conf or {})
        self.keys = keys
        self.write_conf()

    @property
    def smtp(self):
        return (self.host, self.port)

    @property
    def submit(self):
        return (self.host, self.submit_port)

    def start(self, timeout=10):
        self.daemon = Daemon([MTA_BIN, "-c", self.conf_path, "-f"], self.log_path)
        port = self.port if "smtp" in self.roles else self.submit_port
        wait_port(self.host, port, timeout, self.daemon.proc)
        return self

    def reload(self):
        self.daemon.send(signal.SIGHUP)

    def run(self, *args):
        return subprocess.run([MTA_BIN, "-c", self.conf_path, *args],
                              capture_output=True, text=True, timeout=60)

    def check_config(self):
        return self.run("-t")

    def test_rewrite(self, *args):
        return self.run("test-rewrite", *args)

    def test_mapping(self, *args):
        return self.run("test-mapping", *args)

    def entries(self):
        """Every queue entry: its channel, parsed envelope and message.

        An entry is a file CHANNEL/ID or CHANNEL/SS/ID (ID: 16 characters
        of base32hex): the envelope, an empty line, the message.  env["size"]
        is the message's length, as a string like the other values."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.queue, "*", "*")) +
                           glob.glob(os.path.join(self.queue, "*", "*", "*"))):
            rel = os.path.relpath(path, self.queue)
            channel = rel.split(os.sep)[0]
            if channel == "tmp" or not QUEUE_ID.match(os.path.basename(path)) \
                    or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            head, sep, msg = data.partition(b"\n\n")
            assert sep, f"{path}: no empty line after the envelope"
            env = parse_env(head.decode())
            env["size"] = str(len(msg))
            out.append({"channel": channel, "env": env, "msg": msg, "path": path})
        return out

    def tmp_files(self):
        return os.listdir(os.path.join(self.queue, "tmp"))

    def tracking(self):
        try:
            with open(self.track) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []
