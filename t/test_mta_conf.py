"""Golden tests of the MTA's configuration parsers (mta/imta_conf,
mappings, aliases, jobctl_conf) through t/tools/mtaconf.

t/mta/KIND/NAME.in is parsed as KIND (imta, mappings, aliases, jobctl) and
the output must equal NAME.ref byte for byte: the canonical dump for
ok-*.in (exit 0), the "file:line: message" list for bad-*.in (exit 1).
A dump must parse to itself.  The shipped samples in conf/mta/ are checked
against t/mta/conf/, t/mta/*.probes apply mapping tables to probes, and
t/mta/rewrite/NAME.probes run the rewrite engine against NAME.cnf.
Set MTA_GOLDEN_UPDATE=1 to rewrite the .ref files (then read the diff)."""
import glob
import os
import subprocess

import pytest

from suite import BUILD, ROOT

TOOL = os.path.join(BUILD, "t", "tools", "mtaconf")
UPDATE = os.environ.get("MTA_GOLDEN_UPDATE") == "1"
KINDS = ("imta", "mappings", "aliases", "jobctl")
SHIPPED = {"imta": "imta.cnf", "mappings": "mappings", "aliases": "aliases",
           "jobctl": "job_controller.cnf"}


def run(*args):
    if not os.access(TOOL, os.X_OK):
        pytest.fail(f"{TOOL} is not built: run make first")
    proc = subprocess.run([TOOL, *args], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    return proc.returncode, proc.stdout.decode()


def compare(out, ref):
    if UPDATE:
        with open(ref, "w") as f:
            f.write(out)
    with open(ref) as f:
        assert out == f.read(), f"output differs from {os.path.relpath(ref, ROOT)}"


def cases():
    found = []
    for kind in KINDS:
        for path in sorted(glob.glob(os.path.join(ROOT, "t", "mta", kind, "*.in"))):
            found.append((kind, os.path.relpath(path, ROOT)))
    return found


@pytest.mark.parametrize("kind,path", cases(), ids=lambda v: os.path.basename(v))
def test_golden(kind, path, tmp_path):
    rc, out = run(kind, path)
    good = os.path.basename(path).startswith("ok")
    assert rc == (0 if good else 1), out
    compare(out, os.path.join(ROOT, path[:-3] + ".ref"))
    if good:
        again = tmp_path / "dump"
        again.write_text(out)
        rc2, out2 = run(kind, str(again))
        assert (rc2, out2) == (0, out), "the dump does not parse to itself"


@pytest.mark.parametrize("kind", KINDS)
def test_shipped(kind):
    rc, out = run(kind, os.path.join("conf", "mta", SHIPPED[kind]))
    assert rc == 0, out
    compare(out, os.path.join(ROOT, "t", "mta", "conf", SHIPPED[kind] + ".ref"))


@pytest.mark.parametrize("probes", sorted(glob.glob(os.path.join(ROOT, "t", "mta", "*.probes"))),
                         ids=os.path.basename)
def test_probes(probes):
    """Each line: MAPPINGS-FILE TABLE PROBE [TESTS]; the .ref holds the
    line followed by the engine's answer."""
    out = []
    with open(probes) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            args = line.split()
            rc, answer = run("map", *args)
            assert rc == 0, answer
            out.append(line.rstrip("\n") + "\n    " + answer)
    compare("".join(out), probes[:-len(".probes")] + ".ref")


@pytest.mark.parametrize("probes", sorted(glob.glob(os.path.join(ROOT, "t", "mta", "rewrite", "*.probes"))),
                         ids=os.path.basename)
def test_rewrite(probes):
    """`mtaconf rewrite NAME.cnf NAME.probes`: each probe line, the
    engine's trace and its result; the whole output must equal NAME.ref."""
    base = probes[:-len(".probes")]
    rc, out = run("rewrite", os.path.relpath(base + ".cnf", ROOT), os.path.relpath(probes, ROOT))
    assert rc == 0, out
    compare(out, base + ".ref")
