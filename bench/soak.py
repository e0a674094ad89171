"""Soak: many short episodes back to back in one driver process, watching for leaks.

Each episode makes an env, resets it, takes 2 or 3 steps (load the data, write a
submission, and every other episode a `submit`) and closes it. Every --every episodes the
driver records its open file descriptors, threads, child processes, RSS, the kernels'
runtime folders left in /tmp (`dk-*`) and any process still carrying the soak's marker.
Flat lines from first to last mean nothing leaks; the script exits 1 where one grows or an
episode fails.

    python bench/soak.py [--episodes 500] [--every 50] [--write]

--write puts the results in bench/results/soak.md. 500 episodes take about 10 minutes on a
2-core machine (a kernel starts for every episode).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

import dojo_kernel
from dojo_kernel.isolation import resolve_mode
from dojo_kernel.spaces import CELL_STATUSES

RESULTS = Path(__file__).resolve().parent / "results" / "soak.md"
MARKER_VARIABLE = "DOJO_SOAK_MARK"
STEPS = [
    "import pandas as pd\ntrain = pd.read_csv('input/train.csv')\nprint(train.shape)",
    "import shutil\nshutil.copy('input/sample_submission.csv', 'working/submission.csv')\nprint('written')",
    {"action": "submit"},
]


def marked_processes(marker: str, variable: str = MARKER_VARIABLE) -> int:
    """Processes (zombies aside) that carry a bench's marker: kernels and their children."""
    count = 0
    for process in psutil.process_iter(["status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
            continue
        try:
            if process.environ().get(variable) == marker:
                count += 1
        except (psutil.Error, OSError):
            continue
    return count


def sample(episode: int, marker: str, started: float, kernel_dirs: list[Path]) -> dict[str, float]:
    gc.collect()
    me = psutil.Process()
    return {
        "episode": episode,
        "elapsed_s": time.monotonic() - started,
        "fds": me.num_fds(),
        "threads": threading.active_count(),
        "os_threads": me.num_threads(),
        "children": len(me.children(recursive=True)),
        "rss_mb": me.memory_info().rss / 2**20,
        "kernel_dirs": sum(1 for folder in kernel_dirs if folder.exists()),
        "marked": marked_processes(marker),
    }


def episode(number: int, competition: str, output_dir: Path, marker: str,
            kernel_dirs: list[Path]) -> tuple[float, list[str]]:
    """One episode; returns its wall time and the problems it met. Notes the kernel's runtime
    folder in `kernel_dirs` (close() must remove it)."""
    problems = []
    started = time.perf_counter()
    env = dojo_kernel.make(competition, output_dir=output_dir, warm_pool=0, kernel_env={MARKER_VARIABLE: marker},
                           memory_gb=2, cell_timeout_s=60)
    try:
        env.reset(seed=number)
        kernel_dirs.append(env._episode.session.runtime_dir)  # private, read only to check its removal
        for action in STEPS[: 2 + number % 2]:
            obs, *_ = env.step(action)
            if isinstance(action, str) and CELL_STATUSES[int(obs["status"])] != "ok":
                problems.append(f"episode {number}: {obs['feedback'][:300]}")
            if isinstance(action, dict) and not int(obs["valid_submission"]):
                problems.append(f"episode {number}: submit was not valid: {obs['feedback'][:300]}")
    except Exception as error:  # counted and reported, the soak goes on
        problems.append(f"episode {number}: {type(error).__name__}: {error}")
    finally:
        env.close()
    return time.perf_counter() - started, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--every", type=int, default=50, help="sample every this many episodes")
    parser.add_argument("--competition", default="iris-species")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(Path.cwd())}"
                        if RESULTS.is_relative_to(Path.cwd()) else f"write {RESULTS}")
    args = parser.parse_args()
    marker = uuid.uuid4().hex
    dojo_kernel.get_competition(args.competition)  # built before the clock starts
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dojo-soak-") as scratch:
        output_dir = Path(scratch) / "runs"
        started = time.monotonic()
        kernel_dirs: list[Path] = []
        samples = [sample(0, marker, started, kernel_dirs)]
        times: list[float] = []
        problems: list[str] = []
        for number in range(1, args.episodes + 1):
            took, found = episode(number, args.competition, output_dir, marker, kernel_dirs)
            times.append(took)
            problems.extend(found)
            if number == 1 or number % args.every == 0 or number == args.episodes:
                samples.append(sample(number, marker, started, kernel_dirs))
                print(_row(samples[-1]), flush=True)
        run_dirs = len(list(output_dir.iterdir())) if output_dir.exists() else 0
    load_end = os.getloadavg()[0]
    first, last = samples[1], samples[-1]  # after the first episode: imports and lazy state are in
    growth = {key: last[key] - first[key] for key in ("fds", "threads", "os_threads", "children", "kernel_dirs",
                                                       "marked")}
    leaks = {key: value for key, value in growth.items() if value > 0}
    report = _report(args, samples, times, problems, run_dirs, leaks, load_start, load_end)
    print(report)
    if args.write:
        RESULTS.write_text(report)
        print(f"wrote {RESULTS}")
    return 1 if problems or leaks or last["marked"] else 0


def _row(s: dict[str, float]) -> str:
    return (f"| {s['episode']:.0f} | {s['elapsed_s']:.0f} | {s['fds']:.0f} | {s['threads']:.0f} | "
            f"{s['os_threads']:.0f} | {s['children']:.0f} | {s['rss_mb']:.1f} | {s['kernel_dirs']:.0f} | "
            f"{s['marked']:.0f} |")


def _report(args, samples, times, problems, run_dirs, leaks, load_start, load_end) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    lines = [
        "# Soak: short episodes back to back",
        "",
        f"- command: `python bench/soak.py --episodes {args.episodes} --every {args.every}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: 2-core, 24 GB, {platform.system()} {platform.release()}, Python {platform.python_version()} "
        f"(shared with other work: load average {load_start:.1f} at the start, {load_end:.1f} at the end)",
        f"- isolation: {resolve_mode('auto').mode}; competition {args.competition}; "
        "each episode: make, reset, 2-3 steps (load data, write a submission, every other episode "
        "`submit`), close; warm_pool=0",
        f"- episodes: {len(times)}, failed steps or episodes: {len(problems)}, run dirs written: {run_dirs}",
        f"- episode wall time: median {statistics.median(times):.2f} s, p99 {p99:.2f} s, "
        f"total {sum(times) / 60:.1f} min",
        "",
        "Sampled after the episode named (0: before the first). fds: open file descriptors of the "
        "driver; threads: Python threads; OS threads; children: live child processes of the driver; "
        "kernel dirs: the episodes' kernel runtime folders (`/tmp/dk-*`) still present; marked: processes still carrying the soak's marker.",
        "",
        "| episode | elapsed s | fds | threads | OS threads | children | RSS MB | kernel dirs | marked |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_row(s) for s in samples),
        "",
        f"- first (after episode 1) to last: fds {samples[1]['fds']:.0f} -> {samples[-1]['fds']:.0f}, "
        f"threads {samples[1]['threads']:.0f} -> {samples[-1]['threads']:.0f}, children "
        f"{samples[1]['children']:.0f} -> {samples[-1]['children']:.0f}, RSS {samples[1]['rss_mb']:.1f} -> "
        f"{samples[-1]['rss_mb']:.1f} MB",
        f"- verdict: {'no growth in fds, threads, children or kernel dirs' if not leaks else f'GROWTH: {leaks}'}",
    ]
    if problems:
        lines += ["", "Problems (first 10):", *(f"- {problem}" for problem in problems[:10])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
