"""Apply benchmark on the lab: plan and apply at 10, 100 and 1,000 communes, side by side
with a naive baseline (one Ansible task run per mailbox), in one run.

Usage: .venv/bin/python bench/lab.py [--sizes 10,100,1000] [--baseline 100]

It takes over the local lab: `fnl-deploy lab down` then `lab up` (fresh servers), a
first apply with no commune (installs the packages, not measured as a commune cost),
then the naive baseline at BASELINE communes, then for each size, growing the same
platform (the first N communes of bench/generate.py, ~10 mailboxes each, spread over
mail1 and mail2): `validate`; `apply` (the communes new at this size); `apply` again (no
change); `plan` (no change). At the largest size, one commune more is added and applied.
Then the memory used on each server. Every command is timed as an admin sees it (a new
process, wall clock); task counts come from the run's own event stream (`--json`).

The bench deployment is in /var/tmp/fnl-bench (kept for inspection): the lab's inventory,
its operator settings, generated tenant files, and TLS from a local CA (see
docs/performance.md for why not the lab's ACME CA). Run `fnl-deploy lab down` and
`bash scripts/demo.sh` afterwards to get the example lab back. About an hour on 2 cores
(57 min measured, half of it the first apply of 900 communes; docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_tenants

from fnl_deploy.secrets import create_local_vault_password

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "inventories" / "lab"
WORK = Path("/var/tmp/fnl-bench")
FNL = [sys.executable, "-m", "fnl_deploy.cli"]
SERVERS = ("mail1", "mail2")


@dataclass
class Run:
    """One timed command: wall-clock seconds, Ansible tasks started, changes reported."""

    seconds: float
    tasks: int = 0
    changes: int = 0


def fnl(
    *args: str,
    root: Path | None = None,
    check: bool = True,
    mitogen: bool = True,
    checkout: Path | None = None,
) -> Run:
    """Run fnl-deploy as an admin would; with --json, read tasks and changes from it.

    mitogen=False runs it with Ansible's own strategy (FNL_DEPLOY_MITOGEN=0), to measure
    what Mitogen brings side by side. checkout runs another checkout's fnl-deploy (with
    its roles and playbooks, fnl_deploy.paths.share_dir): from that directory and on
    PYTHONPATH, it wins over the installed package and over the current directory's
    (`python -m` puts that first); bench/compare.py uses it.
    """
    argv = [*FNL, *args, *(["-i", str(root)] if root else [])]
    env = {**os.environ, "FNL_DEPLOY_MITOGEN": "1" if mitogen else "0"}
    if checkout:
        env["PYTHONPATH"] = str(checkout)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, cwd=checkout)
    seconds = time.perf_counter() - start
    if check and done.returncode not in (0, 2 if args[0] == "plan" else 0):
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"fnl-deploy {' '.join(args)} failed (exit {done.returncode})")
    if "--json" not in args:
        return Run(seconds)
    data = json.loads(done.stdout)["data"]
    return Run(seconds, int(data.get("tasks", 0)), len(data.get("changes", [])))


def make_deployment(root: Path) -> None:
    """The lab's servers and operator settings, with the bench's tenants and a local CA."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(LAB / "group_vars", root / "group_vars", symlinks=False)
    hosts = yaml.safe_load((LAB / "hosts.yml").read_text(encoding="utf-8"))
    group = hosts["all"]["children"]["fnl_servers"]["vars"]
    group["ansible_ssh_private_key_file"] = str(LAB / ".fnl" / "lab" / "id_ed25519")
    # One certificate per server covers every commune's names: an ACME CA would validate
    # thousands of names per order (and Let's Encrypt refuses more than 100).
    group["tls_provider"] = "local_ca"
    for key in [k for k in group if k.startswith("tls_acme")]:
        del group[key]
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
    write_tenants(root / "tenants", 0)
    create_local_vault_password(root)


