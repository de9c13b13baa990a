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
