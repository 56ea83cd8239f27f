#!/usr/bin/env bash
# Makes a minimal busybox root filesystem in DIR from Debian's busybox-static: /bin/busybox, a symlink
# for every applet it has, and the few folders and files a shell expects. Installs busybox-static with
# apt when it is missing and this runs as root.
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
busybox=/bin/busybox
is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
if ! is_static "$busybox"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "busybox-rootfs: installing busybox-static with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null; }
  fi
  if ! is_static "$busybox"; then
    echo "busybox-rootfs: needs Debian's busybox-static (run: sudo apt-get install busybox-static)" >&2
    exit 1
  fi
fi
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp}
chmod 0755 "$dir" "$dir"/{bin,sbin,usr,usr/bin,usr/sbin,etc,proc,sys,dev,var}
chmod 0700 "$dir/root"
chmod 1777 "$dir/tmp" "$dir/var/tmp"
install -m 0755 "$busybox" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  ln -sf /bin/busybox "$dir/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
