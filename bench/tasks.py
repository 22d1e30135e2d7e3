"""Where a run's time went: its slowest tasks, from the run directory's event stream.

Usage: .venv/bin/python bench/tasks.py DEPLOYMENT/.fnl/runs/RUN_ID [--top 15]

Reads ansible-runner's job events (artifacts/*/job_events/*.json), which carry each task
result's start, end and duration, and prints the tasks that took longest per server.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def task_durations(run_dir: Path) -> dict[tuple[str, str], float]:
    """(server, task name) -> seconds, loop items summed."""
    spent: dict[tuple[str, str], float] = defaultdict(float)
    for path in run_dir.glob("artifacts/*/job_events/*.json"):
        event = json.loads(path.read_text(encoding="utf-8"))
        if event.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            continue
        data = event.get("event_data", {})
        if data.get("duration") is not None:
            spent[(data.get("host", ""), data.get("task", ""))] += float(data["duration"])
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    spent = task_durations(args.run_dir)
    for (server, task), seconds in sorted(spent.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{seconds:8.1f}s  {server:<8} {task}")
    print(f"{sum(spent.values()):8.1f}s  in all (servers run side by side)")


if __name__ == "__main__":
    main()
