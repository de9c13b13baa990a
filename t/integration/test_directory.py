"""The directory part of the foundation: conf/ldap/mailsuite.schema (both
forms), conf/ldap/sample.ldif and the ACL/indexes t/lib/slapd.py sets up,
checked against a real slapd with the OpenLDAP command line clients."""
import os
import subprocess

import pytest

import schema2ldif
from slapd import (ADMIN, MAILSRV, MAILSRV_DN, SAMPLE, SCHEMA_DIR, SUFFIX,
                   SUITE_SCHEMA, LdapError, Slapd)
from suite import ROOT

SCHEMA = os.path.join(ROOT, "conf", "ldap", "mailsuite.schema")
COM = f"o=example.com,{SUFFIX}"
ORG = f"o=example.org,{SUFFIX}"


def user_dn(uid, domain="example.com"):
    return f"uid={uid},ou=People,o={domain},{SUFFIX}"


def dns(entries):
    return sorted(dn for dn, _ in entries)


def one(entries):
    assert len(entries) == 1, entries
    return entries[0][1]


# ------------------------------------------------------------------ schema

@pytest.mark.parametrize("others", [
    ("core", "cosine", "inetorgperson"),
    ("core", "cosine", "inetorgperson", "nis", "dyngroup"),
])
def test_schema_file_loads_with_slaptest(tmp_path, others):
    conf = tmp_path / "slapd.conf"
    conf.write_text("".join(f"include {SCHEMA_DIR}/{n}.schema\n" for n in others)
                    + f"include {SCHEMA}\n")
    r = subprocess.run(["/usr/sbin/slaptest", "-u", "-f", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_schema_ldif_is_generated_from_schema_file():
    with open(SUITE_SCHEMA) as f:
        checked_in = f.read()
    assert schema2ldif.convert(SCHEMA) == checked_in, \
        "regenerate: python3 t/lib/schema2ldif.py conf/ldap/mailsuite.schema " \
        "> conf/ldap/mailsuite.ldif"


def test_schema_ldif_loads_into_cn_config(slapd):
    # The fixture built its cn=config from mailsuite.ldif with slapadd -n0.
    r = subprocess.run(["/usr/sbin/slaptest", "-u", "-F", slapd.config_dir],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    config = slapd.slapcat(0)
    assert "dn: cn={5}mailsuite,cn=schema,cn=config" in config
    # Every attribute the suite defines is known to the running server.
    subschema = slapd.search("(objectClass=subschema)", base="cn=Subschema",
                             scope="base", attrs=["attributeTypes"], bind=None)
    known = " ".join(one(subschema)["attributeTypes"])
    for name in ("mailAlternateAddress", "mailEquivalentAddress", "mailHost",
                 "mailDeliveryOption", "mailForwardingAddress", "mailQuota",
                 "mailMsgQuota", "mailUserStatus", "inetUserStatus",
                 "mailSieveRuleSource", "mailAutoReplyText", "mailAutoReplyMode",
                 "mailAutoReplySubject", "mailAutoReplyTimeOut",
                 "mgrpRFC822MailMember", "mgrpDeliverTo", "mgrpErrorsTo",
                 "mgrpAllowedBroadcaster", "mgrpMsgMaxSize", "sunPreferredDomain",
                 "mailMessageStore", "inetDomainStatus", "mailDomainStatus"):
        assert f"NAME '{name}'" in known, name


# ------------------------------------------------------------------ sample

def test_sample_is_loaded(slapd):
    users = slapd.search("(objectClass=inetMailUser)", attrs=["mail"])
    assert sorted(one_mail for _, a in users for one_mail in a["mail"]) == [
        "alice@example.com", "bob@example.com", "carol@example.org",
        "dave@example.org", "erin@example.com", "frank@example.com",
        "grace@example.com", "heidi@example.com", "ivan@example.com",
        "judy@example.org", "mmp@example.com"]
    groups = slapd.search("(objectClass=inetMailGroup)", attrs=["mail"])
    assert sorted(a["mail"][0] for _, a in groups) == [
        "announce@example.com", "everyone@example.org", "staff@example.com"]
    domains = slapd.search("(objectClass=sunManagedOrganization)")
    assert dns(domains) == [COM, ORG]


@pytest.mark.parametrize("attr,value,uid", [
    ("mail", "ALICE@Example.COM", "alice"),
    ("mail", "carol@EXAMPLE.org", "carol"),
    ("mailAlternateAddress", "Alice.Smith@example.com", "alice"),
    ("mailEquivalentAddress", "alice@EXAMPLE.NET", "alice"),
    ("mailequivalentaddress", "Alice@Example.Net", "alice"),
])
def test_address_lookup_ignores_case(slapd, attr, value, uid):
    flt = f"(&(objectClass=inetMailUser)({attr}={value}))"
    found = slapd.search(flt, bind=MAILSRV, attrs=["uid", "mailHost"])
    assert one(found)["uid"] == [uid]


def test_address_lookup_in_one_filter(slapd):
    # What the MTA asks: any of the three address attributes, below a domain.
    for addr in ("alice@example.com", "alice.smith@example.com", "alice@example.net"):
        flt = (f"(|(mail={addr})(mailAlternateAddress={addr})"
               f"(mailEquivalentAddress={addr}))")
        found = slapd.search(flt, base=COM, bind=MAILSRV, attrs=["mailHost"])
        assert one(found)["mailHost"] == ["store1.example.com"]


def test_substring_search(slapd):
    org = slapd.search("(&(objectClass=inetMailUser)(mail=*@EXAMPLE.org))",
                       bind=MAILSRV, attrs=["1.1"])
    assert dns(org) == sorted(user_dn(u, "example.org") for u in ("carol", "dave", "judy"))
    alt = slapd.search("(mailAlternateAddress=ALICE.*)", bind=MAILSRV, attrs=["1.1"])
    assert dns(alt) == [user_dn("alice")]
    equiv = slapd.search("(mailEquivalentAddress=*@example.net)", bind=MAILSRV,
                         attrs=["1.1"])
    assert dns(equiv) == [user_dn("alice")]
    hosts = slapd.search("(mailHost=store2*)", bind=MAILSRV, attrs=["uid"])
    assert sorted(a["uid"][0] for _, a in hosts) == ["bob", "dave", "frank", "heidi"]


def test_domain_lookup(slapd):
    def node(name):
        flt = (f"(&(objectClass=sunManagedOrganization)"
               f"(|(sunPreferredDomain={name})(associatedDomain={name})))")
        return slapd.search(flt, bind=MAILSRV, scope="one",
                            attrs=["sunPreferredDomain", "inetDomainStatus",
                                   "mailDomainStatus"])
    com = node("Example.COM")
    assert dns(com) == [COM]
    assert one(com) == {"sunPreferredDomain": ["example.com"],
                        "inetDomainStatus": ["active"],
                        "mailDomainStatus": ["active"]}
    assert dns(node("example.net")) == [COM]        # alias domain
    assert dns(node("example.org")) == [ORG]
    assert node("elsewhere.example") == []


def test_user_attributes(slapd):
    def user(uid, domain="example.com"):
        return one(slapd.search("(objectClass=*)", base=user_dn(uid, domain),
                                scope="base", bind=MAILSRV))
    alice = user("alice")
    assert alice["mailQuota"] == ["104857600"] and alice["mailMsgQuota"] == ["10000"]
    bob = user("bob")
    assert "mailQuota" not in bob and "mailMsgQuota" not in bob
    assert bob["mailHost"] == ["store2.example.com"]
    erin = user("erin")
    assert erin["mailDeliveryOption"] == ["forward"]
    assert erin["mailForwardingAddress"] == ["erin.remote@elsewhere.example"]
    assert user("frank")["mailUserStatus"] == ["inactive"]
    assert user("grace")["mailUserStatus"] == ["deleted"]
    heidi = user("heidi")
    assert heidi["mailQuota"] == ["20000"] and heidi["mailMsgQuota"] == ["5"]
    ivan = user("ivan")
    assert sorted(ivan["mailDeliveryOption"]) == ["autoreply", "mailbox"]
    assert ivan["mailAutoReplyMode"] == ["reply"]
    assert ivan["mailAutoReplyTimeOut"] == ["24"]
    judy = user("judy", "example.org")
    assert judy["mailSieveRuleSource"] == [
        'require "fileinto";\nif header :contains "subject" "[spam]" {\n'
        '  fileinto "Junk";\n}\n']
    # Quotas are integers: range filters work.
    small = slapd.search("(&(mailQuota>=0)(mailQuota<=1000000))", bind=MAILSRV,
                         attrs=["uid"])
    assert [a["uid"] for _, a in small] == [["heidi"]]


def test_groups(slapd):
    staff = one(slapd.search("(mail=STAFF@example.com)", bind=MAILSRV))
    assert sorted(staff["uniqueMember"]) == [user_dn("alice"), user_dn("bob")]
    assert sorted(staff["mgrpRFC822MailMember"]) == [
        "carol@example.org", "partner@elsewhere.example"]
    announce = one(slapd.search("(mail=announce@example.com)", bind=MAILSRV))
    assert announce["mgrpAllowedBroadcaster"] == ["mailto:alice@example.com"]
    assert announce["mgrpMsgMaxSize"] == ["10000"]
    # Which groups is bob in (the reverse lookup the MTA's sender checks use)?
    bobs = slapd.search(f"(uniqueMember={user_dn('bob')})", bind=MAILSRV,
                        attrs=["mail"])
    assert sorted(a["mail"][0] for _, a in bobs) == ["announce@example.com",
                                                     "staff@example.com"]
    everyone = one(slapd.search("(mail=everyone@example.org)", bind=MAILSRV))
    url = everyone["memberURL"][0]
    base, _, rest = url[len("ldap:///"):].partition("?")
    _, scope, flt = rest.split("?")
    members = slapd.search(flt, base=base, scope=scope, bind=MAILSRV, attrs=["mail"])
    assert sorted(a["mail"][0] for _, a in members) == [
        "carol@example.org", "dave@example.org", "judy@example.org"]


# ------------------------------------------------------------------ indexes

def test_indexes_are_configured(slapd):
    config = slapd.slapcat(0)
    index = {}
    for line in config.splitlines():
        if line.startswith("olcDbIndex: "):
            attrs, kinds = line[len("olcDbIndex: "):].split()
            for a in attrs.split(","):
                index[a.lower()] = set(kinds.split(","))
    for attr in ("mail", "mailalternateaddress", "mailequivalentaddress", "uid"):
        assert {"eq", "sub"} <= index[attr], attr
    for attr in ("mailhost", "associateddomain", "sunpreferreddomain",
                 "uniquemember", "mgrprfc822mailmember", "objectclass"):
        assert "eq" in index[attr], attr


def test_lookups_do_not_scan(tmp_path):
    # slapd's "filter" debug level reports every filter term that has no
    # index; the daemons' lookups must not produce one.
    server = Slapd(tmp_path, loglevel="filter").start()
    try:
        lookups = [
            "(|(mail=a@example.com)(mailAlternateAddress=a@example.com)"
            "(mailEquivalentAddress=a@example.com))",
            "(mail=*@example.org)", "(mailAlternateAddress=alice*)",
            "(mailEquivalentAddress=*example.net)", "(uid=alice)", "(uid=al*)",
            "(mailHost=store1.example.com)",
            "(|(sunPreferredDomain=example.com)(associatedDomain=example.com))",
            f"(uniqueMember={user_dn('bob')})", "(mgrpRFC822MailMember=carol@example.org)",
            "(&(objectClass=inetMailUser)(mailUserStatus=active))",
        ]
        for flt in lookups:
            server.search(flt, bind=MAILSRV, attrs=["1.1"])
        assert "not indexed" not in server.log()
        # The check itself works: an unindexed attribute is reported.
        server.search("(description=*list*)", bind=MAILSRV, attrs=["1.1"])
        assert "(description) not indexed" in server.log()
    finally:
        server.stop()


# ------------------------------------------------------------------ access

def test_mailsrv_reads_everything_but_passwords(slapd):
    assert slapd.bind_ok(MAILSRV_DN, "mailsrv-secret")
    alice = one(slapd.search("(uid=alice)", base=COM, bind=MAILSRV,
                             attrs=["*", "userPassword"]))
    assert alice["mailHost"] == ["store1.example.com"]
    assert "userPassword" not in alice
    everything = slapd.search(bind=MAILSRV, attrs=["1.1"])
    assert len(everything) == len(slapd.search(bind=ADMIN, attrs=["1.1"]))


def test_anonymous_may_only_bind(slapd):
    with pytest.raises(LdapError) as e:
        slapd.search("(objectClass=*)", bind=None)
    assert e.value.code == 32           # the suffix is invisible: noSuchObject
    with pytest.raises(LdapError):
        slapd.search("(userPassword=*)", base=user_dn("alice"), scope="base",
                     bind=None, attrs=["userPassword"])
    # The root DSE stays readable so clients can discover the server.
    dse = slapd.search("(objectClass=*)", base="", scope="base", bind=None,
                       attrs=["namingContexts"])
    assert one(dse)["namingContexts"] == [SUFFIX]


def test_users_bind_with_their_password(slapd):
    assert slapd.bind_ok(user_dn("alice"), "alice-secret")
    assert slapd.bind_ok(user_dn("carol", "example.org"), "carol-secret")
    assert not slapd.bind_ok(user_dn("alice"), "bob-secret")
    assert not slapd.bind_ok(user_dn("nobody"), "alice-secret")
    assert not slapd.bind_ok(MAILSRV_DN, "wrong")
    # A user sees their own entry, not another user's.
    alice = (user_dn("alice"), "alice-secret")
    own = slapd.search("(objectClass=*)", base=user_dn("alice"), scope="base",
                       bind=alice, attrs=["mail"])
    assert one(own)["mail"] == ["alice@example.com"]
    with pytest.raises(LdapError):
        slapd.search("(objectClass=*)", base=user_dn("bob"), scope="base",
                     bind=alice)


# ------------------------------------------------------------------ lifecycle

def test_restart_keeps_data(tmp_path):
    server = Slapd(tmp_path).start()
    try:
        server.ldapmodify(f"dn: {user_dn('bob')}\nchangetype: modify\n"
                          "replace: mailHost\nmailHost: store1.example.com\n")
        added = server.add_users(3, "example.net.test", "store2.example.com")
        assert added[0] == ("user1@example.net.test", "user1-secret")
        port = server.port
        server.restart()
        assert server.port == port
        bob = one(server.search("(uid=bob)", base=COM, attrs=["mailHost"]))
        assert bob["mailHost"] == ["store1.example.com"]
        server.kill9()
        assert not server.alive()
        server.restart()
        found = server.search("(mail=*@example.net.test)", bind=MAILSRV, attrs=["1.1"])
        assert len(found) == 3
        assert server.bind_ok(f"uid=user2,ou=People,o=example.net.test,{SUFFIX}",
                              "user2-secret")
        # mailQuota is an INTEGER: the "20M" form of later releases is refused.
        with pytest.raises(LdapError) as e:
            server.ldapmodify(f"dn: {user_dn('bob')}\nchangetype: modify\n"
                              "replace: mailQuota\nmailQuota: 20M\n")
        assert e.value.code == 21       # invalidAttributeSyntax
    finally:
        server.stop()


def test_add_users_before_start_is_bulk(tmp_path):
    server = Slapd(tmp_path, data=[SAMPLE])
    users = server.add_users(1000, "example.com", "store2.example.com", first=1)
    server.add_users(2, "bench.example", "store1.example.com")
    server.start()
    try:
        assert len(users) == 1000
        found = server.search("(&(objectClass=inetMailUser)(mail=user*@example.com))",
                              bind=MAILSRV, attrs=["1.1"])
        assert len(found) == 1000
        node = server.search("(sunPreferredDomain=bench.example)", bind=MAILSRV)
        assert dns(node) == [f"o=bench.example,{SUFFIX}"]
        assert server.bind_ok(f"uid=user1000,ou=People,o=example.com,{SUFFIX}",
                              "user1000-secret")
    finally:
        server.stop()
