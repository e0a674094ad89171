"""The CPU time of every rung of a built-in's reference ladder, fitted one at a time.

    python bench/ladder_rungs.py NAME [NAME ...] [--top 14]

Builds each named built-in into a temporary folder with one ladder job (so each rung's CPU
time is this process's) and prints the whole build's wall time, the rungs' CPU total and the
slowest rungs. Use it to see what to trim when a built-in builds too slowly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dojo_kernel.prepare import builtin, ladder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--top", type=int, default=14, help="how many of the slowest rungs to print")
    args = parser.parse_args()
    fit_rung = ladder._fit_rung
    times: list[tuple[float, str]] = []

    def timed(rung, *rest, **options):
        started = time.process_time()
        entry = fit_rung(rung, *rest, **options)
        times.append((time.process_time() - started, rung[0]))
        return entry

    ladder._fit_rung = timed  # fit_tabular_ladder looks it up at each call, with jobs=1
    for name in args.names:
        times.clear()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="dojo-bench-rungs-") as root:
            builtin.build(name, root=Path(root), force=True, jobs=1)
        print(f"{name}: {time.perf_counter() - started:.1f} s wall, rungs {sum(t for t, _ in times):.1f} s CPU")
        for cpu, team in sorted(times, reverse=True)[: args.top]:
            print(f"  {cpu:6.1f} s  {team}")


if __name__ == "__main__":
    main()
