#!/usr/bin/env bash
# Benchmark: `fromscratch build --preset minbase` against `mmdebstrap --variant=minbase` for the same
# suite and mirror, in one run on this machine: mmdebstrap (cold: it downloads every time), fromscratch
# cold (empty cache), warm (cache filled: the same build again, which reuses the compressed layer) and
# warm with a new layer (cache filled, but another SOURCE_DATE_EPOCH, so every mtime and the layer change
# and it is tarred and compressed again). Prints wall times, the ratios and our peak RSS.
# Targets: cold <= 0.5x mmdebstrap, warm <= 0.25x, peak RSS <= 300 MB.
# Usage: bench/build.sh [SUITE]   (default bookworm; the mirror comes from the host's apt configuration)
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-bookworm}
for tool in mmdebstrap /usr/bin/time; do
  command -v "$tool" >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${tool##*/}" >/dev/null; } ||
    { echo "bench: needs $tool (apt-get install ${tool##*/})" >&2; exit 1; }
done
[ -f dist/src/cli.js ] || npm run --silent build
mirror=$(node --input-type=module -e "
  const { findSuiteSource } = await import('./dist/src/packages/deb/mirror.js');
  console.log((await findSuiteSource('$suite')).uri);")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
measure() { # label, command...: prints "seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/$label.time" "$@" >"$work/$label.out" 2>&1 || { cat "$work/$label.out" >&2; exit 1; }
  cat "$work/$label.time"
}

read -r mm_s mm_kb < <(measure mmdebstrap mmdebstrap --quiet --variant=minbase --format=tar "$suite" "$work/mmdebstrap.tar" "$mirror")
epoch=1700000000
read -r cold_s cold_kb < <(measure cold env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$epoch bin/fromscratch build "oci:$work/cold:x" --suite "$suite")
read -r warm_s warm_kb < <(measure warm env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$epoch bin/fromscratch build "oci:$work/warm:x" --suite "$suite")
read -r new_s new_kb < <(measure new env FROMSCRATCH_CACHE="$work/cache" SOURCE_DATE_EPOCH=$((epoch + 1)) bin/fromscratch build "oci:$work/new:x" --suite "$suite")

node - "$mm_s" "$cold_s" "$warm_s" "$new_s" "$cold_kb" "$warm_kb" "$new_kb" <<'JS'
const [mm, cold, warm, fresh, ...kbs] = process.argv.slice(2).map(Number);
const rss = Math.max(...kbs) / 1024;
const line = (label, s, target) => console.log(`${label.padEnd(44)}${s.toFixed(1).padStart(5)} s  ratio ${(s / mm).toFixed(2)}x (target <= ${target}x) ${s / mm <= target ? 'ok' : 'MISSED'}`);
console.log(`${'mmdebstrap --variant=minbase:'.padEnd(44)}${mm.toFixed(1).padStart(5)} s`);
line('fromscratch build, cold cache:', cold, 0.5);
line('fromscratch build, warm cache:', warm, 0.25);
line('fromscratch build, warm cache, new layer:', fresh, 0.25);
console.log(`${'fromscratch peak RSS:'.padEnd(44)}${rss.toFixed(0).padStart(5)} MB (target <= 300 MB) ${rss <= 300 ? 'ok' : 'MISSED'}`);
JS
