"""A store daemon for the tests, the demo and the benchmarks.

    st = Store(workdir, host="127.0.0.2", slapd=s, name="store1")
    st.start()                 # store -c workdir/msg.conf -f, waits for LMTP
    st.lmtp                    # (host, port)
    st.user_dir("alice@example.com")  # where the user's mailboxes are
    st.inbox_files("alice@example.com")
    st.reconstruct("alice@example.com")
    st.copy_user("bob@example.com", "127.0.0.2:1143", "mmp@example.com",
                 password_file)   # copy-user to another store over IMAP
    st.stop(); st.kill9(); st.restart()

Extra msg.conf keys go in conf={...}; they override the defaults below.
"""
import os
import subprocess

from suite import BUILD, Daemon, free_port, wait_port

STORE_BIN = os.path.join(BUILD, "bin", "store")


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def escape_user(user):
    out = []
    for i, ch in enumerate(user):
        if ch.islower() or ch.isdigit() or ch in "@_+-" or (ch == "." and i > 0):
            out.append(ch)
        else:
            out.extend("%%%02X" % b for b in ch.encode())
    return "".join(out)


class Store:
    def __init__(self, workdir, slapd=None, host="127.0.0.1", port=None,
                 name="store1", mailhost=None, conf=None, ldap_uri=None):
        self.workdir = str(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.name = name
        self.mailhost = mailhost or f"{name}.example.com"
        self.partition = os.path.join(self.workdir, "partition", "primary")
        self.dbdir = os.path.join(self.workdir, "db")
        self.conf_path = os.path.join(self.workdir, "msg.conf")
        self.log_path = os.path.join(self.workdir, "store.log")
        self.daemon = None
        keys = {
            "local.hostname": self.mailhost,
            "local.log.level": "info",
            "local.ldap.uri": ldap_uri or (slapd.uri.rstrip("/") if slapd else "ldap://127.0.0.1:1"),
            "local.ldap.basedn": "dc=example,dc=com",
            "local.ldap.binddn": "cn=mailsrv,dc=example,dc=com",
            "local.ldap.bindpw": "mailsrv-secret",
            "local.ldap.timeout": "pt3s",
            "service.lmtp.listen": f"{host}:{self.port}",
            "store.mailhosts": f"{self.mailhost} {name}",
            "store.dbdir": self.dbdir,
            "store.partition.primary.path": self.partition,
            "store.quotagraceperiod": "pt1h",
        }
        keys.update(conf or {})
        self.keys = keys
        os.makedirs(self.workdir, exist_ok=True)
        self.write_conf()

    def write_conf(self, extra_text=""):
        with open(self.conf_path, "w") as f:
            f.write("# written by t/lib/store.py\n")
            for k, v in self.keys.items():
                if v is not None:
                    f.write(f"{k} = {v}\n")
            f.write(extra_text)

    @property
    def lmtp(self):
        return (self.host, self.port)

    def start(self, timeout=10):
        self.daemon = Daemon([STORE_BIN, "-c", self.conf_path, "-f"], self.log_path)
        wait_port(self.host, self.port, timeout, self.daemon.proc)
        return self

    def stop(self):
        """Stop it; a sanitizer report in its log (make asan) fails the test."""
        if self.daemon is None:
            return None
        return self.daemon.stop_checked()

    def kill9(self):
        if self.daemon is not None:
            self.daemon.kill9()

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.daemon is not None and self.daemon.alive()

    def log(self):
        return self.daemon.output() if self.daemon else ""

    def check_config(self):
        return subprocess.run([STORE_BIN, "-c", self.conf_path, "-t"],
                              capture_output=True, text=True)

    def reconstruct(self, *users):
        return subprocess.run([STORE_BIN, "-c", self.conf_path, "reconstruct", *users],
                              capture_output=True, text=True)

    def copy_user(self, user, hostport, login, password_file, *options,
                  timeout=120):
        """store copy-user USER HOST:PORT with the administrator login;
        options are extra flags ("--append", "--starttls", "--cafile", F)."""
        return subprocess.run([STORE_BIN, "-c", self.conf_path, "copy-user",
                               "--login", login, "--password-file",
                               str(password_file), *options, user, hostport],
                              capture_output=True, text=True, timeout=timeout)

    def user_dir(self, user, partition=None):
        h = fnv1a(user)
        return os.path.join(partition or self.partition, "%02x" % (h & 0xFF),
                            "%02x" % ((h >> 8) & 0xFF), escape_user(user))

    def mailboxes(self, user):
        """{name: directory} of a user's mailboxes, from the .mailbox files."""
        out = {}
        udir = self.user_dir(user)
        if not os.path.isdir(udir):
            return out
        for d in os.listdir(udir):
            meta = os.path.join(udir, d, ".mailbox")
            if os.path.exists(meta):
                with open(meta) as f:
                    lines = f.read().splitlines()
                out[lines[1][5:]] = os.path.join(udir, d)
        return out

    def inbox_files(self, user):
        """Sorted [(uid, path)] of the user's INBOX message files."""
        box = self.mailboxes(user).get("INBOX")
        if box is None:
            return []
        files = [(int(n), os.path.join(box, n)) for n in os.listdir(box) if n.isdigit()]
        return sorted(files)

    def inbox_messages(self, user):
        return [open(p, "rb").read() for _, p in self.inbox_files(user)]
