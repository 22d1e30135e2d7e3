#!/usr/bin/env bash
# A mail exchange between two example communes on the lab, with ordinary clients:
# Marie Martin (Saint-Étienne-de-Crossey) writes to Anne Vial (Ambel) with swaks over
# submission (587, STARTTLS); Anne reads it with curl over IMAPS (993) and answers over
# submissions (465, TLS). Every command is printed so that it can be typed again.
# Needs the lab applied (scripts/demo.sh). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
LAB=inventories/lab
SERVER=mail1.alpes-numerique.fr
MARIE=marie.martin@saint-etienne-de-crossey.fr
ANNE=anne.vial@mairie-ambel.fr

# Print a command as it can be typed again (passwords masked), then run it.
run() {
  local shown=() a
  for a in "$@"; do
    if [ "$a" = "${MARIE_PASSWORD:-}" ] || [ "$a" = "${ANNE_PASSWORD:-}" ]; then
      shown+=("*****")
    elif [[ "$a" =~ ^[A-Za-z0-9@._:/=+-]+$ ]]; then
      shown+=("$a")
    else
      shown+=("'${a//\'/\'\\\'\'}'")
    fi
  done
  printf '\n$ %s\n' "${shown[*]}"
  "$@"
}
password() { fnl-deploy password show "$1" -i "$LAB" | sed -n '1s/.*: //p'; }

# The lab's certificates come from its own ACME CA (Pebble, started by `lab up`).
CA="$LAB/.fnl/lab/acme-root.pem"
fnl-deploy lab ca -i "$LAB" > "$CA"
MARIE_PASSWORD=$(password "$MARIE")
ANNE_PASSWORD=$(password "$ANNE")
SUBJECT="Réunion du syndicat des eaux $(date +%H:%M:%S)"

cat <<INFO
Client settings for the lab (any mail client on this machine):
  IMAP  127.0.0.1 port 10993, SSL/TLS        (a server's port 993)
  SMTP  127.0.0.1 port 10587, STARTTLS        (587), or 10465 SSL/TLS (465)
  login: the full address; password: fnl-deploy password show ADDRESS -i $LAB
  the certificate is issued by the lab's ACME CA (Pebble); its root: $CA
INFO

run swaks --silent 1 --server 127.0.0.1:10587 --tls \
  --auth PLAIN --auth-user "$MARIE" --auth-password "$MARIE_PASSWORD" \
  --from "$MARIE" --to "$ANNE" \
  --header "Subject: $SUBJECT" --body "Bonjour Anne, la réunion est jeudi à 18 h. Marie"

# IMAP through curl; --connect-to keeps the certificate check on the server's name.
imap() {
  curl --silent --show-error --cacert "$CA" --connect-to "$SERVER:993:127.0.0.1:10993" \
    -u "$1:$2" "imaps://$SERVER/INBOX${3:-}" "${@:4}"
}
uid=""
for _ in $(seq 30); do
  uid=$(imap "$ANNE" "$ANNE_PASSWORD" "" -X "UID SEARCH SUBJECT \"${SUBJECT##* }\"" |
    tr -d '\r' | sed -n 's/^\* SEARCH \([0-9]*\).*/\1/p')
  [ -n "$uid" ] && break
  sleep 1
done
[ -n "$uid" ] || { echo "the message did not arrive" >&2; exit 1; }
printf '\n$ curl --cacert %s --connect-to %s:993:127.0.0.1:10993 -u %s:***** "imaps://%s/INBOX;UID=%s"\n' \
  "$CA" "$SERVER" "$ANNE" "$SERVER" "$uid"
imap "$ANNE" "$ANNE_PASSWORD" ";UID=$uid" | tr -d '\r' |
  grep -E '^(From|To|Subject|DKIM-Signature):|^Bonjour'

run swaks --silent 1 --server 127.0.0.1:10465 --tls-on-connect \
  --auth PLAIN --auth-user "$ANNE" --auth-password "$ANNE_PASSWORD" \
  --from "$ANNE" --to "$MARIE" \
  --header "Subject: Re: $SUBJECT" --body "Merci Marie, j'y serai. Anne"
echo
echo "Mail went both ways between Saint-Étienne-de-Crossey and Ambel, signed with each domain's DKIM key."
