#!/usr/bin/env bash
# Builds what the QEMU reference device needs, from Debian's packages only:
#
#   OUT/vmlinuz             the device's kernel (Debian's cloud kernel)
#   OUT/firmware.cpio.gz    its boot firmware: an initramfs that loads the
#                           virtio drivers, mounts the flashed disk /dev/vda
#                           and starts its /sbin/init; says on the serial
#                           console why not when it cannot, and powers off
#   OUT/image.ext4          a good image: busybox, an SSH server (dropbear,
#                           with scp and sftp) and the test package ots-qemu-tests
#                           (/usr/share/ots-qemu-tests/tests.xml) and
#                           ots-qemu-reboot, which reboots it mid-set
#   OUT/broken.ext4         an image that never boots (no /sbin/init)
#   OUT/id_ed25519          the key the worker logs in with (root)
#
#   ./scripts/build-qemu-device.sh [OUT]      (OUT defaults to .build-qemu)
#
# Built once: a later run with the same recipe does nothing. Needs apt-get
# (to download the packages), dpkg-deb, mke2fs and ssh-keygen; nothing is
# installed on this host, and nothing runs as a guest here.
set -euo pipefail
cd "$(dirname "$0")/.."

recipe=7
out="${1:-.build-qemu}"
if [ -f "$out/built" ] && [ "$(cat "$out/built")" = "$recipe" ]; then
    exit 0
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { printf '==> %s\n' "$*" >&2; }

if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    log "updating apt's package lists"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
fi
kernel_package="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
if [ -z "$kernel_package" ]; then
    echo "build-qemu-device: apt knows no linux-image-cloud-amd64 (run apt-get update)" >&2
    exit 1
fi
log "downloading $kernel_package, busybox-static, dropbear-bin and what they need"
(cd "$work" && apt-get download -q "$kernel_package" busybox-static dropbear-bin libtomcrypt1 libtommath1 libgmp10 \
    openssh-sftp-server openssh-client zlib1g libcrypt1 libc6 >/dev/null 2>"$work/apt.log") || {
    cat "$work/apt.log" >&2
    exit 1
}
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/pkg"; done
busybox="$work/pkg/bin/busybox"
release="$(ls "$work/pkg/lib/modules")"
cp "$work/pkg/boot/vmlinuz-$release" "$out/vmlinuz"

# The firmware: the virtio drivers in the order they depend on each other.
log "building the firmware (initramfs)"
fw="$work/firmware"
mkdir -p "$fw/bin" "$fw/lib/modules" "$fw/proc" "$fw/sys" "$fw/dev" "$fw/newroot" "$fw/tmp"
cp "$busybox" "$fw/bin/busybox"
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net"
for module in $modules; do
    file="$(find "$work/pkg/lib/modules/$release" -name "$module.ko" | head -1)"
    [ -n "$file" ] || { echo "build-qemu-device: $release has no module $module" >&2; exit 1; }
    cp "$file" "$fw/lib/modules/$module.ko"
done
cat >"$fw/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $modules; do insmod /lib/modules/\$module.ko; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
echo "ots-firmware: booting the image on /dev/vda"
if ! mount -t ext4 /dev/vda /newroot 2>/tmp/error; then
    echo "ots-firmware: cannot mount /dev/vda: \$(cat /tmp/error)"
    poweroff -f
fi
if [ ! -x /newroot/sbin/init ]; then
    echo "ots-firmware: the image on /dev/vda has no /sbin/init: nothing to boot"
    poweroff -f
fi
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
EOF
chmod 755 "$fw/init"
(cd "$fw" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -9) >"$out/firmware.cpio.gz"

# The good image.
log "building the image"
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/openssh,usr/libexec,etc/dropbear,proc,sys,dev,tmp,run,root/.ssh,var/log}
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/usr/share/ots-qemu-tests"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf /bin/busybox "$root/bin/$applet"
done
ln -sf /bin/busybox "$root/sbin/init"
cp "$work/pkg/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
# scp's original protocol (scp -O, what the worker uses) runs scp on the device.
cp "$work/pkg/usr/bin/scp" "$root/usr/bin/scp"
for path in /usr/lib/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; do
    cp "$work/pkg/usr/lib/openssh/sftp-server" "$root$path"
done
# The libraries of dropbear and sftp-server, from the packages.
cp -a "$work"/pkg/lib/x86_64-linux-gnu/*.so* "$root/lib/x86_64-linux-gnu/" 2>/dev/null || true
cp -a "$work"/pkg/usr/lib/x86_64-linux-gnu/*.so* "$root/lib/x86_64-linux-gnu/" 2>/dev/null || true
cp -a "$work/pkg/lib64/ld-linux-x86-64.so.2" "$root/lib64/" 2>/dev/null ||
    ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '/bin/sh\n' >"$root/etc/shells"
printf 'NAME="OTS QEMU reference image"\nID=ots-qemu\nVERSION_ID=%s\n' "$recipe" >"$root/etc/os-release"
cat >"$root/etc/inittab" <<'EOF'
::sysinit:/etc/rc
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
EOF
cat >"$root/etc/rc" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -o remount,rw /
hostname ots-qemu
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
echo "ots-image: starting the SSH server"
/usr/sbin/dropbear -R -s -p 22
echo "ots-image: ready"
EOF
chmod 755 "$root/etc/rc"
rm -f "$out/id_ed25519" "$out/id_ed25519.pub"
ssh-keygen -q -t ed25519 -N '' -C ots-qemu-device -f "$out/id_ed25519"
cp "$out/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 700 "$root/root/.ssh"
chmod 600 "$root/root/.ssh/authorized_keys"
cp -r scripts/qemu-device/tests/. "$root/usr/share/ots-qemu-tests/"
mkdir -p "$root/usr/share/ots-qemu-reboot"
cp -r scripts/qemu-device/reboot/. "$root/usr/share/ots-qemu-reboot/"
mke2fs -q -F -t ext4 -L ots-image -d "$root" "$out/image.ext4" 64M

log "building the broken image"
broken="$work/broken"
mkdir -p "$broken/etc"
printf 'this image boots nothing\n' >"$broken/etc/motd"
mke2fs -q -F -t ext4 -L ots-broken -d "$broken" "$out/broken.ext4" 8M

echo "$recipe" >"$out/built"
log "built in $out: vmlinuz, firmware.cpio.gz, image.ext4, broken.ext4, id_ed25519"
