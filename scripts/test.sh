#!/usr/bin/env bash
# The whole test suite: installs the system tools the tests use as oracles (with apt when run as root),
# builds, and runs every test. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package that provides it
declare -A tools=(
  [podman]=podman [runc]=runc [skopeo]=skopeo [umoci]=umoci [tar]=tar [gzip]=gzip [xz]=xz-utils
  [zstd]=zstd [python3]=python3 [bzip2]=bzip2 [debootstrap]=debootstrap [dpkg]=dpkg
  [newuidmap]=uidmap [setpriv]=util-linux [rpm]=rpm [rpmbuild]=rpm [createrepo_c]=createrepo-c [chromium]=chromium
  [rpmsign]=rpm [gpg]=gnupg [gpgconf]=gnupg [dnf]=dnf [trust]=p11-kit [openssl]=openssl [systemctl]=systemd
  [systemd-sysusers]=systemd [useradd]=passwd [groupadd]=passwd [usermod]=passwd [gpasswd]=passwd [chroot]=coreutils
)
missing=()
for cmd in "${!tools[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}"); done
# The busybox root filesystem needs the static build (Debian's busybox-static).
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
# dnf's Python API (the resolver's oracle) and p11-kit's trust module (update-ca-trust's).
/usr/bin/python3 -c 'import dnf' >/dev/null 2>&1 || missing+=(python3-dnf)
[ -e /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-trust.so ] || [ -n "$(find /usr/lib -name p11-kit-trust.so -print -quit 2>/dev/null)" ] || missing+=(p11-kit-modules)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test: these Debian packages are needed and missing: ${missing[*]}" >&2
    echo "test: install them (as root: apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
# Expensive fixtures (a debootstrap chroot, the package cache) are made once per run and shared by
# the test files through this folder.
FROMSCRATCH_TEST_SHARED=$(mktemp -d "${TMPDIR:-/tmp}/fromscratch-tests-XXXXXX")
export FROMSCRATCH_TEST_SHARED
trap 'rm -rf "$FROMSCRATCH_TEST_SHARED"' EXIT
# One file at a time: the podman tests are heavy, and the machine has two cores.
node --test --test-concurrency=1 dist/test/*.test.js
