"""Benchmarks that print ratios measured side by side in one run.

Usage: .venv/bin/python bench/run.py [--sizes 10,100,1000] [--repeat 3]

For each platform size it generates a synthetic deployment directory (bench/generate.py),
then times the ``fnl-deploy validate`` command end to end (a new process, as an admin runs
it) and the in-process compile to per-server desired state. It prints absolute times and,
more usefully, the cost per tenant relative to the smallest size: a flat ratio means the
cost grows linearly with the platform, nothing worse.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generate

from fnl_deploy.compile import compile_deployment
from fnl_deploy.deployment import load_deployment
from fnl_deploy.secrets import hash_password, hash_passwords

FNL = [sys.executable, "-m", "fnl_deploy.cli"]


def timed(action, repeat: int) -> float:
    """Best of ``repeat`` runs: the least disturbed by whatever else the machine does."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fnl-bench-") as tmp:
        for size in sizes:
            root = generate(Path(tmp) / f"p{size}", size)

            def validate(root: Path = root) -> None:
                subprocess.run(
                    [*FNL, "validate", "-i", str(root)], check=True, stdout=subprocess.DEVNULL
                )

            def compile_all(root: Path = root) -> None:
                compile_deployment(load_deployment(root))

            rows.append((size, timed(validate, args.repeat), timed(compile_all, args.repeat)))
    base_size, base_validate, base_compile = rows[0]
    print(
        f"{'communes':>9} {'mailboxes':>9} {'validate (CLI)':>15} {'per-tenant ratio':>17} "
        f"{'load+compile':>13} {'per-tenant ratio':>17}"
    )
    for size, validate_s, compile_s in rows:
        ratio_v = (validate_s / size) / (base_validate / base_size)
        ratio_c = (compile_s / size) / (base_compile / base_size)
        print(
            f"{size:>9} {size * 10:>9} {validate_s:>14.2f}s {ratio_v:>17.2f} "
            f"{compile_s:>12.2f}s {ratio_c:>17.2f}"
        )
    print(
        f"(best of {args.repeat}; ratio = cost per tenant relative to {base_size} communes, "
        "which includes the fixed start-up cost; below 1 means start-up dominates)"
    )
    largest = rows[-1]
    print(
        f"validate {largest[0]} communes: {largest[1]:.2f}s (target < 2 s): "
        + ("OK" if largest[1] < 2 else "OVER TARGET")
    )
    # The first apply of a new commune hashes its initial passwords on the controller.
    passwords = [f"banc-d-essai-{n}" for n in range(40)]
    one_by_one = timed(lambda: [hash_password(p) for p in passwords], 1)
    on_all_cores = timed(lambda: hash_passwords(passwords), 1)
    print(
        f"argon2id of 40 new accounts: {one_by_one:.2f}s one by one, {on_all_cores:.2f}s "
        f"on all cores ({one_by_one / on_all_cores:.1f}x, {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
