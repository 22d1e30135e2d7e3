#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) to run fnl-deploy, its lab and its tests:
# Debian packages, the Podman host fix (lab/setup-host.sh) and a Python venv in .venv.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh installs Debian packages and configures Podman: run it as root (sudo)." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
packages=(python3-venv python3-dev gcc git openssh-client bind9-utils knot-dnsutils knot swaks curl testssl.sh poppler-utils zbar-tools fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The browser of the web interface tests (Playwright drives it; never `playwright install`).
browser=(chromium fonts-liberation)
missing=()
for p in "${browser[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash lab/setup-host.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# The pip cache (~/.cache/pip) makes re-runs fast; --quiet keeps CI logs short.
.venv/bin/pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/pip install --quiet -e '.[test]' 2>&1 | grep -v "is ignored" || true

# promtool checks the alert rules (monitoring/alerts.yml) in the unit tests. Debian ships
# it only inside the prometheus package, whose installation would start a Prometheus
# server here: take the one binary out of the downloaded package instead.
if [ ! -x .venv/bin/promtool ]; then
  promtool_tmp=$(mktemp -d)
  (cd "$promtool_tmp" && apt-get download -qq prometheus 2>/dev/null) || { apt-get update -qq && (cd "$promtool_tmp" && apt-get download -qq prometheus); }
  dpkg-deb --fsys-tarfile "$promtool_tmp"/prometheus_*.deb | tar -x -C "$promtool_tmp" ./usr/bin/promtool
  install -m 755 "$promtool_tmp/usr/bin/promtool" .venv/bin/promtool
  rm -rf "$promtool_tmp"
fi

# The web chat (role chat): converse.js's npm package, checked against the digest npm
# publishes for it; the roles unpack it on the servers.
converse_version=14.0.0
converse_sha512=LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q==
converse_archive=vendor/converse.js-$converse_version.tgz
if [ ! -f "$converse_archive" ]; then
  mkdir -p vendor
  curl -fsSL --retry 3 -o "$converse_archive.part" "https://registry.npmjs.org/converse.js/-/converse.js-$converse_version.tgz"
  if [ "$(openssl dgst -sha512 -binary "$converse_archive.part" | base64 -w0)" != "$converse_sha512" ]; then
    echo "converse.js $converse_version: the download does not match npm's digest" >&2
    rm -f "$converse_archive.part"
    exit 1
  fi
  mv "$converse_archive.part" "$converse_archive"
fi
# The shared files' WebDAV server (role files): WsgiDAV's wheel from PyPI, checked against
# PyPI's SHA-256; the roles unpack it on the servers (Debian provides its dependencies).
wsgidav_version=4.3.3
wsgidav_sha256=8d96b0f05ad7f280572e99d1c605962a853d715f8e934298555d0c47ef275e88
wsgidav_wheel=vendor/WsgiDAV-$wsgidav_version-py3-none-any.whl
if [ ! -f "$wsgidav_wheel" ]; then
  mkdir -p vendor/.download
  .venv/bin/pip download --quiet --no-deps --only-binary=:all: -d vendor/.download "WsgiDAV==$wsgidav_version" 2>&1 | grep -v "is ignored" || true
  if [ "$(sha256sum "vendor/.download/WsgiDAV-$wsgidav_version-py3-none-any.whl" | cut -d' ' -f1)" != "$wsgidav_sha256" ]; then
    echo "WsgiDAV $wsgidav_version: the download does not match PyPI's digest" >&2
    rm -rf vendor/.download
    exit 1
  fi
  mv "vendor/.download/WsgiDAV-$wsgidav_version-py3-none-any.whl" "$wsgidav_wheel"
  rm -rf vendor/.download
fi
.venv/bin/promtool --version | head -1
.venv/bin/fnl-deploy --version
