#!/bin/sh
# Install, with apt-get, every Debian package that the build and the tests
# need, and only those that are missing.  `make check` and `make demo` call
# this first, so either works as the first command on a fresh Debian 12.
# `make bench` adds the peers it compares against (BENCH=1).
set -e
pkgs="build-essential pkg-config libevent-dev libldap-dev liblmdb-dev
      libssl-dev libsasl2-dev libc-ares-dev slapd ldap-utils swaks python3
      python3-pytest dnsmasq-base
      python3-lmdb curl openssl isync fetchmail
      lmdb-utils"
if [ -n "$BENCH" ]; then
    pkgs="$pkgs postfix dovecot-core dovecot-lmtpd dovecot-imapd dovecot-pop3d"
    # Only smtp-source is used: no system-wide Postfix configuration.
    if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
        s=; [ "$(id -u)" -ne 0 ] && s=sudo
        echo "postfix postfix/main_mailer_type select No configuration" |
            $s debconf-set-selections
    fi
fi
missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
sudo=
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# slapd's and postfix's maintainer scripts must not start system daemons:
# the tests run their own instances on loopback.
$sudo apt-get install -y -qq --no-install-recommends $missing