def naive(root: Path, desired: Path) -> Run:
    """The baseline playbook with plain ansible-playbook; task runs counted per loop item."""
    env = {
        **os.environ,
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i", str(root / "hosts.yml"),
        str(REPO / "bench" / "naive" / "site.yml"),
        "-e", f"naive_desired_dir={desired}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"the naive baseline failed (exit {done.returncode})")
    report = json.loads(done.stdout)
    runs = changes = 0
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                items = result.get("results") or [result]
                runs += len(items)
                changes += sum(1 for item in items if item.get("changed"))
    return Run(seconds, runs, changes)


def memory() -> dict[str, int]:
    """Per server: resident memory of all its processes (MiB), as `ps` sees them."""
    used = {}
    for server in SERVERS:
        rss = subprocess.run(
            ["podman", "exec", f"fnl-lab-{server}", "ps", "-eo", "rss="],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        used[server] = sum(int(kb) for kb in rss) // 1024
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--baseline", type=int, default=100)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.monotonic()
    root = WORK / "deployment"

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {text}", flush=True)

    say("fresh lab servers (lab down, lab up)")
    fnl("lab", "down", root=LAB)
    fnl("lab", "up", root=LAB)
    make_deployment(root)
    say("apply with no commune: packages and server set-up")
    setup = fnl("apply", "--json", root=root)
    say(f"  {setup.seconds:.0f}s, {setup.tasks} tasks")

    say(f"naive baseline at {args.baseline} communes (ansible-playbook, one task per mailbox)")
    write_tenants(root / "tenants", args.baseline)
    desired = WORK / "naive-desired"
    shutil.rmtree(desired, ignore_errors=True)
    fnl("compile", "--out", str(desired), root=root)
    write_tenants(root / "tenants", 0)
    naive_first = naive(root, desired)
    naive_again = naive(root, desired)
    say(f"  first {naive_first.seconds:.0f}s, again {naive_again.seconds:.0f}s")

    rows = []
    previous = 0
    for size in sizes:
        write_tenants(root / "tenants", size)
        say(f"{size} communes")
        validate = fnl("validate", root=root)
        first = fnl("apply", "--json", root=root)
        again = fnl("apply", "--json", root=root)
        plan = fnl("plan", "--json", root=root)
        linear = fnl("apply", "--json", root=root, mitogen=False)
        rows.append((size, size - previous, validate, first, again, plan, linear))
        say(
            f"  validate {validate.seconds:.1f}s, apply {first.seconds:.0f}s, "
            f"again {again.seconds:.0f}s ({again.changes} changes), plan {plan.seconds:.0f}s, "
            f"again without Mitogen {linear.seconds:.0f}s"
        )
        previous = size
    largest = sizes[-1]
    write_tenants(root / "tenants", largest + 1)
    say(f"one commune added to {largest}")
    add_one = fnl("apply", "--json", root=root)
    used = memory()

    print()
    print(
        f"{'communes':>8} {'mailboxes':>9} {'validate':>9} {'apply (new)':>12} "
        f"{'apply again':>12} {'changes':>7} {'plan':>7} {'tasks':>6} {'no Mitogen':>11}"
    )
    for size, _added, validate, first, again, plan, linear in rows:
        print(
            f"{size:>8} {size * 10:>9} {validate.seconds:>8.1f}s {first.seconds:>11.0f}s "
            f"{again.seconds:>11.0f}s {again.changes:>7} {plan.seconds:>6.0f}s {again.tasks:>6}"
            f" {linear.seconds:>10.0f}s"
        )
    print(
        f"\napply with no commune (packages, server set-up): {setup.seconds:.0f}s, "
        f"{setup.tasks} tasks"
    )
    print(
        f"apply after adding one commune to {largest}: {add_one.seconds:.0f}s, "
        f"{add_one.changes} changes"
    )
    for server, rss in used.items():
        print(f"memory on {server}: {rss} MiB resident (all processes)")

    ours = next((r for r in rows if r[0] == args.baseline), None)
    if ours is not None:
        _, added, _, first, again, _, linear = ours
        print(f"\nnaive baseline at {args.baseline} communes ({args.baseline * 10} mailboxes):")
        print(f"{'':>24} {'naive':>9} {'fnl-deploy':>11} {'ratio':>7}")
        per_naive = naive_first.seconds / args.baseline
        per_ours = first.seconds / added
        print(
            f"{'first apply, per commune':>24} {per_naive:>8.2f}s {per_ours:>10.2f}s "
            f"{per_naive / per_ours:>6.1f}x"
        )
        print(
            f"{'apply with no change':>24} {naive_again.seconds:>8.0f}s {again.seconds:>10.0f}s "
            f"{naive_again.seconds / again.seconds:>6.1f}x"
        )
        print(f"{'task runs':>24} {naive_again.tasks:>9} {again.tasks:>11}")
        print(
            f"{'apply with no change':>24} {'no Mitogen':>9} {'Mitogen':>11}\n"
            f"{'':>24} {linear.seconds:>8.0f}s {again.seconds:>10.0f}s "
            f"{linear.seconds / again.seconds:>6.1f}x"
        )
    targets = [
        ("validate 1,000 communes < 2 s", rows[-1][2].seconds < 2),
        ("plan with no change < 30 s", rows[-1][5].seconds < 30),
        ("apply with no change < 30 s", rows[-1][4].seconds < 30),
        ("adding one commune < 45 s", add_one.seconds < 45),
        ("same task count at every size", len({r[4].tasks for r in rows}) == 1),
    ]
    print()
    for name, held in targets:
        print(f"{'OK  ' if held else 'OVER'} {name} (at {largest} communes)")
    say("done")


if __name__ == "__main__":
    main()
