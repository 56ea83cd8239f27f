#!/usr/bin/env bash
# Benchmark: `fromscratch import` of a ~500 MB directory tree against `tar -c DIR | gzip -6` of the same
# tree, in the same run. Prints both throughputs, the ratio (target ≥ 1.0×) and our peak RSS (target
# < 200 MB). Usage: bench/import.sh [TREE_DIR] [SIZE_MB]   (default: a tree made from /usr, 500 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q time >/dev/null; } ||
  { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -f dist/src/cli.js ] || npm run --silent build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=${1:-}
if [ -z "$tree" ]; then
  tree="$work/tree"
  bench/make-tree.sh "$tree" "${2:-500}" >/dev/null
fi
bytes=$(du -sb "$tree" | cut -f1)
files=$(find "$tree" | wc -l)
# Read the tree once so both runs start from the same warm page cache.
tar -c -C "$tree" . >/dev/null

measure() { # label, command...: prints "seconds peak_kb"
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/$label.time" "$@" >/dev/null
  cat "$work/$label.time"
}

read -r base_s base_kb < <(measure baseline sh -c "tar -c -C '$tree' . | gzip -6 > '$work/baseline.tar.gz'")
read -r ours_s ours_kb < <(measure fromscratch bin/fromscratch import "$tree" "oci:$work/image")

node - "$bytes" "$files" "$base_s" "$ours_s" "$ours_kb" "$(stat -c %s "$work/baseline.tar.gz")" "$(du -sb "$work/image/blobs" | cut -f1)" <<'JS'
const [bytes, files, base, ours, kb, baseSize, oursSize] = process.argv.slice(2).map(Number);
const mbps = (s) => (bytes / 1e6 / s).toFixed(1);
const ratio = base / ours;
const rss = kb / 1024;
console.log(`tree: ${(bytes / 1e6).toFixed(0)} MB in ${files} entries`);
console.log(`tar -c | gzip -6:     ${base.toFixed(2)} s  ${mbps(base)} MB/s  output ${(baseSize / 1e6).toFixed(1)} MB`);
console.log(`fromscratch import:   ${ours.toFixed(2)} s  ${mbps(ours)} MB/s  output ${(oursSize / 1e6).toFixed(1)} MB  peak RSS ${rss.toFixed(0)} MB`);
console.log(`throughput ratio:     ${ratio.toFixed(2)}x (target >= 1.0x) ${ratio >= 1 ? 'ok' : 'MISSED'}`);
console.log(`peak RSS:             ${rss.toFixed(0)} MB (target < 200 MB) ${rss < 200 ? 'ok' : 'MISSED'}`);
JS
