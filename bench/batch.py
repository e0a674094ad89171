"""Batch throughput and idle-episode capacity.

1. Episodes per minute for a short scripted episode (write the sample submission, submit
   it as final: two steps, one kernel) at --parallel 1, 2 and 4, with the local backend
   (worker processes) and on a local Ray.
2. The largest number of idle concurrent episodes one process holds: envs reset, each
   holding a live kernel (checked by running a cell in each), and the memory per episode.

    python bench/batch.py [--episodes-per-slot 4] [--rounds 3] [--max-idle 128] [--skip-ray]

Writes bench/results/batch.md. Runs in about 3 to 5 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

import dojo_kernel
from dojo_kernel.batch import build_grid, run_batch
from dojo_kernel.prepare.common import assign_usage, leaderboard_frame, write_competition

COMPETITION = "bench-batch"
SETTINGS = {"max_steps": 4, "memory_gb": 2, "cell_timeout_s": 60}
AGENT = "batch:QuickAgent"  # this file, imported by the workers (bench/ is on their import path)
RESULTS = Path(__file__).resolve().parent / "results" / "batch.md"


class QuickAgent:
    """The short scripted episode: copy the sample submission into place, submit it as final."""

    def reset(self, observation):
        self.steps = 0

    def act(self, observation):
        self.steps += 1
        if self.steps == 1:
            return {"action": "execute_code",
                    "code": "import shutil\nshutil.copy('input/sample_submission.csv', 'working/submission.csv')"}
        return {"action": "submit", "final": True}


def write_competition_dir(root: Path) -> None:
    rng = np.random.default_rng(0)
    ids = [f"r{i}" for i in range(200)]
    labels = rng.integers(0, 2, size=200)
    write_competition(root / COMPETITION,
                      manifest={"name": COMPETITION, "metric": "accuracy", "id_column": "id",
                                "target_columns": ["y"], "category": "tabular", "level": "starter"},
                      description="# bench\nPredict y.",
                      answers=pd.DataFrame({"id": ids[100:], "y": labels[100:], "Usage": assign_usage(100, seed=0)}),
                      sample=pd.DataFrame({"id": ids[100:], "y": 0}),
                      public_files={"train.csv": pd.DataFrame({"id": ids[:100], "y": labels[:100]})},
                      leaderboards={"public": leaderboard_frame(np.linspace(0.4, 0.9, 20), True),
                                    "private": leaderboard_frame(np.linspace(0.4, 0.9, 20), True)})


def throughput(parallel: int, episodes: int, out: Path, ray: bool, warm_up: bool) -> dict:
    """Episodes per minute. With `warm_up`, a round of one episode per slot runs first, not
    counted: the forkserver or Ray's workers import dojo-kernel once."""
    warm_up_s = None
    if warm_up:
        started = time.perf_counter()
        run_batch(build_grid([COMPETITION], [AGENT], parallel, SETTINGS), out / "warm-up", parallel=parallel,
                  backend="ray" if ray else "local", report=False)
        warm_up_s = time.perf_counter() - started
    specs = build_grid([COMPETITION], [AGENT], episodes, SETTINGS)
    started = time.perf_counter()
    result = run_batch(specs, out / "timed", parallel=parallel, backend="ray" if ray else "local", report=False)
    wall = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"bench episodes failed: {[(e.spec.key, e.error) for e in result.failed]}")
    return {"backend": "ray" if ray else "local", "parallel": parallel, "episodes": episodes, "wall_s": wall,
            "per_min": episodes / wall * 60,
            "episode_median_s": statistics.median(e.duration_s for e in result.episodes),
            "warm_up_s": warm_up_s}


def _tree_pss(process: psutil.Process) -> int:
    total = 0
    for member in [process] + process.children(recursive=True):
        try:
            total += member.memory_full_info().pss
        except psutil.Error:
            pass
    return total


