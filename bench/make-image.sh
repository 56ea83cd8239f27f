#!/usr/bin/env bash
# Builds a four-layer OCI image of about SIZE_MB megabytes of file content (default 1000) in the layout DIR,
# tagged TAG (default bench), from generated content: the same bytes on every machine and every run.
# The layers are what a base image plus a few build steps look like:
#   0 base:    many small files (pseudo-text and random "binaries", 200 B-64 KB), medium ones (1-8 MB),
#              hardlinks and symlinks
#   1 tools:   large files (random and text), and a cache folder of medium files
#   2 cleanup: overwrites a fifth of the base's small files, deletes a tenth of them and the cache
#              (whiteouts), empties one folder (opaque marker) and deletes one large file of layer 1
#   3 app:     more small files, a large random file, and a new version of a large file of layer 1
# With SHAPE `files`, the image is what a large node_modules or /usr makes instead: small files only
# (200 B-40 KB, about 10 KB on average: some 200,000 for 2 GB) in a deep tree whose file names repeat from
# folder to folder; layer 1 overwrites a tenth of them and deletes a twentieth, layers 2 and 3 are small.
# Text compresses about 3:1 with gzip -6, random data not at all; together the layers are about half
# their content size. Layer tars come from GNU tar (sorted, fixed mtime and owner) and pigz -6 -n.
# Usage: bench/make-image.sh DIR [SIZE_MB] [TAG] [SHAPE]   (SHAPE: layers (default) or files; prints the layout's size)
set -euo pipefail
dir=${1:?usage: make-image.sh DIR [SIZE_MB] [TAG]}
size_mb=${2:-1000}
tag=${3:-bench}
shape=${4:-layers}
case $shape in layers|files) ;; *) echo "make-image: SHAPE is layers or files, not $shape" >&2; exit 1 ;; esac
for tool in pigz sha256sum; do
  command -v "$tool" >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pigz >/dev/null; } ||
    { echo "make-image: needs $tool" >&2; exit 1; }
done
[ ! -e "$dir" ] || { echo "make-image: $dir exists" >&2; exit 1; }
epoch=1700000000
src=$(mktemp -d "${TMPDIR:-/tmp}/make-image.XXXXXX")
trap 'rm -rf "$src"' EXIT

# Content: a seeded PRNG picks names, sizes and kinds; text is cut from a pool of pseudo-words (Zipf-like
# word frequencies, so gzip finds what it finds in real text), random data is an AES-CTR key stream.
node - "$src" "$size_mb" "$shape" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const [root, sizeMb, shape] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const S = sizeMb * 1e6;
let seed = 0x9e3779b9;
const rand = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const logUniform = (lo, hi) => Math.round(Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo))));

const words = Array.from({ length: 4096 }, () => Array.from({ length: int(2, 10) }, () => String.fromCharCode(97 + int(0, 25))).join(''));
const poolParts = [];
for (let n = 0; n < 16e6; ) {
  const w = words[Math.floor(words.length * rand() ** 3)];
  const sep = rand() < 0.08 ? '\n' : rand() < 0.1 ? ', ' : ' ';
  poolParts.push(w, sep);
  n += w.length + sep.length;
}
const pool = Buffer.from(poolParts.join(''));
let streamNo = 0;
const made = new Set();
const mkdir = (dir) => made.has(dir) || (fs.mkdirSync(dir, { recursive: true }), made.add(dir));
function write(rel, size, kind) {
  const file = path.join(root, rel);
  mkdir(path.dirname(file));
  const fd = fs.openSync(file, 'w');
  const cipher = kind === 'random' ? crypto.createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.from(String(streamNo++).padStart(16, '0'))) : undefined;
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 1 << 20);
    let chunk;
    if (cipher) chunk = cipher.update(Buffer.alloc(n));
    else {
      const at = int(0, pool.length - n);
      chunk = pool.subarray(at, at + n);
    }
    fs.writeSync(fd, chunk);
    left -= n;
  }
  fs.closeSync(fd);
}
const kind = (textShare) => (rand() < textShare ? 'text' : 'random');
const wh = (layer, rel) => {
  const file = path.join(root, layer, path.dirname(rel), `.wh.${path.basename(rel)}`);
  mkdir(path.dirname(file));
  fs.writeFileSync(file, '');
};

if (shape === 'files') {
  const files = [];
  for (let n = 0, i = 0; n < 0.97 * S; i++) {
    const rel = `usr/lib/node_modules/p${i % 997}/lib/m${(i >> 3) % 17}/file-${i % 211}-${Math.floor(i / 997)}.js`;
    const size = logUniform(1000, 40000);
    write(`0/${rel}`, size, i % 5 ? 'text' : 'random');
    files.push(rel);
    n += size;
  }
  files.forEach((rel, i) => {
    if (i % 10 === 3) write(`1/${rel}`, logUniform(1000, 40000), 'text');
    else if (i % 20 === 5) wh('1', rel);
  });
  for (let i = 0; i < 50; i++) write(`2/etc/app/conf${i}`, logUniform(200, 4000), 'text');
  for (let i = 0; i < 50; i++) write(`3/app/m${i}.js`, logUniform(200, 40000), 'text');
  process.exit(0);
}

