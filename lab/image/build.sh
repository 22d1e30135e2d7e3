#!/usr/bin/env bash
# Build the lab's Debian 12 base image locally: debootstrap, a few container settings, then
# `podman import` (no image registry is reachable). Usage: build.sh TAG [MIRROR]
set -euo pipefail
tag=${1:?usage: build.sh TAG [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/fnl-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

packages=$(grep -v '^#' "$here/packages.txt" | grep -v '^$' | paste -sd, -)
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES
# Debian's security mirror has its own path; fall back to the canonical one for other mirrors.
if [ "$mirror" != "http://deb.debian.org/debian" ]; then
  sed -i "s#^deb .*debian-security#deb http://deb.debian.org/debian-security#" "$rootfs/etc/apt/sources.list"
fi

# French and English locales, for services and for the people reading their logs.
sed -i -e 's/^# *fr_FR.UTF-8/fr_FR.UTF-8/' -e 's/^# *en_US.UTF-8/en_US.UTF-8/' "$rootfs/etc/locale.gen"
chroot "$rootfs" locale-gen >/dev/null
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"

# Units that make no sense in a container, or wait for hardware that is not there.
for unit in getty@tty1.service console-getty.service systemd-networkd-wait-online.service \
            systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
            sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
            systemd-remount-fs.service systemd-firstboot.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# sshd host keys are made per container at first boot, never baked into the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/10-host-keys.conf" <<'UNIT'
[Service]
# Debian's unit checks the config (sshd -t) first, which fails without host keys.
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
: >"$rootfs/etc/machine-id"
apt_cache="$rootfs/var/cache/apt/archives"
rm -f "$apt_cache"/*.deb
# No package index in the image: it would only be stale. The apt cache files go too, or
# apt would believe an index is fresh when there is none.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

tar -C "$rootfs" --numeric-owner -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  - "$tag" >/dev/null
echo "$tag"
