#!/usr/bin/env bash
# Prepare a Debian 12 host (as root) to run the fnl-deploy lab: Podman with runc and
# explicit ulimits. On these machines crun fails (setrlimit RLIMIT_NOFILE, then "cgroups in
# hybrid mode") and runc works once nofile/nproc are set below the host's hard limits
# (docs/lab.md). Idempotent: it only adds what is missing, and keeps every other setting
# of an existing /etc/containers/containers.conf (the first original is kept as
# containers.conf.fnl-backup before any change).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh installs Debian packages and configures Podman: run it as root (sudo)." >&2
  exit 1
fi

# netavark + aardvark-dns: the network backend whose DNS serves the lab's network aliases.
packages=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs netavark aardvark-dns pebble
          containernetworking-plugins iptables openssh-client)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# FNL_CONTAINERS_CONF names another file, to try the merge without touching the real one.
conf=${FNL_CONTAINERS_CONF:-/etc/containers/containers.conf}
mkdir -p "$(dirname "$conf")"
had_settings=no
if [ -s "$conf" ]; then had_settings=yes; fi
if [ "$had_settings" = no ]; then
  cat >"$conf" <<'HEADER'
# Written by fnl-deploy lab/setup-host.sh: crun fails on this kind of host (setrlimit
# RLIMIT_NOFILE, "cgroups in hybrid mode"); runc works with ulimits under the hard limits.
HEADER
fi

# Stay under the host's hard limits: runc fails to start a container above them.
limit() {  # limit WANTED HARD -> the smaller of the two ("unlimited" is no limit)
  if [ "$2" = unlimited ] || [ "$1" -le "$2" ]; then echo "$1"; else echo "$2"; fi
}
nofile=$(limit 1024 "$(ulimit -Hn)")
nproc=$(limit 4096 "$(ulimit -Hu)")
ulimits_line="default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]"

# Called before each change; only the first call copies, so the backup is the original.
backup() {
  if [ "$had_settings" = yes ] && [ ! -e "$conf.fnl-backup" ]; then
    cp -p "$conf" "$conf.fnl-backup"
  fi
}
has_key() { grep -Eq "^[[:space:]]*$1[[:space:]]*=" "$conf"; }
# add_key SECTION LINE: add LINE under [SECTION], creating the section if needed.
add_key() {
  local section=$1 line=$2
  backup
  if grep -Eq "^[[:space:]]*\[${section}\][[:space:]]*$" "$conf"; then
    local tmp
    tmp=$(mktemp "$conf.XXXXXX")
    awk -v header="[${section}]" -v line="$line" '
      { print }
      !done && $0 ~ /^[[:space:]]*\[/ { s = $0; gsub(/[[:space:]]/, "", s); if (s == header) { print line; done = 1 } }
    ' "$conf" >"$tmp"
    chmod --reference="$conf" "$tmp"
    mv "$tmp" "$conf"
  else
    if [ -s "$conf" ]; then echo >>"$conf"; fi
    printf '[%s]\n%s\n' "$section" "$line" >>"$conf"
  fi
  echo "setup-host: $conf: [$section] $line"
}

if ! has_key default_ulimits; then
  add_key containers "$ulimits_line"
else
  # Set by someone already: only correct a nofile limit that runc cannot apply.
  current=$(grep -Eo 'nofile=[0-9]+:[0-9]+' "$conf" | sed -n 1p | cut -d: -f2)
  if [ -n "$current" ] && [ "$(limit "$current" "$(ulimit -Hn)")" != "$current" ]; then
    backup
    sed -i -E "s/^[[:space:]]*default_ulimits[[:space:]]*=.*/${ulimits_line}/" "$conf"
    echo "setup-host: $conf: nofile $current is above the host's hard limit; now $ulimits_line"
  fi
fi
if ! has_key runtime; then
  add_key engine 'runtime = "runc"'
elif grep -Eq '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"crun"' "$conf"; then
  backup
  sed -i -E 's/^([[:space:]]*)runtime[[:space:]]*=.*/\1runtime = "runc"/' "$conf"
  echo "setup-host: $conf: runtime crun -> runc (crun fails on this kind of host, docs/lab.md)"
fi
