#!/usr/bin/env bash
# Build the lab's Debian 12 base image locally: debootstrap, a few container settings, then
# `podman import` (no image registry is reachable). Usage: build.sh TAG [MIRROR]
# MIRROR defaults to the host's own Debian mirror (its apt sources), else deb.debian.org.
# Progress goes to stdout, one line per phase; errors to stderr.
set -euo pipefail
tag=${1:?usage: build.sh TAG [MIRROR]}
here=$(cd "$(dirname "$0")" && pwd)

# The first URI of an apt source on this host whose suites match $1 (deb822 or one-line).
host_uri() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" 'BEGIN { RS = "" } {
      n = split($0, line, "\n"); uri = ""; hit = 0
      for (i = 1; i <= n; i++) {
        split(line[i], w, " ")
        if (w[1] == "URIs:") uri = w[2]
        if (w[1] == "Suites:") for (j = 2; j in w; j++) if (w[j] == suite) hit = 1
      }
      if (hit && uri ~ /^https?:/) print uri
    }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v suite="$suite" '$1 == "deb" {
        for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { if ($(i + 1) == suite) print $i; break }
      }'
  return 0  # no match (or no sources.list) is not an error: the caller falls back
}
mirror=${2:-$(host_uri bookworm | sed -n 1p)}
mirror=${mirror:-http://deb.debian.org/debian}
security=$(host_uri bookworm-security | sed -n 1p)
security=${security:-http://deb.debian.org/debian-security}

work=$(mktemp -d /var/tmp/fnl-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
# Downloaded .debs are kept across builds: a rebuild does not fetch them again (slow mirrors).
cache=/var/cache/fnl-deploy/debootstrap
mkdir -p "$cache" "$rootfs/etc/dpkg/dpkg.cfg.d"
# dpkg fsyncs every file by default; a throw-away tree does not need it. Removed again
# below, so servers run dpkg with its safe defaults.
echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/fnl-build-unsafe-io"

packages=$(grep -v '^#' "$here/packages.txt" | grep -v '^$' | paste -sd, -)
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --cache-dir="$cache" --include="$packages" \
  bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -f "$rootfs/etc/dpkg/dpkg.cfg.d/fnl-build-unsafe-io"

echo "container settings"
# The host's mirror, so servers install packages exactly as the host does.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

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
# In these containers (runc, cgroups v1) systemd is not told when a stopped service's
# cgroup empties, so every stop of a multi-process service waits out the stop timeout
# (90 s by default: a dovecot restart during its installation took 122 s). The lab
# shortens the wait; real servers keep Debian's default.
mkdir -p "$rootfs/etc/systemd/system.conf.d"
cat >"$rootfs/etc/systemd/system.conf.d/10-fnl-lab.conf" <<'CONF'
[Manager]
DefaultTimeoutStopSec=10s
CONF
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
rm -f "$rootfs"/var/cache/apt/archives/*.deb
# No package index in the image: it would only be stale. The apt cache files go too, or
# apt would believe an index is fresh when there is none.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

echo "podman import $tag"
tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  - "$tag" >/dev/null
echo "$tag"
