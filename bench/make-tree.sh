#!/usr/bin/env bash
# Builds a benchmark tree of about SIZE_MB megabytes (default 500) in DIR from this machine's /usr: real
# binaries, libraries, text and compressed docs, in the mix a base image has.
set -euo pipefail
dir=${1:?usage: make-tree.sh DIR [SIZE_MB]}
limit=$(( ${2:-500} * 1000 * 1000 ))
mkdir -p "$dir"
# A third each from documentation and data (many small files), libraries, and executables.
: >"$dir.list"
for root in /usr/share "/usr/lib/$(uname -m)-linux-gnu" /usr/bin; do
  [ -d "$root" ] || continue
  # find is cut off (SIGPIPE) once awk has enough: that is expected, hence the || true.
  { find "$root" \( -type f -o -type l \) -printf '%s %p\n' 2>/dev/null || true; } |
    awk -v limit="$((limit / 3))" '{ total += $1; if (total > limit) exit; sub(/^[0-9]+ \//, ""); print }' \
    >>"$dir.list" || true
done
tar -C / --no-recursion -cf - -T "$dir.list" 2>/dev/null | tar -C "$dir" -xf -
rm -f "$dir.list"
du -sh "$dir"
