#!/usr/bin/env bash
# The main job: set up this machine, bring up the local lab (real Debian 12 servers in
# Podman), provision the example communes on it, show that a second apply changes
# nothing, run a mail exchange between two communes that can be typed again, and end with
# the web interface's address and an example user to log in with.
# Run as root on Debian 12; re-running is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
LAB=inventories/lab

step() { printf '\n=== %s\n' "$1"; }

step "Validate the example deployment"
fnl-deploy validate -i "$LAB"
fnl-deploy list -i "$LAB"

step "DNS records for Saint-Étienne-de-Crossey (what the registrar needs)"
fnl-deploy dns show saint-etienne-de-crossey -i "$LAB"

step "Check this machine can run the lab"
fnl-deploy lab doctor

step "Bring up the lab"
fnl-deploy lab up -i "$LAB"
fnl-deploy lab status -i "$LAB"

step "Plan, then apply the example communes"
fnl-deploy plan -i "$LAB" || [ $? -eq 2 ]   # exit 2 means: changes to make
fnl-deploy apply -i "$LAB"

step "Apply again: nothing left to change"
fnl-deploy apply -i "$LAB"

step "Hosted zones, signed: the DS for the registrar, then a live check against the lab's Knot"
fnl-deploy dns show saint-etienne-de-crossey -i "$LAB" | grep -E "^domain | DS "
fnl-deploy dns check saint-etienne-de-crossey --resolver 127.0.0.1:10053 -i "$LAB"

step "Certificates from the lab's ACME CA (Pebble), on the web, IMAP and SMTP ports"
fnl-deploy lab ca -i "$LAB" > "$LAB/.fnl/lab/acme-root.pem"
for port in 10443 10993 10465; do
  openssl s_client -connect "127.0.0.1:$port" -servername mail1.alpes-numerique.fr \
    -verify_hostname mail1.alpes-numerique.fr -CAfile "$LAB/.fnl/lab/acme-root.pem" \
    -verify_return_error </dev/null 2>/dev/null |
    sed -n "s/^\(issuer=.*\)/127.0.0.1:$port: \1/p; s/^\(Verify return code: .*\)/  \1/p"
done

step "Mail between two communes: Saint-Étienne-de-Crossey ↔ Ambel (scripts/mail-exchange.sh)"
./scripts/mail-exchange.sh

step "Webmail and agenda in your browser (scripts/webmail-info.sh)"
./scripts/webmail-info.sh
