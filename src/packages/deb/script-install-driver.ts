import { DRIVER_ACCOUNTS, DRIVER_FRAME, DRIVER_RUNNING_SYSTEM, DRIVER_STREAM_OUT } from '../../sandbox/root-driver.js';

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
${DRIVER_FRAME}
mkdir "$root"
tar --numeric-owner -xpf - -C "$root"
job="$root/tmp/fromscratch"

${DRIVER_RUNNING_SYSTEM}
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

${DRIVER_ACCOUNTS}
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

${DRIVER_STREAM_OUT}`;