// Layer 0: small files in a two-level tree, medium files, hardlinks and symlinks.
const small = [];
for (let n = 0, i = 0; n < 0.3 * S; i++) {
  const rel = `usr/share/d${String(i % 97).padStart(2, '0')}/s${i % 13}/f${i}.${i % 4 ? 'txt' : 'bin'}`;
  const size = logUniform(200, 64000);
  write(`0/${rel}`, size, i % 4 ? 'text' : 'random');
  small.push(rel);
  n += size;
}
for (let n = 0, i = 0; n < 0.15 * S; i++) {
  const size = int(1e6, 8e6);
  write(`0/usr/lib/lib${i}.so`, size, kind(0.4));
  n += size;
}
small.forEach((rel, i) => {
  if (i % 50 === 7) { mkdir(path.join(root, '0/usr/links')); fs.linkSync(path.join(root, '0', rel), path.join(root, `0/usr/links/h${i}`)); }
  if (i % 200 === 3) { mkdir(path.join(root, '0/usr/sym')); fs.symlinkSync(`../${rel.slice(4)}`, path.join(root, `0/usr/sym/l${i}`)); }
});

// Layer 1: large files (one hardlinked), a cache folder the next layer deletes.
write('1/opt/tools/big-random-0', Math.round(0.06 * S), 'random');
write('1/opt/tools/big-random-1', Math.round(0.06 * S), 'random');
write('1/opt/tools/big-text', Math.round(0.05 * S), 'text');
fs.linkSync(path.join(root, '1/opt/tools/big-random-0'), path.join(root, '1/opt/tools/big-random-0.link'));
for (let n = 0, i = 0; n < 0.08 * S; i++) {
  const size = int(1e5, 4e6);
  write(`1/var/cache/pkg/c${i}`, size, kind(0.7));
  n += size;
}

// Layer 2: overwrite, delete (whiteouts), empty a folder (opaque marker).
small.forEach((rel, i) => {
  if (rel.startsWith('usr/share/d05/')) return; // emptied below
  if (i % 5 === 1) write(`2/${rel}`, logUniform(200, 64000), i % 4 ? 'text' : 'random');
  else if (i % 10 === 2) wh('2', rel);
});
wh('2', 'var/cache/pkg');
wh('2', 'opt/tools/big-random-1');
mkdir(path.join(root, '2/usr/share/d05'));
fs.writeFileSync(path.join(root, '2/usr/share/d05/.wh..wh..opq'), '');
write('2/usr/share/d05/replacement.txt', 100000, 'text');

// Layer 3: the application.
for (let n = 0, i = 0; n < 0.05 * S; i++) {
  const size = logUniform(200, 64000);
  write(`3/app/lib/m${i % 31}/f${i}.${i % 3 ? 'js' : 'node'}`, size, i % 3 ? 'text' : 'random');
  n += size;
}
write('3/app/data.bin', Math.round(0.08 * S), 'random');
write('3/app/corpus.txt', Math.round(0.07 * S), 'text');
write('3/opt/tools/big-text', Math.round(0.05 * S), 'text');
JS

mkdir -p "$dir/blobs/sha256"
diff_ids=() layers=()
for i in 0 1 2 3; do
  (cd "$src/$i" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) >"$src/list"
  tar -C "$src/$i" --no-recursion --format=gnu --mtime=@$epoch --owner=0 --group=0 --numeric-owner -cf "$src/layer.tar" -T "$src/list"
  diff_ids+=("sha256:$(sha256sum "$src/layer.tar" | cut -d' ' -f1)")
  pigz -6 -n -c "$src/layer.tar" >"$dir/blobs/layer"
  rm "$src/layer.tar" && rm -rf "${src:?}/$i"
  digest=$(sha256sum "$dir/blobs/layer" | cut -d' ' -f1)
  layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$digest\",\"size\":$(stat -c %s "$dir/blobs/layer")}")
  mv "$dir/blobs/layer" "$dir/blobs/sha256/$digest"
done
blob() { # JSON text: writes the blob, prints its descriptor's digest and size
  local digest
  digest=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
  printf '%s' "$1" >"$dir/blobs/sha256/$digest"
  echo "\"digest\":\"sha256:$digest\",\"size\":${#1}"
}
created=$(date -u -d @$epoch +%Y-%m-%dT%H:%M:%SZ)
history=$(for step in 'base' 'install tools' 'clean up' 'add app'; do printf '{"created":"%s","created_by":"/bin/sh -c #(nop) %s"},' "$created" "$step"; done)
ids=$(printf '"%s",' "${diff_ids[@]}")
config=$(blob "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"$created\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${ids%,}]},\"history\":[${history%,}]}")
manifest=$(blob "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",$config},\"layers\":[$(IFS=,; echo "${layers[*]}")]}")
printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$manifest" "$tag" >"$dir/index.json"
du -sh "$dir"
