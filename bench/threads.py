"""The kernel's default thread counts (issue 19, item 10): a baseline episode with the default
(`isolation.default_threads()`: the usable cores less one) against the same episode with every
BLAS/OpenMP/joblib pool at all usable cores, which is what libraries pick when nothing is set.

    python bench/threads.py [--repeats 3] [NAME]

Runs alternate between the two settings, so a busy machine slows both alike; prints the
median wall time of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import dojo_kernel
from dojo_kernel.agents import get_agent, run_episode
from dojo_kernel.isolation import THREAD_VARIABLES, default_threads, usable_cores


def episode_seconds(name: str, out: str, kernel_env: dict[str, str] | None) -> float:
    env = dojo_kernel.make(name, output_dir=out, max_steps=20, agent="baseline", kernel_env=kernel_env, warm_pool=0)
    started = time.perf_counter()
    run_episode(env, get_agent("baseline", n_estimators=100))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="penguin-species")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dojo_kernel.get_competition(args.name)  # built before any clock starts
    every_core = {variable: str(usable_cores()) for variable in THREAD_VARIABLES}
    times: dict[str, list[float]] = {"default": [], "all cores": []}
    with tempfile.TemporaryDirectory(prefix="dojo-bench-threads-") as out:
        for _ in range(args.repeats):
            times["default"].append(episode_seconds(args.name, out, None))
            times["all cores"].append(episode_seconds(args.name, out, every_core))
    default, every = statistics.median(times["default"]), statistics.median(times["all cores"])
    print(f"{args.name}, {usable_cores()} usable cores, {args.repeats} episodes each")
    print(f"default ({default_threads()} threads): median {default:.1f}s  {[round(t, 1) for t in times['default']]}")
    print(f"all cores ({usable_cores()} threads): median {every:.1f}s  {[round(t, 1) for t in times['all cores']]}")
    print(f"all cores / default: {every / default:.2f}x")


if __name__ == "__main__":
    main()
