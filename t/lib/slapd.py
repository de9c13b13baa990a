"""A throwaway OpenLDAP slapd for the tests, the demo and the benchmarks.

Slapd(workdir).start() builds a cn=config directory under workdir with
slapadd -n0 (schemas core, cosine, inetorgperson, nis, dyngroup and our
conf/ldap/mailsuite.ldif; one mdb database for dc=example,dc=com with the
indexes and ACL the suite expects), loads the data LDIF files with
slapadd -n1, and runs /usr/sbin/slapd in the foreground on loopback as the
current user.  Everything it writes stays under workdir, so restart() finds
the same data and kill9() followed by restart() is a crash test.

The directory it serves (see conf/ldap/sample.ldif for the data):

    rootdn     cn=admin,dc=example,dc=com   admin-secret   (no ACL applies)
    daemons    cn=mailsrv,dc=example,dc=com mailsrv-secret (reads all but
                                                            userPassword)
    anonymous  may bind, nothing else
    users      bind with their password, read their own entry

    s = Slapd(tmpdir)                 # data=[conf/ldap/sample.ldif] by default
    s.add_users(1000, "example.com", "store1.example.com")  # bulk, pre-start
    s.start();  s.uri                 # ldap://127.0.0.1:PORT/
    s.search("(mail=alice@example.com)", bind=MAILSRV)  # [(dn, {attr: [v]})]
    s.ldapmodify(ldif_text)           # as rootdn; ldapadd(ldif_text) too
    s.bind_ok(dn, password);  s.slapcat(0);  s.log()
    s.stop();  s.kill9();  s.restart()   # same data, same port

Failures of the tools it runs raise LdapError with the tool's exit status
(the LDAP result code for ldapsearch/ldapmodify) and its stderr.
"""
import atexit
import base64
import os
import re
import shutil
import socket
import subprocess
import time

from suite import ROOT as SRC_ROOT, Daemon, free_port, wait_port
import schema2ldif

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SLAPCAT = "/usr/sbin/slapcat"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"

SUFFIX = "dc=example,dc=com"
ROOTDN = "cn=admin," + SUFFIX
ROOTPW = "admin-secret"
MAILSRV_DN = "cn=mailsrv," + SUFFIX
MAILSRV_PW = "mailsrv-secret"
ADMIN = (ROOTDN, ROOTPW)
MAILSRV = (MAILSRV_DN, MAILSRV_PW)

SUITE_SCHEMA = os.path.join(SRC_ROOT, "conf", "ldap", "mailsuite.ldif")
SAMPLE = os.path.join(SRC_ROOT, "conf", "ldap", "sample.ldif")
BASE_SCHEMAS = ("core", "cosine", "inetorgperson", "nis", "dyngroup")

# Every attribute a daemon puts in a search filter gets an index; "sub" where
# a substring search is plausible (admin tools, address completion).
INDEXES = (
    "objectClass eq",
    "entryUUID,entryCSN eq",
    "uid eq,sub",
    "cn eq,sub",
    "mail eq,sub",
    "mailAlternateAddress eq,sub",
    "mailEquivalentAddress eq,sub",
    "mailForwardingAddress eq",
    "mgrpRFC822MailMember eq",
    "uniqueMember eq",
    "mailHost eq",
    "mailUserStatus,inetUserStatus eq",
    "associatedDomain eq,sub",
    "sunPreferredDomain eq,sub",
)


