import { DRIVER_ACCOUNTS, DRIVER_FRAME, DRIVER_RUNNING_SYSTEM, DRIVER_STREAM_OUT } from '../../sandbox/root-driver.js';

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
${DRIVER_FRAME}
mkdir "$root"
# busybox --install finds itself through /proc/self/exe.
${DRIVER_RUNNING_SYSTEM}
step "rpm -i: one transaction, the scriptlets run chrooted into the root"
# rpm's own macro files only: the host's /etc/rpm and the caller's ~/.rpmmacros must not change the image.
macros=$(rpm --showrc | sed -n 's/^Macro path: //p' | tr ':' '\n' | grep -v -e '^/etc/' -e '^~' | paste -sd: -)
rpm_status=0
rpm --macros "$macros" --root "$root" --dbpath "$dbpath" "$@" </dev/null || rpm_status=$?
if [ "$rpm_status" != 0 ]; then echo "fromscratch-rpm-status: $rpm_status"; exit 1; fi

${DRIVER_ACCOUNTS}
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

${DRIVER_STREAM_OUT}`;
