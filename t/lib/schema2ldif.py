#!/usr/bin/python3
"""Convert a slapd .schema file into the cn=config LDIF form.

slapd itself does the conversion (slaptest -f ... -F ...), so the LDIF says
exactly what slapd understood from the .schema file; this script only
removes what slaptest adds for its own bookkeeping (CRC comment, ordering
prefix in the RDN, operational attributes) and puts a header on top.

    python3 t/lib/schema2ldif.py conf/ldap/mailsuite.schema > conf/ldap/mailsuite.ldif

The integration tests run the same conversion and compare the result with
the checked-in LDIF, so the two forms cannot drift apart.
"""
import glob
import os
import subprocess
import sys
import tempfile

SLAPTEST = "/usr/sbin/slaptest"
SCHEMA_DIR = "/etc/ldap/schema"
# What our schema needs to be loaded at all; loaded before it, in this order.
PREREQUISITES = ("core", "cosine", "inetorgperson")
# Attributes slaptest stamps on every config entry; they are not schema.
OPERATIONAL = ("structuralobjectclass", "entryuuid", "creatorsname",
               "createtimestamp", "entrycsn", "modifiersname",
               "modifytimestamp")

HEADER = """\
# {name}.ldif -- the schema of {name}.schema in cn=config form.
#
# GENERATED from conf/ldap/{name}.schema by t/lib/schema2ldif.py (slaptest
# does the conversion); edit the .schema file and regenerate, never this one.
# The comments of {name}.schema explain every definition and the OIDs.
#
# Load it into a running slapd that uses cn=config, after core, cosine and
# inetorgperson (and without misc):
#     ldapadd -Y EXTERNAL -H ldapi:/// -f {name}.ldif
# or into a configuration directory that is not in use:
#     slapadd -n0 -F /etc/ldap/slapd.d -l {name}.ldif
"""


def _logical_lines(text):
    """LDIF lines with continuations joined, each with its physical lines."""
    out = []
    for line in text.splitlines():
        if line.startswith(" ") and out:
            out[-1].append(line)
        else:
            out.append([line])
    return out


def convert(schema_path, name=None):
    """Return the cn=config LDIF text for the .schema file at schema_path."""
    schema_path = os.path.abspath(schema_path)
    if name is None:
        name = os.path.splitext(os.path.basename(schema_path))[0]
    with tempfile.TemporaryDirectory(prefix="schema2ldif.") as tmp:
        conf = os.path.join(tmp, "slapd.conf")
        with open(conf, "w") as f:
            for pre in PREREQUISITES:
                f.write(f"include {SCHEMA_DIR}/{pre}.schema\n")
            f.write(f"include {schema_path}\n")
        out = os.path.join(tmp, "slapd.d")
        os.mkdir(out)
        r = subprocess.run([SLAPTEST, "-f", conf, "-F", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"slaptest -f {conf}: {r.stderr.strip()}")
        pattern = os.path.join(out, "cn=config", "cn=schema", f"cn={{*}}{name}.ldif")
        found = glob.glob(pattern)
        if len(found) != 1:
            raise RuntimeError(f"slaptest wrote no {pattern}")
        with open(found[0]) as f:
            raw = f.read()
    index = len(PREREQUISITES)
    body = []
    for group in _logical_lines(raw):
        first = group[0]
        if first.startswith("#") or not first.strip():
            continue
        attr = first.split(":", 1)[0].lower()
        if attr in OPERATIONAL:
            continue
        if first == f"dn: cn={{{index}}}{name}":
            group = [f"dn: cn={name},cn=schema,cn=config"]
        elif first == f"cn: {{{index}}}{name}":
            group = [f"cn: {name}"]
        body.extend(group)
    return HEADER.format(name=name) + "\n".join(body) + "\n"


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: schema2ldif.py FILE.schema > FILE.ldif\n")
        return 2
    try:
        sys.stdout.write(convert(argv[1]))
    except (OSError, RuntimeError) as e:
        sys.stderr.write(f"schema2ldif: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
