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
