#!/usr/bin/env bash
# Benchmark: `fromscratch build --preset minbase` against `mmdebstrap --variant=minbase` for the same
# suite and mirror, in one run on this machine: mmdebstrap (cold: it downloads every time), fromscratch
# cold (empty cache) and warm (cache filled). Prints wall times, the ratios and our peak RSS.
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
read -r cold_s cold_kb < <(measure cold env FROMSCRATCH_CACHE="$work/cache" bin/fromscratch build "oci:$work/cold:x" --suite "$suite")
read -r warm_s warm_kb < <(measure warm env FROMSCRATCH_CACHE="$work/cache" bin/fromscratch build "oci:$work/warm:x" --suite "$suite")

node - "$mm_s" "$cold_s" "$warm_s" "$cold_kb" "$warm_kb" <<'JS'
const [mm, cold, warm, coldKb, warmKb] = process.argv.slice(2).map(Number);
const rss = Math.max(coldKb, warmKb) / 1024;
console.log(`mmdebstrap --variant=minbase:   ${mm.toFixed(1)} s`);
console.log(`fromscratch build, cold cache:  ${cold.toFixed(1)} s  ratio ${(cold / mm).toFixed(2)}x (target <= 0.5x) ${cold / mm <= 0.5 ? 'ok' : 'MISSED'}`);
console.log(`fromscratch build, warm cache:  ${warm.toFixed(1)} s  ratio ${(warm / mm).toFixed(2)}x (target <= 0.25x) ${warm / mm <= 0.25 ? 'ok' : 'MISSED'}`);
console.log(`fromscratch peak RSS:           ${rss.toFixed(0)} MB (target <= 300 MB) ${rss <= 300 ? 'ok' : 'MISSED'}`);
JS
