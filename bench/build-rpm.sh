#!/usr/bin/env bash
# Benchmark: `fromscratch build --rpm-repo` against mkimage-yum.sh's path (`dnf --installroot` into a
# folder, then `tar --numeric-owner -c | gzip`) for the CentOS Stream 9 container set (bash
# coreutils-single glibc-minimal-langpack filesystem setup rpm dnf), from the same loopback repository:
# stub RPMs made from the real CentOS Stream 9 BaseOS metadata in ../shared (test/stub-rpm-repo.ts: real
# names, versions, dependencies and file lists, empty files), served by python3 -m http.server on
# 127.0.0.1. dnf cold (empty cache), fromscratch cold (empty FROMSCRATCH_CACHE), warm (cache filled: the
# same build again: the build cache gives its layer) and warm with a new layer (another SOURCE_DATE_EPOCH:
# every package is installed again from the unpacked cache and the layer written again; no target).
# Prints wall times, the ratios to dnf and our peak RSS.
# Targets: cold <= 0.5x dnf, warm <= 0.1x, peak RSS <= 300 MB.
# Usage: bench/build-rpm.sh [REPODATA]   (default: ../shared/fixtures/rpm/centos-stream-9-baseos/repodata)
#   BENCH_CACHE=DIR keeps the stub repository between runs (default ${TMPDIR:-/tmp}/fromscratch-bench).
#   BENCH_SKIP_FROMSCRATCH=1 measures dnf only.
set -euo pipefail
cd "$(dirname "$0")/.."
repodata=${1:-}
if [ -z "$repodata" ]; then
  for d in ../shared ../../shared; do
    [ -d "$d/fixtures/rpm/centos-stream-9-baseos/repodata" ] && { repodata=$d/fixtures/rpm/centos-stream-9-baseos/repodata; break; }
  done
fi
[ -n "$repodata" ] && [ -f "$repodata/repomd.xml" ] || { echo "bench: needs the CentOS Stream 9 metadata (../shared/fixtures/rpm/centos-stream-9-baseos/repodata) or a repodata folder" >&2; exit 1; }
repodata=$(cd "$repodata" && pwd)
for tool in dnf rpmbuild createrepo_c /usr/bin/time /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool (apt-get install dnf rpm createrepo-c time python3)" >&2; exit 1; }
done
npm run --silent build >/dev/null 2>&1 || [ -f dist/test/stub-rpm-repo.js ] || { echo "bench: npm run build failed" >&2; exit 1; }
packages=bash,coreutils-single,glibc-minimal-langpack,filesystem,setup,rpm,dnf

work=$(mktemp -d)
server=
cleanup() { [ -z "$server" ] || kill "$server" 2>/dev/null || :; rm -rf "$work"; }
trap cleanup EXIT
measure() { # label, command...: prints "seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/$label.time" "$@" >"$work/$label.out" 2>&1 || { cat "$work/$label.out" >&2; exit 1; }
  cat "$work/$label.time"
}

# The stub repository (about a minute the first time; cached by the metadata's hash).
cache=${BENCH_CACHE:-${TMPDIR:-/tmp}/fromscratch-bench}
repo=$(node --input-type=module -e "
  const { makeStubRepo } = await import('./dist/test/stub-rpm-repo.js');
  const r = await makeStubRepo({ repodata: process.argv[1], out: process.argv[2] });
  console.error('bench: stub repository of ' + r.packages + ' packages, ' + (r.cached ? 'cached' : 'built in ' + r.seconds.toFixed(0) + ' s'));
  console.log(r.dir);" "$repodata" "$cache")

# Served on loopback, on a port the server picks and prints.
/usr/bin/python3 -u -m http.server --bind 127.0.0.1 --directory "$repo" 0 >"$work/http.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q 'port [0-9]' "$work/http.log" && break; sleep 0.1; done
port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/http.log" | head -1)
[ -n "$port" ] || { cat "$work/http.log" >&2; exit 1; }
url=http://127.0.0.1:$port/

# mkimage-yum.sh's path: dnf --installroot (weak dependencies off, as container builds do), then tar | gzip.
# Debian's rpm keeps its database in ~/.rpmdb: a HOME of our own puts it in the root, at /var/lib/rpm.
mkdir -p "$work/home"; echo '%_dbpath /var/lib/rpm' >"$work/home/.rpmmacros"
printf '[main]\nreposdir=%s\ncachedir=%s\ngpgcheck=0\ninstall_weak_deps=0\nkeepcache=0\n' "$work/repos.d" "$work/dnf-cache" >"$work/dnf.conf"
read -r dnf_s dnf_kb < <(measure dnf env HOME="$work/home" bash -c '
  set -euo pipefail
  dnf -y -q -c "$1/dnf.conf" --installroot "$1/dnfroot" --releasever 9 --repofrompath "stub,$2" install ${3//,/ }
  tar --numeric-owner -C "$1/dnfroot" -c . | gzip >"$1/dnf.tar.gz"' bench "$work" "$url" "$packages")
dnf_n=$(HOME="$work/home" rpm --root "$work/dnfroot" -qa | wc -l)

if [ "${BENCH_SKIP_FROMSCRATCH:-}" = 1 ]; then
  node - "$dnf_s" "$dnf_kb" "$dnf_n" <<'JS'
const [s, kb, n] = process.argv.slice(2).map(Number);
console.log(`${'dnf --installroot + tar | gzip (cold):'.padEnd(44)}${s.toFixed(1).padStart(5)} s  ${n} packages, peak RSS ${(kb / 1024).toFixed(0)} MB`);
JS
  exit 0
fi

epoch=1700000000
read -r cold_s cold_kb < <(measure cold env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$epoch bin/fromscratch build "oci:$work/cold:x" --rpm-repo "$url" --include "$packages")
read -r warm_s warm_kb < <(measure warm env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$epoch bin/fromscratch build "oci:$work/warm:x" --rpm-repo "$url" --include "$packages")
read -r new_s new_kb < <(measure new env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$((epoch + 1)) bin/fromscratch build "oci:$work/new:x" --rpm-repo "$url" --include "$packages")

node - "$dnf_s" "$cold_s" "$warm_s" "$new_s" "$dnf_n" "$dnf_kb" "$cold_kb" "$warm_kb" "$new_kb" <<'JS'
const [dnf, cold, warm, fresh, n, dnfKb, ...kbs] = process.argv.slice(2).map(Number);
const rss = Math.max(...kbs) / 1024;
const line = (label, s, target) => console.log(`${label.padEnd(44)}${s.toFixed(2).padStart(5)} s  ratio ${(s / dnf).toFixed(2)}x ${target === undefined ? '(no target: every package is installed again)' : `(target <= ${target}x) ${s / dnf <= target ? 'ok' : 'MISSED'}`}`);
console.log(`${'dnf --installroot + tar | gzip (cold):'.padEnd(44)}${dnf.toFixed(1).padStart(5)} s  (${n} packages, peak RSS ${(dnfKb / 1024).toFixed(0)} MB)`);
line('fromscratch build, cold cache:', cold, 0.5);
line('fromscratch build, warm cache:', warm, 0.1);
line('fromscratch build, warm cache, new layer:', fresh);
console.log(`${'fromscratch peak RSS:'.padEnd(44)}${rss.toFixed(0).padStart(5)} MB (target <= 300 MB) ${rss <= 300 ? 'ok' : 'MISSED'}`);
JS
