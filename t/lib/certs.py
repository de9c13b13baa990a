#!/usr/bin/python3
"""Throwaway certificates for the tests and the demo, made with the openssl
command line tool: a CA, and server certificates it signs for given names
(DNS names and IP addresses, all in subjectAltName; the first is also the
CN).  Everything is written into the directory given, nothing anywhere
else: a CA already in that directory signs the next certificate made
there, and no state is kept between calls or shared between tests.

    certs.py DIR NAME...        # DIR/ca.pem ca.key server.pem server.key
    certs.py -s store1 DIR store1.example.com 127.0.0.2
                                # a second certificate by the same CA:
                                # DIR/store1.pem store1.key

From Python:

    from certs import make_certs
    paths = make_certs(tmp_path, ["localhost", "127.0.0.1"])
    paths["ca"], paths["cert"], paths["key"]

Keys are ECDSA P-256 (fast to make); certificates are valid from now for
30 days.  The private keys are mode 0600.
"""
import argparse
import ipaddress
import os
import subprocess
import sys

OPENSSL = os.environ.get("OPENSSL", "openssl")
DAYS = "30"


def _run(args, cwd):
    proc = subprocess.run([OPENSSL] + args, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: "
                           + proc.stderr.decode("utf-8", "replace"))


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _san(names):
    return ",".join(("IP:" if _is_ip(n) else "DNS:") + n for n in names)


def _newkey(path, cwd):
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", path], cwd)
    os.chmod(os.path.join(cwd, path), 0o600)


def make_ca(directory, name="Mail Suite Test CA"):
    """DIR/ca.pem and DIR/ca.key (kept if they exist in DIR already)."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    ca, key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    if os.path.exists(ca) and os.path.exists(key):
        return ca, key
    _newkey("ca.key", directory)
    _run(["req", "-new", "-x509", "-key", "ca.key", "-out", "ca.pem",
          "-days", DAYS, "-subj", f"/O=Mail Suite Tests/CN={name}",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash"], directory)
    return ca, key


def make_cert(directory, names, stem="server"):
    """DIR/<stem>.pem (the certificate) and DIR/<stem>.key, signed by the
    CA in DIR (made first if missing), valid for every name in names."""
    if not names:
        raise ValueError("a certificate needs at least one name")
    directory = os.fspath(directory)
    make_ca(directory)
    ext = os.path.join(directory, f"{stem}.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                f"subjectAltName={_san(names)}\n")
    _newkey(f"{stem}.key", directory)
    _run(["req", "-new", "-key", f"{stem}.key", "-out", f"{stem}.csr",
          "-subj", f"/O=Mail Suite Tests/CN={names[0]}"], directory)
    _run(["x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem",
          "-CAkey", "ca.key", "-days", DAYS, "-extfile", f"{stem}.ext",
          "-set_serial", str(int.from_bytes(os.urandom(8), "big") >> 1),
          "-out", f"{stem}.pem"], directory)
    for tmp in (f"{stem}.csr", f"{stem}.ext"):
        os.unlink(os.path.join(directory, tmp))
    return os.path.join(directory, f"{stem}.pem"), os.path.join(directory, f"{stem}.key")


def make_certs(directory, names, stem="server"):
    """A CA and one certificate for names; a dict of their paths."""
    cert, key = make_cert(directory, names, stem)
    directory = os.fspath(directory)
    return {"dir": directory, "ca": os.path.join(directory, "ca.pem"),
            "ca_key": os.path.join(directory, "ca.key"),
            "cert": cert, "key": key}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-s", "--stem", default="server",
                    help="file name stem of the certificate (default server)")
    ap.add_argument("dir")
    ap.add_argument("names", nargs="+", help="DNS names and IP addresses")
    args = ap.parse_args(argv)
    paths = make_certs(args.dir, args.names, args.stem)
    for k in ("ca", "cert", "key"):
        print(f"{k}={paths[k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
