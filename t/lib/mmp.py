"""An mmp (the IMAP/POP3 proxy) for the tests, the demo and the benchmarks.

    m = Mmp(workdir, slapd=s, backends={"store1.example.com": st1, ...})
    m.start()                  # mmp -c workdir/msg.conf -f, waits for IMAP
    m.imap, m.pop              # (host, port)
    m.imaps, m.pops, m.admin   # (host, port) of mmp.imap.tlslisten,
                               # mmp.pop.tlslisten, mmp.admin.listen (the
                               # first one given), None when not set
    m.log(); m.stop(); m.kill9()

backends maps a mailHost to a Store with .imap and .pop listeners; extra
msg.conf keys go in conf={...} and override the defaults below.
"""
import os
import subprocess

from suite import BUILD, Daemon, Managed, free_port, wait_port

MMP_BIN = os.path.join(BUILD, "bin", "mmp")
ADMIN = "mmp@example.com"
ADMIN_PASSWORD = "mmp-secret"


class Mmp(Managed):
    def __init__(self, workdir, slapd=None, host="127.0.0.1", backends=None,
                 conf=None, ldap_uri=None, certs=None):
        self.workdir = str(workdir)
        self.host = host
        self.imap_port = free_port(host)
        self.pop_port = free_port(host)
        self.conf_path = os.path.join(self.workdir, "msg.conf")
        self.log_path = os.path.join(self.workdir, "mmp.log")
        self.daemon = None
        imap = [f"{mh}={st.imap[0]}:{st.imap[1]}" for mh, st in (backends or {}).items()
                if getattr(st, "imap", None)]
        pop = [f"{mh}={st.pop[0]}:{st.pop[1]}" for mh, st in (backends or {}).items()
               if getattr(st, "pop", None)]
        keys = {
            "local.hostname": "mmp.example.com",
            "local.log.level": "info",
            "local.ldap.uri": ldap_uri or (slapd.uri.rstrip("/") if slapd else "ldap://127.0.0.1:1"),
            "local.ldap.basedn": "dc=example,dc=com",
            "local.ldap.binddn": "cn=mailsrv,dc=example,dc=com",
            "local.ldap.bindpw": "mailsrv-secret",
            "local.ldap.timeout": "pt3s",
            "mmp.imap.listen": f"{host}:{self.imap_port}",
            "mmp.pop.listen": f"{host}:{self.pop_port}",
            "mmp.imap.backends": " ".join(imap) or None,
            "mmp.pop.backends": " ".join(pop) or None,
            "mmp.backend.login": ADMIN,
            "mmp.backend.password": ADMIN_PASSWORD,
            "mmp.backend.timeout": "pt5s",
            "mmp.plaintextmincipher": "0",
            "mmp.badloginmaxdelay": "pt1s",
        }
        if certs is not None:
            keys["local.tls.certfile"] = certs["cert"]
            keys["local.tls.keyfile"] = certs["key"]
        keys.update(conf or {})
        self.keys = keys
        os.makedirs(self.workdir, exist_ok=True)
        self.write_conf()

    @property
    def imap(self):
        return self._endpoint("mmp.imap.listen")

    @property
    def pop(self):
        return self._endpoint("mmp.pop.listen")

    def _endpoint(self, key):
        """The first host:port of a listener key, or None."""
        value = self.keys.get(key)
        if not value:
            return None
        host, port = value.split()[0].rsplit(":", 1)
        return (host, int(port))

    @property
    def imaps(self):
        return self._endpoint("mmp.imap.tlslisten")

    @property
    def pops(self):
        return self._endpoint("mmp.pop.tlslisten")

    @property
    def admin(self):
        return self._endpoint("mmp.admin.listen")

    def start(self, timeout=10):
        self.daemon = Daemon([MMP_BIN, "-c", self.conf_path, "-f"], self.log_path)
        wait_port(*self.imap, timeout, self.daemon.proc)
        return self

    def check_config(self):
        return subprocess.run([MMP_BIN, "-c", self.conf_path, "-t"],
                              capture_output=True, text=True)
