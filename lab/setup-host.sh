#!/usr/bin/env bash
# Prepare a Debian 12 host (as root) to run the fnl-deploy lab: Podman with runc and
# explicit ulimits. On these machines crun fails (setrlimit RLIMIT_NOFILE, then "cgroups in
# hybrid mode") and runc works once nofile/nproc are set below the host's hard limits
# (docs/lab.md). Idempotent: it only adds what is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs containernetworking-plugins
          iptables openssh-client)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

conf=/etc/containers/containers.conf
mkdir -p /etc/containers
hard_nofile=$(ulimit -Hn)
nofile=1024
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt "$nofile" ]; then nofile=$hard_nofile; fi
if [ ! -f "$conf" ] || ! grep -q '^default_ulimits' "$conf" || ! grep -q '^runtime *= *"runc"' "$conf"; then
  [ -f "$conf" ] && cp "$conf" "$conf.fnl-backup"
  cat >"$conf" <<CONF
# Written by fnl-deploy lab/setup-host.sh (previous file, if any: containers.conf.fnl-backup).
# crun fails on this kind of host; runc works with explicit ulimits under the hard limits.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
  echo "setup-host: wrote $conf (runtime runc, nofile=${nofile})"
fi
