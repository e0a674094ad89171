"""The baseline agent on every built-in competition: its final (private) score against the
sample submission's, its leaderboard position, steps and wall time.

    python bench/baseline.py [--n-estimators 200] [--cpus 1] [NAME ...]

Prints one Markdown table row per competition.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import dojo_kernel
from dojo_kernel.agents import get_agent, run_episode
from dojo_kernel.prepare.builtin import BUILTIN_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(BUILTIN_NAMES))
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=1)
    args = parser.parse_args()
    print("| competition | metric | sample | baseline (private) | position | medal | steps | time |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dojo-bench-baseline-") as out:
        for name in args.names:
            competition = dojo_kernel.get_competition(name)  # built before the clock starts
            sample = competition.grade(competition.sample_submission_path, split="private")
            env = dojo_kernel.make(name, output_dir=out, max_steps=20, cpus=args.cpus, agent="baseline")
            started = time.perf_counter()
            summary = run_episode(env, get_agent("baseline", n_estimators=args.n_estimators))
            elapsed = time.perf_counter() - started
            env_summary = summary["env_summary"]
            position = env_summary.get("final_position")
            print(f"| {name} | {competition.metric} | {sample.score:.4g} | {summary['final_score']:.4g} | "
                  f"{'-' if position is None else f'{position:.0%}'} | {env_summary.get('medal') or '-'} | "
                  f"{summary['steps']} | {elapsed:.1f}s |", flush=True)


if __name__ == "__main__":
    main()
