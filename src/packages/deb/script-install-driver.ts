/**
 * The shell script that runs as pid 1 of the sandbox (root of its user namespace, host tools, outside
 * the chroot). stdin: a tar of the starting root; fd 4 (the original stdout): a tar of the finished
 * root; everything else goes to stderr, with a `fromscratch-step:` line per stage for the log.
 *
 * $1 is the root to make. The folders the caller passes in `tmp/fromscratch/` of that tar: the .debs,
 * `essential` (their paths, one line) and `batches` (one `dpkg --install` per line), and the spec's
 * `passwd`, `group` and `homes` additions.
 */
export const DRIVER = String.raw`set -eu
root=$1
exec 4>&1 1>&2
mounted=
cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  for m in $mounted; do umount "$root/$m" 2>/dev/null || umount -l "$root/$m" 2>/dev/null || true; done
  # Files owned by subordinate ids can only be removed from inside: the caller could not.
  rm -rf "$root"
  rmdir "$(dirname "$root")" 2>/dev/null || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
step() { echo "fromscratch-step: $*"; }

mkdir "$root"
tar --numeric-owner -xpf - -C "$root"
job="$root/tmp/fromscratch"

# What scripts expect of a running system: device nodes (bound from the host: no mknod in a user
# namespace), /dev/fd and friends, and a /proc of the sandbox's own pid namespace.
mkdir -p "$root/dev" "$root/proc"
for node in null zero full random urandom tty; do
  [ -e "/dev/$node" ] || continue
  : > "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
  mounted="dev/$node $mounted"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mounted="proc $mounted"

dpkg_install() { chroot "$root" dpkg --force-unsafe-io --install "$@" </dev/null; }
step "essential: dpkg --install --force-depends of $(wc -w < "$job/essential") packages"
dpkg_install --force-depends $(cat "$job/essential")
batch=0
while IFS= read -r debs; do
  batch=$((batch + 1))
  step "batch $batch: dpkg --install of $(echo $debs | wc -w) packages"
  dpkg_install $debs
done < "$job/batches"
# Anything dpkg left half-done would be a broken image.
audit=$(chroot "$root" dpkg --audit </dev/null || true)
if [ -n "$audit" ]; then echo "$audit"; echo "dpkg --audit is not clean"; exit 1; fi

if [ -s "$job/passwd" ] || [ -s "$job/group" ]; then
  step "accounts: adding the spec's users and groups"
  cat "$job/group" >> "$root/etc/group"
  cat "$job/passwd" >> "$root/etc/passwd"
  if [ -x "$root/usr/sbin/pwconv" ]; then chroot "$root" pwconv; chroot "$root" grpconv; fi
  while read -r home uid gid; do
    mkdir -p "$root/$home"
    chown "$uid:$gid" "$root/$home"
  done < "$job/homes"
fi

step "clean up: policy-rc.d, the .debs, logs, caches, backups"
for m in $mounted; do umount "$root/$m"; done
mounted=
rm -rf "$job" "$root/usr/sbin/policy-rc.d"
rm -rf "$root/dev" "$root/proc" "$root/tmp" "$root/var/tmp"
mkdir -m 0755 "$root/dev" "$root/proc"
mkdir -m 1777 "$root/tmp" "$root/var/tmp"
rm -f "$root"/var/log/dpkg.log "$root"/var/log/alternatives.log "$root"/var/log/bootstrap.log "$root"/var/log/apt/*.log*
rm -f "$root"/var/lib/dpkg/*-old "$root"/var/cache/debconf/*-old "$root"/etc/*- "$root/etc/.pwd.lock"
rm -f "$root/var/cache/ldconfig/aux-cache" "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
if [ -d "$root/var/lib/apt/lists" ]; then find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial ! -name lock -exec rm -rf {} +; fi
if [ -e "$root/etc/machine-id" ]; then : > "$root/etc/machine-id"; fi

step "stream the root out"
tar --numeric-owner --xattrs --xattrs-include=security.capability -cf - -C "$root" . >&4
`;
