/**
 * The shell script that runs as pid 1 of the sandbox for `--scripts` RPM builds (root of its user
 * namespace, host tools, outside the root it makes). fd 4 (the original stdout): a tar of the finished
 * root; everything else goes to stderr, with a `fromscratch-step:` line per stage for the log.
 *
 * Arguments: ROOT (the folder to make), JOB (a folder of the caller's: `passwd`, `group` and `homes`, the
 * spec's accounts), DBPATH (the image's %_dbpath, absolute), then rpm's own arguments and the .rpm files.
 * rpm runs once, as one transaction: it orders the packages and runs %pretrans, %pre, %post, %posttrans
 * and the file triggers chrooted into ROOT.
 */
export const RPM_DRIVER = String.raw`set -eu
root=$1 job=$2 dbpath=$3
shift 3
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
# What scriptlets expect of a running system: device nodes (bound from the host: no mknod in a user
# namespace), /dev/fd and friends, and a /proc of the sandbox's own pid namespace (busybox --install
# finds itself through /proc/self/exe).
mkdir -p "$root/dev" "$root/proc"
made=
for node in null zero full random urandom tty; do
  [ -e "/dev/$node" ] || continue
  : > "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
  mounted="dev/$node $mounted"
  made="$made dev/$node"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
made="$made dev/fd dev/stdin dev/stdout dev/stderr"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mounted="proc $mounted"

step "rpm -i: one transaction, the scriptlets run chrooted into the root"
# rpm's own macro files only: the host's /etc/rpm and the caller's ~/.rpmmacros must not change the image.
macros=$(rpm --showrc | sed -n 's/^Macro path: //p' | tr ':' '\n' | grep -v -e '^/etc/' -e '^~' | paste -sd: -)
rpm_status=0
rpm --macros "$macros" --root "$root" --dbpath "$dbpath" "$@" </dev/null || rpm_status=$?
if [ "$rpm_status" != 0 ]; then echo "fromscratch-rpm-status: $rpm_status"; exit 1; fi

if [ -s "$job/passwd" ] || [ -s "$job/group" ]; then
  step "accounts: adding the spec's users and groups"
  mkdir -p "$root/etc"
  cat "$job/group" >> "$root/etc/group"
  cat "$job/passwd" >> "$root/etc/passwd"
  if [ -x "$root/usr/sbin/pwconv" ]; then chroot "$root" /usr/sbin/pwconv; chroot "$root" /usr/sbin/grpconv; fi
  while read -r home uid gid; do
    mkdir -p "$root/$home"
    chown "$uid:$gid" "$root/$home"
  done < "$job/homes"
fi

step "clean up: the sandbox's mount points, rpm's lock and temporary files"
for m in $mounted; do umount "$root/$m"; done
mounted=
for m in $made; do rm -f "$root/$m"; done
# /dev and /proc stay where a package owns them (rpm gave them its modes), as rpm -qf says.
for d in dev proc; do
  rpm --macros "$macros" --root "$root" --dbpath "$dbpath" -qf "/$d" >/dev/null 2>&1 || rmdir "$root/$d" 2>/dev/null || true
done
rm -f "$root$dbpath/.rpm.lock" "$root$dbpath/rpmdb.sqlite-shm" "$root"/var/tmp/rpm-tmp.*
rm -f "$root"/etc/*- "$root/etc/.pwd.lock" "$root/var/cache/ldconfig/aux-cache"
if [ -e "$root/etc/machine-id" ]; then : > "$root/etc/machine-id"; fi

step "stream the root out"
tar --numeric-owner --xattrs --xattrs-include=security.capability -cf - -C "$root" . >&4
`;