class LdapError(Exception):
    def __init__(self, what, code, stderr):
        super().__init__(f"{what}: exit {code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr


def _run(argv, what, stdin=None):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise LdapError(what, r.returncode, r.stderr + r.stdout)
    return r.stdout


def parse_ldif(text):
    """ldapsearch -LLL -o ldif-wrap=no output -> [(dn, {attr: [values]})].

    Attribute names keep the case the server sent; values given in base64
    (attr:: ...) are decoded to str.
    """
    entries = []
    attrs = None
    for line in text.splitlines():
        if not line.strip():
            attrs = None
            continue
        if line.startswith("#"):
            continue
        if line.startswith(" ") and attrs is not None:
            raise ValueError("wrapped LDIF line; use -o ldif-wrap=no")
        name, _, value = line.partition(":")
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
        else:
            value = value.strip()
        if name.lower() == "dn":
            attrs = {}
            entries.append((value, attrs))
        elif attrs is not None:
            attrs.setdefault(name, []).append(value)
    return entries


class Slapd:
    """One slapd instance; see the module docstring."""

    def __init__(self, workdir, host="127.0.0.1", port=None, data=None,
                 extra_schema=(), loglevel="none", nosync=True):
        """data: LDIF files slapadd loads at the first start (default: the
        sample directory; [] for an empty suffix).  extra_schema: .schema
        or cn=config .ldif files loaded after ours.  loglevel: slapd debug
        levels ("stats", "stats filter", ...) written to log(); "filter"
        shows "not indexed" warnings.  nosync: skip fsync in mdb (a
        killed slapd still loses nothing; only a crash of the OS would)."""
        self.workdir = os.path.abspath(workdir)
        self.host = host
        self.port = port or free_port(host)
        self.data = [SAMPLE] if data is None else list(data)
        self.extra_schema = list(extra_schema)
        self.loglevel = loglevel
        self.nosync = nosync
        self.config_dir = os.path.join(self.workdir, "slapd.d")
        self.data_dir = os.path.join(self.workdir, "data")
        self.run_dir = os.path.join(self.workdir, "run")
        self.log_path = os.path.join(self.workdir, "slapd.log")
        self.daemon = None
        self._pending_users = []          # LDIF chunks for slapadd
        self._domains = set()             # domain nodes known to exist
        atexit.register(self.stop)

    # ----------------------------------------------------------- lifecycle

    @property
    def uri(self):
        return f"ldap://{self.host}:{self.port}/"

    def alive(self):
        return self.daemon is not None and self.daemon.alive()

    def start(self, timeout=10):
        """Build configuration and database on first use, then run slapd."""
        if not os.path.isdir(self.config_dir):
            self._build()
        self._spawn(timeout)
        return self

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop()

    def kill9(self):
        if self.daemon is not None:
            self.daemon.kill9()
            self.daemon.stop()     # only closes the log now

    def restart(self, timeout=10):
        """Stop (if running) and start again on the same data and port."""
        self.stop()
        self._spawn(timeout)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _spawn(self, timeout):
        if self.alive():
            raise RuntimeError("slapd is already running")
        try:
            # Otherwise the readiness check below would talk to the squatter.
            socket.create_connection((self.host, self.port), timeout=0.5).close()
            raise RuntimeError(f"{self.host}:{self.port} is already in use")
        except OSError:
            pass
        # With -d, slapd stays in the foreground and writes the debug levels
        # given to stderr (the log file); olcLogLevel would go to syslog.
        levels = self.loglevel.replace(",", " ").split()
        debug = [a for lvl in levels if lvl != "none" for a in ("-d", lvl)]
        argv = ([SLAPD] + (debug or ["-d", "0"])
                + ["-h", self.uri, "-F", self.config_dir])
        self.daemon = Daemon(argv, self.log_path)
        deadline = time.monotonic() + timeout
        wait_port(self.host, self.port, timeout, proc=self.daemon.proc)
        while True:
            # The port can answer a moment before the databases are open.
            try:
                self.search("(objectClass=*)", base="", scope="base", bind=None)
                return
            except LdapError:
                if not self.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not come up:\n{self.log()}")
                time.sleep(0.05)

    # ------------------------------------------------------------- building

    def _build(self):
        for d in (self.config_dir, self.data_dir, self.run_dir):
            os.makedirs(d, exist_ok=True)
        config = os.path.join(self.workdir, "config.ldif")
        with open(config, "w") as f:
            f.write(self.config_ldif())
        try:
            _run([SLAPADD, "-n0", "-F", self.config_dir, "-l", config],
                 "slapadd -n0")
            files = list(self.data)
            for path in files:
                self._note_domains(path)
            if self._pending_users:
                gen = os.path.join(self.workdir, "generated.ldif")
                with open(gen, "w") as f:
                    f.write("\n".join(self._pending_users))
                files.append(gen)
                self._pending_users = []
            if files:
                merged = os.path.join(self.workdir, "data.ldif")
                with open(merged, "w") as out:
                    for path in files:
                        with open(path) as f:
                            out.write(f.read().rstrip("\n") + "\n\n")
                _run([SLAPADD, "-q", "-n1", "-F", self.config_dir, "-l", merged],
                     "slapadd -n1")
        except Exception:
            # A half-built directory would be reused by the next start().
            shutil.rmtree(self.config_dir, ignore_errors=True)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    def config_ldif(self):
        """The cn=config LDIF this instance is built from."""
        parts = [f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.run_dir}/slapd.pid
olcArgsFile: {self.run_dir}/slapd.args
olcLogLevel: none

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema
"""]
        for name in BASE_SCHEMAS:
            with open(os.path.join(SCHEMA_DIR, name + ".ldif")) as f:
                parts.append(f.read())
        for path in [SUITE_SCHEMA] + self.extra_schema:
            if path.endswith(".schema"):
                parts.append(schema2ldif.convert(path))
            else:
                with open(path) as f:
                    parts.append(f.read())
        acl = [
            "to attrs=userPassword by self write by anonymous auth by * none",
            f'to * by dn.exact="{MAILSRV_DN}" read by self read by * none',
        ]
        parts.append(f"""\
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcAccess: {{0}}to dn.base="" by * read
olcAccess: {{1}}to dn.base="cn=Subschema" by * read

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: cn=admin,cn=config
olcRootPW: {ROOTPW}

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcDbDirectory: {self.data_dir}
olcRootDN: {ROOTDN}
olcRootPW: {ROOTPW}
olcDbMaxSize: 4294967296
olcDbNoSync: {"TRUE" if self.nosync else "FALSE"}
olcLimits: dn.exact="{MAILSRV_DN}" size=unlimited time=unlimited
""")
        parts[-1] += "".join(f"olcDbIndex: {i}\n" for i in INDEXES)
        parts[-1] += "".join(f"olcAccess: {{{n}}}{a}\n" for n, a in enumerate(acl))
        return "\n".join(p.rstrip("\n") + "\n" for p in parts)

    # --------------------------------------------------------------- access

    def _bind_args(self, bind):
        if bind is None:
            return ["-x", "-H", self.uri]
        return ["-x", "-H", self.uri, "-D", bind[0], "-w", bind[1]]

    def search(self, filter="(objectClass=*)", base=SUFFIX, attrs=(),
               scope="sub", bind=ADMIN):
        """ldapsearch; bind is (dn, password) or None for anonymous."""
        argv = (["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=5",
                 "-s", scope, "-b", base] + self._bind_args(bind)
                + [filter] + list(attrs))
        return parse_ldif(_run(argv, f"ldapsearch {filter}"))

    def ldapmodify(self, ldif_text, add=False, bind=ADMIN):
        """ldapmodify (-a with add=True) fed ldif_text, as rootdn by default."""
        argv = ["ldapmodify"] + (["-a"] if add else []) + self._bind_args(bind)
        return _run(argv, "ldapmodify", stdin=ldif_text)

    def ldapadd(self, ldif_text, bind=ADMIN):
        return self.ldapmodify(ldif_text, add=True, bind=bind)

    def bind_ok(self, dn, password):
        """True if a simple bind as dn with password succeeds."""
        r = subprocess.run(["ldapwhoami", "-x", "-H", self.uri, "-D", dn,
                            "-w", password], capture_output=True, text=True)
        return r.returncode == 0

    def slapcat(self, n=1):
        """The database (n=1) or the configuration (n=0) as LDIF."""
        return _run([SLAPCAT, "-o", "ldif-wrap=no", f"-n{n}", "-F", self.config_dir],
                    f"slapcat -n{n}")

    # ---------------------------------------------------------------- users

    def add_users(self, n, domain, mailhost, first=1, prefix="user"):
        """Create users PREFIX<i>@domain for i in first..first+n-1, password
        PREFIX<i>-secret, on mailhost.  Before start() they go in with the
        initial slapadd (fast: 1000 users in well under a second); after,
        with ldapadd.  The domain node is created when it does not exist.
        Returns [(address, password)]."""
        built = os.path.isdir(self.config_dir)
        if built and not self.alive():
            raise RuntimeError("add_users: slapd is not running; start() it first")
        chunks = []
        if not self._domain_exists(domain):
            chunks.append(self._domain_ldif(domain))
            self._domains.add(domain.lower())
        users = []
        for i in range(first, first + n):
            uid = f"{prefix}{i}"
            users.append((f"{uid}@{domain}", f"{uid}-secret"))
            chunks.append(self._user_ldif(uid, domain, mailhost))
        if built:
            self.ldapadd("\n".join(chunks))
        else:
            self._pending_users.extend(chunks)
        return users

    def _domain_exists(self, domain):
        if domain.lower() in self._domains:
            return True
        if os.path.isdir(self.config_dir):
            found = self.search(f"(o={domain})", scope="one", attrs=["1.1"])
            return bool(found)
        for path in self.data:
            self._note_domains(path)
        return domain.lower() in self._domains

    def _note_domains(self, path):
        dn = re.compile(r"^dn:\s*o=([^,]+)," + re.escape(SUFFIX) + r"\s*$",
                        re.IGNORECASE | re.MULTILINE)
        with open(path) as f:
            for m in dn.finditer(f.read()):
                self._domains.add(m.group(1).lower())

    @staticmethod
    def _domain_ldif(domain):
        node = f"o={domain},{SUFFIX}"
        return f"""\
dn: {node}
objectClass: organization
objectClass: sunManagedOrganization
objectClass: mailDomain
o: {domain}
sunPreferredDomain: {domain}
associatedDomain: {domain}
inetDomainStatus: active
mailDomainStatus: active
inetDomainBaseDN: ou=People,{node}

dn: ou=People,{node}
objectClass: organizationalUnit
ou: People

dn: ou=Groups,{node}
objectClass: organizationalUnit
ou: Groups
"""

    @staticmethod
    def _user_ldif(uid, domain, mailhost):
        return f"""\
dn: uid={uid},ou=People,o={domain},{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetUser
objectClass: inetMailUser
objectClass: inetLocalMailRecipient
uid: {uid}
cn: {uid}
sn: {uid}
userPassword: {uid}-secret
mail: {uid}@{domain}
mailHost: {mailhost}
mailDeliveryOption: mailbox
inetUserStatus: active
mailUserStatus: active
"""