def idle_capacity(target: int, out: Path, threads: int) -> dict:
    """Reset `target` envs (a kernel each), prove each kernel answers, measure memory."""
    available_before = psutil.virtual_memory().available
    me = psutil.Process()
    children_before = {p.pid for p in me.children(recursive=True)}
    envs = [dojo_kernel.make(COMPETITION, output_dir=out / f"idle-{i:03d}", warm_pool=0, **SETTINGS)
            for i in range(target)]
    held, errors = 0, []
    started = time.perf_counter()

    def hold(env) -> None:
        env.reset(seed=0)
        observation, *_ = env.step({"action": "execute_code", "code": "x = 41 + 1\nx"})
        if "42" not in observation["feedback"]:
            raise RuntimeError(f"the kernel did not answer: {observation['feedback'][:200]!r}")

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(hold, env) for env in envs]:
                try:
                    future.result()
                    held += 1
                except Exception as error:  # a kernel that could not start: the machine is full
                    errors.append(f"{type(error).__name__}: {error}")
        start_s = time.perf_counter() - started
        kernels = [p for p in me.children(recursive=True) if p.pid not in children_before]
        alive_kernels = sum(1 for p in kernels if "ipykernel" in " ".join(p.cmdline()))
        pss = sum(_tree_pss(p) for p in me.children() if p.pid not in children_before)
        available_after = psutil.virtual_memory().available
    finally:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda env: env.close(), envs))
    per_episode_pss = pss / max(1, held)
    per_episode_avail = (available_before - available_after) / max(1, held)
    return {"target": target, "held": held, "kernel_processes": alive_kernels, "errors": errors[:3],
            "start_all_s": start_s, "pss_per_episode_mb": per_episode_pss / 2**20,
            "available_drop_per_episode_mb": per_episode_avail / 2**20,
            "available_before_gb": available_before / 2**30,
            "memory_bound_estimate": int(available_before / max(per_episode_avail, per_episode_pss, 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-per-slot", type=int, default=4)
    parser.add_argument("--max-idle", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # workers import "batch:QuickAgent"

    work = Path(tempfile.mkdtemp(prefix="dojo-bench-batch-"))
    os.environ["DOJO_DATA"] = str(work / "data")
    write_competition_dir(work / "data")
    load_before = os.getloadavg()[0]
    backends = [False] if args.skip_ray else [False, True]
    ray_start_s = None
    if not args.skip_ray:
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), object_store_memory=200 * 1024**2, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path),
                                                                "DOJO_DATA": os.environ["DOJO_DATA"]}})
        ray_start_s = time.perf_counter() - started
    # Rounds interleave the configurations, so that load from other jobs on the machine
    # spreads over all of them; each figure is the median over the rounds.
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        for round_index in range(args.rounds):
            for parallel in (1, 2, 4):
                for use_ray in backends:
                    episodes = max(8, parallel * args.episodes_per_slot)
                    out = work / f"{'ray' if use_ray else 'local'}-{parallel}-{round_index}"
                    run = throughput(parallel, episodes, out, use_ray, warm_up=round_index == 0)
                    runs.setdefault((run["backend"], parallel), []).append(run)
                    print(run, flush=True)
    finally:
        if not args.skip_ray:
            ray.shutdown()
    rows = [{"backend": backend, "parallel": parallel, "episodes": found[0]["episodes"],
             "per_min": statistics.median(r["per_min"] for r in found),
             "per_min_range": (min(r["per_min"] for r in found), max(r["per_min"] for r in found)),
             "episode_median_s": statistics.median(r["episode_median_s"] for r in found),
             "warm_up_s": found[0]["warm_up_s"]}
            for (backend, parallel), found in sorted(runs.items())]
    load_after = os.getloadavg()[0]
    idle = idle_capacity(args.max_idle, work / "idle", threads=4)
    print(idle, flush=True)

    baseline = next(r["per_min"] for r in rows if r["backend"] == "local" and r["parallel"] == 1)
    lines = ["# Batch runner: throughput and idle capacity", "",
             f"Command: `python bench/batch.py --episodes-per-slot {args.episodes_per_slot} --rounds {args.rounds} "
             f"--max-idle {args.max_idle}`",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: 2-core, 24 GB "
             f"({os.cpu_count()} CPUs seen, Python {platform.python_version()}), shared with other jobs: "
             "figures are noisy.", "",
             "Episode: a scripted agent writes the sample submission and submits it as final "
             "(two steps, one kernel start, grading, notebook and summary written).", "",
             f"Episodes per minute: the median of {args.rounds} interleaved rounds (min-max in brackets). "
             "The first round of each row runs a warm-up first (one episode per slot, not counted: the "
             "forkserver or Ray's workers import dojo-kernel once); its time is the last column. "
             f"Load average (1 min) at the start {load_before:.1f}, at the end {load_after:.1f}.", "",
             "| backend | parallel | episodes per round | episodes/min | vs local parallel 1 "
             "| median episode wall s | warm-up s |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["backend"], r["parallel"])):
        low, high = r["per_min_range"]
        lines.append(f"| {r['backend']} | {r['parallel']} | {r['episodes']} | {r['per_min']:.1f} "
                     f"[{low:.0f}-{high:.0f}] | {r['per_min'] / baseline:.2f}x | {r['episode_median_s']:.2f} "
                     f"| {r['warm_up_s']:.1f} |")
    if ray_start_s is not None:
        lines += ["", f"Starting the local Ray (not counted above): {ray_start_s:.1f} s."]
    lines += ["", "## Idle concurrent episodes (envs reset, each holding a live kernel that answered a cell)", "",
              f"- held: **{idle['held']} of {idle['target']}** tried ({idle['kernel_processes']} kernel processes), "
              f"all started in {idle['start_all_s']:.1f} s",
              f"- memory per idle episode: {idle['pss_per_episode_mb']:.0f} MB PSS of its kernel tree; "
              f"{idle['available_drop_per_episode_mb']:.0f} MB of available memory",
              f"- memory-bound estimate for this machine: about {idle['memory_bound_estimate']} idle episodes "
              f"({idle['available_before_gb']:.1f} GB available at the start)"]
    if idle["errors"]:
        lines.append(f"- first errors: {idle['errors']}")
    shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
