#!/bin/sh
# Install, with apt-get, every Debian package that the build and the tests
# need, and only those that are missing.  `make check` and `make demo` call
# this first, so either works as the first command on a fresh Debian 12.
# `make bench` adds the peers it compares against (BENCH=1).
set -e
pkgs="build-essential pkg-config libevent-dev libldap-dev liblmdb-dev
      libssl-dev libsasl2-dev libsasl2-modules libc-ares-dev slapd ldap-utils swaks python3
      python3-pytest dnsmasq-base
      python3-lmdb curl openssl isync fetchmail
      lmdb-utils postfix procps"
if [ -n "$BENCH" ]; then
    pkgs="$pkgs dovecot-core dovecot-lmtpd dovecot-imapd dovecot-pop3d
          nginx-light libnginx-mod-mail"
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
# Only Postfix's tools are used (smtp-sink as the SMTP channel's remote
# hosts, smtp-source for the benchmarks): no system-wide configuration.
case " $missing " in *" postfix "*)
    echo "postfix postfix/main_mailer_type select No configuration" |
        $sudo debconf-set-selections ;;
esac
# slapd's and postfix's maintainer scripts must not start system daemons:
# the tests run their own instances on loopback.  invoke-rc.d (and
# deb-systemd-invoke) ask policy-rc.d, whose 101 forbids every start; one
# is put in place for the install unless the machine has its own
# (containers often do), and removed again after.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing
