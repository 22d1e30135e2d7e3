#!/usr/bin/env bash
# The full test suite, exactly as CI runs it (.ci/run): set-up, linters, the molecule
# scenario of every role, the lab, then one pytest run over unit, CLI, golden and lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export FNL_DEPLOY_LANG=en
mkdir -p artifacts

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "ruff"
ruff check fnl_deploy tests bench
ruff format --check fnl_deploy tests bench

step "ansible-lint (production profile)"
ansible-lint --offline roles playbooks molecule

step "lab: host check and base image (molecule and the lab tests use it)"
fnl-deploy lab doctor -i inventories/lab
fnl-deploy lab image

step "molecule: one scenario per role, and site (the whole playbook, two communes), two at a time"
./scripts/molecule-all.sh 2

step "pytest: unit, CLI, golden, then the lab (tests/e2e brings up a fresh lab once)"
# --durations: where the suite spends its time, to keep CI well under an hour.
pytest -p no:cacheprovider --durations=30 tests
