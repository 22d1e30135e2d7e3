#!/usr/bin/env bash
# How to open the lab's web interface (SOGo: mail, agenda, address book) and web chat in a
# browser, and how to reach the same agenda and chat from apps: prints the URLs, an example
# user of each server and their current initial password, and checks that each page answers.
# Needs the lab applied (scripts/demo.sh). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
LAB=inventories/lab

password() { fnl-deploy password show "$1" -i "$LAB" | sed -n '1s/.*: //p'; }

show() {  # server port, example user, what they can see
  local port=$1 user=$2 what=$3 code
  code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/SOGo/")
  [ "$code" = 200 ] || { echo "the web interface on port $port answered $code" >&2; exit 1; }
  cat <<INFO
  https://127.0.0.1:$port/SOGo/
    login:    $user
    password: $(password "$user")
    ($what)
INFO
}

cat <<INFO
Web interface (mail, agenda, address book) — open in a browser on this machine and accept
the lab's certificate (issued by the lab's ACME CA, Pebble: \`fnl-deploy lab ca -i $LAB\`
prints its root):
INFO
show 10443 marie.martin@saint-etienne-de-crossey.fr \
  "Saint-Étienne-de-Crossey: the council's agenda, the Salle des fêtes to book"
show 20443 camille.garnier@voiron.fr "Voiron, on the second server"
cat <<INFO
Calendar and contacts apps (Thunderbird, DAVx⁵, iOS): server https://127.0.0.1:10443/
(found through /.well-known/caldav and /.well-known/carddav), same login and password.
Passwords changed in the web interface stay changed: fnl-deploy never overwrites them.
INFO
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:10443/chat/")
[ "$code" = 200 ] || { echo "the web chat on port 10443 answered $code" >&2; exit 1; }
cat <<INFO

Chat (same address, same password) — web chat in a browser on this machine:
  https://127.0.0.1:10443/chat/
    login:    marie.martin@saint-etienne-de-crossey.fr
    password: $(password marie.martin@saint-etienne-de-crossey.fr)
    (the council's room, conseil@salons.saint-etienne-de-crossey.fr; on a real platform
    the page is https://mail.<commune's domain>/chat/ and asks for the first part only)
Chat apps (Conversations, Monal, Gajim): the address and password above, server
127.0.0.1 port 15222 (on a real platform the app finds the server through DNS).
INFO
secretariat=elodie.rossi@saint-etienne-de-crossey.fr
# The lab's CA changes with each lab: its root as this lab has it.
fnl-deploy lab ca -i "$LAB" > "$LAB/.fnl/lab/acme-root.pem"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$LAB/.fnl/lab/acme-root.pem" \
  --resolve mail.saint-etienne-de-crossey.fr:10443:127.0.0.1 -u "$secretariat:$(password "$secretariat")" \
  "https://mail.saint-etienne-de-crossey.fr:10443/fichiers/")
[ "$code" = 200 ] || { echo "the shared files on port 10443 answered $code" >&2; exit 1; }
cat <<INFO

Shared files (WebDAV, same address, same password): on a real platform
https://mail.saint-etienne-de-crossey.fr/fichiers/ (Windows: map network drive; macOS:
Connect to Server; LibreOffice: Open Remote). In the lab the name resolves only for this
command, which lists the secretariat's view:
  curl --cacert $LAB/.fnl/lab/acme-root.pem --resolve mail.saint-etienne-de-crossey.fr:10443:127.0.0.1 \\
    -u $secretariat:$(password "$secretariat") -X PROPFIND -H 'Depth: 1' \\
    https://mail.saint-etienne-de-crossey.fr:10443/fichiers/
INFO
