"""Fixtures for the integration tests: real servers on loopback, one per
session where the tests only read from them."""
import pytest

from slapd import Slapd


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """slapd serving conf/ldap/sample.ldif on a free loopback port.

    Shared by the whole session: tests that change the directory start their
    own Slapd instead.  The log (stats level) is slapd.log in its workdir."""
    server = Slapd(tmp_path_factory.mktemp("slapd"), loglevel="stats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_store(tmp_path, slapd):
    """Factory for stores on the shared directory; all stopped at the end."""
    from store import Store
    made = []

    def make(name="store1", host="127.0.0.2", conf=None, **kw):
        kw.setdefault("slapd", slapd)
        st = Store(tmp_path / f"{name}-{len(made)}", host=host, name=name,
                   conf=conf, **kw)
        made.append(st)
        return st.start()

    yield make
    for st in made:
        st.stop()


@pytest.fixture
def store(make_store):
    """store1 (127.0.0.2) with default settings."""
    return make_store()


@pytest.fixture
def lmtp(store):
    """An LMTP session to store1, after LHLO."""
    from lmtpclient import Lmtp
    c = Lmtp(*store.lmtp)
    assert c.lhlo()[0] == 250
    yield c
    c.close()


@pytest.fixture
def imap_store(make_store):
    """store1 with an IMAP listener; passwords allowed without TLS (the
    TLS tests turn that off)."""
    from suite import free_port
    port = free_port("127.0.0.2")
    st = make_store(conf={"service.imap.listen": f"127.0.0.2:{port}",
                          "service.imap.plaintextmincipher": "0"})
    st.imap = ("127.0.0.2", port)
    return st


def deliver(st, user, subjects, **kw):
    """Deliver one message per subject to user over LMTP."""
    from lmtpclient import Lmtp, make_message
    c = Lmtp(*st.lmtp)
    c.lhlo()
    for subj in subjects:
        _, _, data = c.deliver("sender@example.net", [user], make_message(subj, **kw))
        assert data and data[0][0] == 250, data
    c.cmd("QUIT")
    c.close()


@pytest.fixture
def make_mta(tmp_path, slapd):
    """Factory for mtas on the shared directory; all stopped at the end."""
    from mta import Mta
    made = []

    def make(host="127.0.0.1", start=True, **kw):
        kw.setdefault("slapd", slapd)
        m = Mta(tmp_path / f"mta-{len(made)}", host=host, **kw)
        made.append(m)
        return m.start() if start else m

    yield make
    for m in made:
        m.stop()


@pytest.fixture
def mta(make_mta):
    """An mta with the shipped sample configuration on 127.0.0.1."""
    return make_mta()


# ---- the mmp in front of two stores ----

MMP_ADMIN = "mmp@example.com"


def mmp_store_conf(host):
    """A store's keys for use behind the mmp: IMAP and POP3 listeners,
    passwords allowed without TLS, the mmp's administrator."""
    from suite import free_port
    return {"service.imap.listen": f"{host}:{free_port(host)}",
            "service.pop.listen": f"{host}:{free_port(host)}",
            "service.imap.plaintextmincipher": "0",
            "service.pop.plaintextmincipher": "0",
            "store.admins": MMP_ADMIN}


def with_endpoints(st):
    """st.imap and st.pop from its configuration."""
    host, port = st.keys["service.imap.listen"].rsplit(":", 1)
    st.imap = (host, int(port))
    host, port = st.keys["service.pop.listen"].rsplit(":", 1)
    st.pop = (host, int(port))
    return st


@pytest.fixture
def stores(make_store):
    """store1 (127.0.0.2, alice's) and store2 (127.0.0.3, bob's), each with
    one message in the user's INBOX."""
    st1 = with_endpoints(make_store(name="store1", host="127.0.0.2",
                                    conf=mmp_store_conf("127.0.0.2")))
    st2 = with_endpoints(make_store(name="store2", host="127.0.0.3",
                                    conf=mmp_store_conf("127.0.0.3")))
    deliver(st1, "alice@example.com", ["for alice on store1"])
    deliver(st2, "bob@example.com", ["for bob on store2"])
    return st1, st2


@pytest.fixture
def make_mmp(tmp_path, slapd, stores):
    """Factory for mmps (127.0.0.1) in front of `stores`; all stopped at
    the end."""
    from mmp import Mmp
    made = []
    st1, st2 = stores

    def make(conf=None, start=True, **kw):
        kw.setdefault("slapd", slapd)
        kw.setdefault("backends", {"store1.example.com": st1,
                                   "store2.example.com": st2})
        m = Mmp(tmp_path / f"mmp-{len(made)}", conf=conf, **kw)
        made.append(m)
        return m.start() if start else m

    yield make
    for m in made:
        m.stop()


@pytest.fixture
def mmp(make_mmp):
    """An mmp with the test defaults (t/lib/mmp.py)."""
    return make_mmp()
