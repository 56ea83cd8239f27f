#!/usr/bin/env bash
# Benchmark: `fromscratch squash` and `fromscratch analyze` of a four-layer image of about SIZE_MB of
# file content (bench/make-image.sh: small and large files, text and random data, later layers overwriting
# and deleting files of earlier ones, hardlinks), each against a reference tool on the same machine in
# the same run:
#   squash   vs  `tar -C MERGED -cf - . | gzip -6`, MERGED being the image's filesystem unpacked once
#                (untimed) by umoci: what writing the squashed layer costs at the least     target <= 1.2x
#   analyze  vs  `gzip -dc` of every layer blob: what reading the layers costs at the least  target <= 1.5x
# and the peak RSS of both, on that image, on one of RSS_SIZE_MB (default 2000; 0 skips it) and on an
# image of FILES_SIZE_MB (default 2000; 0 skips it) of small files only (make-image.sh's `files` shape:
# about 200,000 names for 2 GB), target < 300 MB. Reference and fromscratch runs alternate, REPEAT times each (default 1), and the best time of
# each counts: the machine may be shared, and a neighbour's burst should not decide a ratio. CPU seconds
# (user + system) are printed too.
# Usage: bench/layers.sh [SIZE_MB] [RSS_SIZE_MB] [FILES_SIZE_MB]   (default 1000 2000 2000)
#   REPEAT=N             runs of each command
#   BENCH_IMAGES=DIR     keep the generated images in DIR and reuse them next time (they take 1-3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1000}
rss_size=${2:-2000}
files_size=${3:-2000}
repeat=${REPEAT:-1}
for tool in /usr/bin/time umoci pigz; do
  command -v "$tool" >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${tool##*/}" >/dev/null; } ||
    { echo "bench: needs $tool (apt-get install ${tool##*/})" >&2; exit 1; }
done
[ -f dist/src/cli.js ] || npm run --silent build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=${BENCH_IMAGES:-$work/images}
mkdir -p "$images"
image() { # SIZE_MB [SHAPE]: the layout's path, made unless it is there already
  local shape=${2:-layers}
  local dir="$images/$shape-$1"
  [ -f "$dir/index.json" ] || { rm -rf "$dir"; bench/make-image.sh "$dir" "$1" bench "$shape" >&2; }
  echo "$dir"
}
measure() { # label, command...: runs it, keeps the best time of the label; prints nothing
  local label=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >"$work/$label.out" 2>"$work/$label.err" || { cat "$work/$label.err" >&2; exit 1; }
  read -r s user sys kb <"$work/time"
  echo "$s $(awk "BEGIN { print $user + $sys }") $kb" >>"$work/$label.runs"
}
blobs() { # the layer blobs of a layout's only image, in order
  node -e "
    const fs = require('node:fs'), blob = (d) => '$1/blobs/sha256/' + d.slice(7);
    const index = JSON.parse(fs.readFileSync('$1/index.json'));
    for (const l of JSON.parse(fs.readFileSync(blob(index.manifests[0].digest))).layers) console.log(blob(l.digest));"
}

main=$(image "$size")
blobs "$main" >"$work/blobs"
umoci raw unpack --image "$main:bench" "$work/merged" 2>/dev/null
# Read everything once so every run starts from the same warm page cache.
xargs cat <"$work/blobs" >/dev/null
tar -C "$work/merged" -cf - . >/dev/null
for _ in $(seq "$repeat"); do
  measure ref-squash sh -c "tar -C '$work/merged' -cf - . | gzip -6 > '$work/ref.tar.gz'"
  rm -rf "$work/squashed"
  measure squash bin/fromscratch squash "oci:$main:bench" "oci:$work/squashed:bench"
  measure ref-analyze sh -c "xargs -n1 gzip -dc <'$work/blobs' >/dev/null"
  measure analyze bin/fromscratch analyze --json "oci:$main:bench"
done
merged_bytes=$(du -sb "$work/merged" | cut -f1)
merged_files=$(find "$work/merged" | wc -l)
blob_bytes=$(xargs stat -c %s <"$work/blobs" | awk '{ n += $1 } END { print n }')
squashed_bytes=$(du -sb "$work/squashed/blobs" | cut -f1)
ref_bytes=$(stat -c %s "$work/ref.tar.gz")
rm -rf "$work/merged" "$work/squashed" "$work/ref.tar.gz"

if [ "$rss_size" != 0 ]; then
  big=$(image "$rss_size")
  measure big-squash bin/fromscratch squash "oci:$big:bench" "oci:$work/big-squashed:bench"
  rm -rf "$work/big-squashed"
  measure big-analyze bin/fromscratch analyze --json "oci:$big:bench"
  big_bytes=$(blobs "$big" | xargs stat -c %s | awk '{ n += $1 } END { print n }')
fi
if [ "$files_size" != 0 ]; then
  many=$(image "$files_size" files)
  measure many-squash bin/fromscratch squash "oci:$many:bench" "oci:$work/many-squashed:bench"
  rm -rf "$work/many-squashed"
  measure many-analyze bin/fromscratch analyze --json "oci:$many:bench"
  measure many-slim bin/fromscratch slim "oci:$many:bench" "oci:$work/many-slim:bench"
  rm -rf "$work/many-slim"
  many_bytes=$(blobs "$many" | xargs stat -c %s | awk '{ n += $1 } END { print n }')
  many_names=$(node -e "const r = JSON.parse(require('fs').readFileSync('$work/many-analyze.out')); console.log(r.layers[0].added)" 2>/dev/null || echo '?')
fi

best() { [ -f "$work/$1.runs" ] && sort -n "$work/$1.runs" | head -1 || echo "0 0 0"; }
peak() { [ -f "$work/$1.runs" ] && sort -k3 -n "$work/$1.runs" | tail -1 | cut -d' ' -f3 || echo 0; }
node - "$size" "$rss_size" "$merged_bytes" "$merged_files" "$blob_bytes" "$squashed_bytes" "$ref_bytes" "${big_bytes:-0}" \
  "$files_size" "${many_bytes:-0}" "${many_names:-0}" \
  $(best ref-squash) $(best squash) $(best ref-analyze) $(best analyze) $(best big-squash) $(best big-analyze) \
  $(best many-squash) $(best many-analyze) $(best many-slim) \
  "$(peak squash)" "$(peak analyze)" "$(peak big-squash)" "$(peak big-analyze)" "$(peak many-squash)" "$(peak many-analyze)" "$(peak many-slim)" <<'JS'
const [size, rssSize, merged, files, blobs, squashed, refOut, bigBlobs, filesSize, manyBlobs, manyNames, ...t] = process.argv.slice(2).map(Number);
const [refSq, refSqCpu, , sq, sqCpu, , refAn, refAnCpu, , an, anCpu, , bigSq, bigSqCpu, , bigAn, bigAnCpu, , ...rest] = t;
const [manySq, manySqCpu, , manyAn, manyAnCpu, , manySl, manySlCpu, , ...kbs] = rest;
const [sqKb, anKb, bigSqKb, bigAnKb, manySqKb, manyAnKb, manySlKb] = kbs;
const mb = (n) => `${(n / 1e6).toFixed(0)} MB`;
const time = (label, s, cpu, extra = '') => console.log(`${label.padEnd(40)}${s.toFixed(2).padStart(7)} s  (cpu ${cpu.toFixed(1)} s)${extra}`);
const ratio = (label, ours, ref, target) => console.log(`${label.padEnd(40)}${(ours / ref).toFixed(2).padStart(7)}x (target <= ${target}x) ${ours / ref <= target ? 'ok' : 'MISSED'}`);
const rss = (label, kb) => console.log(`${label.padEnd(40)}${(kb / 1024).toFixed(0).padStart(7)} MB (target < 300 MB) ${kb / 1024 < 300 ? 'ok' : 'MISSED'}`);
console.log(`image: ${size} MB asked, 4 layers of ${mb(blobs)} (gzip); merged filesystem ${mb(merged)} in ${files} entries`);
time('tar -c MERGED | gzip -6:', refSq, refSqCpu, `  output ${mb(refOut)}`);
time('fromscratch squash:', sq, sqCpu, `  output ${mb(squashed)}`);
ratio('squash ratio:', sq, refSq, 1.2);
time('gzip -dc of each layer:', refAn, refAnCpu);
time('fromscratch analyze --json:', an, anCpu);
ratio('analyze ratio:', an, refAn, 1.5);
rss('squash peak RSS:', sqKb);
rss('analyze peak RSS:', anKb);
if (rssSize) {
  console.log(`image: ${rssSize} MB asked, 4 layers of ${mb(bigBlobs)} (gzip)`);
  time('fromscratch squash:', bigSq, bigSqCpu);
  time('fromscratch analyze --json:', bigAn, bigAnCpu);
  rss('squash peak RSS:', bigSqKb);
  rss('analyze peak RSS:', bigAnKb);
}
if (filesSize) {
  console.log(`image: ${filesSize} MB asked of small files (${Number.isNaN(manyNames) ? '?' : manyNames} entries in its first layer), 4 layers of ${mb(manyBlobs)} (gzip)`);
  time('fromscratch squash:', manySq, manySqCpu);
  time('fromscratch analyze --json:', manyAn, manyAnCpu);
  time('fromscratch slim:', manySl, manySlCpu);
  rss('squash peak RSS:', manySqKb);
  rss('analyze peak RSS:', manyAnKb);
  rss('slim peak RSS:', manySlKb);
}
JS
