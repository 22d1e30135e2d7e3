#!/usr/bin/env bash
# Every molecule scenario (one per role, and `site`, the whole playbook), two at a time.
#
# Usage: scripts/molecule-all.sh [JOBS]      (JOBS: scenarios at once, default 2)
#
# A scenario spends much of its time waiting (packages from the cache, services starting,
# `podman exec` per task), so two side by side finish sooner than one after the other on
# 2 cores (docs/performance.md, "The test suite"). Each scenario has its own containers
# (<role>-instance, site-mail1) and its own log, artifacts/molecule/<scenario>.log; a
# failing scenario's log is printed whole, and the script fails once all have finished.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
mkdir -p artifacts/molecule

run_scenario() {
  local scenario=$1 log="artifacts/molecule/$1.log" started=$SECONDS status=0
  if [ "$scenario" = site ]; then
    molecule test -s site >"$log" 2>&1 || status=$?
  else
    (cd "roles/$scenario" && molecule test) >"$log" 2>&1 || status=$?
  fi
  if [ "$status" -eq 0 ]; then
    printf '=== molecule %s: passed in %ss (%s)\n' "$scenario" $((SECONDS - started)) "$log"
  else
    printf '=== molecule %s: FAILED after %ss; its log:\n' "$scenario" $((SECONDS - started))
    cat "$log"
    return 1
  fi
}
export -f run_scenario

# The longest first (the whole playbook, then the roles that install the most), so that
# the two lanes end close together.
scenarios=(site)
for first in mail groupware monitoring chat files; do
  [ -d "roles/$first/molecule/default" ] && scenarios+=("$first")
done
for scenario in roles/*/molecule/default; do
  role=${scenario#roles/}
  role=${role%/molecule/default}
  case " ${scenarios[*]} " in *" $role "*) ;; *) scenarios+=("$role") ;; esac
done

printf '%s\n' "${scenarios[@]}" | xargs -P "$jobs" -I{} bash -c 'run_scenario "$1"' _ {}
