"""Two versions of fnl-deploy side by side on the platform bench/lab.py left in the lab.

Usage: .venv/bin/python bench/compare.py BEFORE_CHECKOUT [--runs 2] [--add-one]

BEFORE_CHECKOUT is another checkout of fnl-deploy (`git worktree add /var/tmp/before
COMMIT`, then a copy of this checkout's `vendor/`, which scripts/setup.sh fetches; roles,
playbooks and package are taken from it); "after" is this checkout. On
the deployment of bench/lab.py (/var/tmp/fnl-bench/deployment, its servers still up),
each command runs alternately with before and after, RUNS times: `plan` with no change,
then `apply` with no change. With --add-one, one more commune of bench/generate.py is
added and applied with after, then one more with before (two communes alike: ~10
mailboxes, a shared mailbox, an alias, a list). Every command is a new process timed on
the wall clock, as bench/lab.py times them; changes and tasks come from `--json`.
Use it for a change that bench/lab.py's hour would measure only as a whole.

--deployment DIR runs it on another deployment whose servers are up, e.g. the lab of
`scripts/demo.sh` (inventories/lab: its four example communes); not with --add-one,
which writes generated communes into DIR/tenants.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_tenants

from lab import WORK, fnl

AFTER = Path(__file__).resolve().parent.parent
DEPLOYMENT = WORK / "deployment"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--add-one", action="store_true")
    parser.add_argument("--deployment", type=Path, default=DEPLOYMENT)
    args = parser.parse_args()
    deployment = args.deployment.resolve()
    versions = {"before": args.before.resolve(), "after": AFTER}
    rows: list[tuple[str, str, float, int, int]] = []

    def measure(label: str, version: str, command: str) -> None:
        run = fnl(command, "--json", root=deployment, checkout=versions[version])
        rows.append((label, version, run.seconds, run.changes, run.tasks))
        print(
            f"{label:<24} {version:<7} {run.seconds:7.1f}s {run.changes:>5} changes "
            f"{run.tasks:>4} tasks"
        )

    for command in ("plan", "apply"):
        for _ in range(args.runs):
            for version in ("before", "after"):
                measure(f"{command}, no change", version, command)
    if args.add_one:
        communes = len(list((deployment / "tenants").glob("*.yml")))
        for version in ("after", "before"):
            communes += 1
            write_tenants(deployment / "tenants", communes)
            measure("apply, one commune added", version, "apply")

    print()
    for label in dict.fromkeys(row[0] for row in rows):
        before = [row[2] for row in rows if row[0] == label and row[1] == "before"]
        after = [row[2] for row in rows if row[0] == label and row[1] == "after"]
        if before and after:
            print(
                f"{label:<24} before {min(before):6.1f}s  after {min(after):6.1f}s  "
                f"ratio {min(before) / min(after):.1f}x (best of each)"
            )


if __name__ == "__main__":
    main()
