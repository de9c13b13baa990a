"""The C unit tests (t/unit/test_*.c), one pytest test per binary, so that
one summary line counts them with the integration tests.  The binaries are
built by `make` into $SUITE_BUILD/t (default build/t); finding none is a
failure, not a skip: building them is part of `make check`."""
import os
import subprocess

import pytest

from suite import BUILD, ROOT

UNIT_DIR = os.path.join(BUILD, "t")
TIMEOUT = 600


def unit_binaries():
    try:
        names = sorted(os.listdir(UNIT_DIR))
    except FileNotFoundError:
        return []
    paths = (os.path.join(UNIT_DIR, n) for n in names if n.startswith("test_"))
    return [p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)]


BINARIES = unit_binaries()


@pytest.mark.parametrize("binary", BINARIES or [None],
                         ids=[os.path.basename(b) for b in BINARIES] or ["none-built"])
def test_unit(binary):
    if binary is None:
        pytest.fail(f"no unit test binaries in {UNIT_DIR}: run make first")
    proc = subprocess.run([binary], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"{os.path.basename(binary)} exited with {proc.returncode}\n"
                    + proc.stderr.decode("utf-8", "replace")
                    + proc.stdout.decode("utf-8", "replace"), pytrace=False)
