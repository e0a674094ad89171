"""Load: many envs stepping at once, each with its own kernel, for a fixed time.

Every worker makes an env on a small built-in competition and resets it; once all are
ready they step together for --seconds, cycling through quick cells, a data load, a
submission written and submitted, a request_info and a get_history. A failure is a step
that raised, a cell that did not end "ok", or a submission that was not valid. Reports the
step latency (median, p99, per action) and the throughput, then checks that no kernel is
left running. Workers are threads of one process (the default: one driver juggling every
env) or processes (--mode processes).

    python bench/load.py [--envs 32] [--seconds 120] [--mode threads|processes] [--write]

First one env steps alone for --baseline-seconds (15): the latency the load is compared with.

--write puts the results in bench/results/load.md. About 3 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import soak  # bench/ is on sys.path when this runs as a script

import dojo_kernel
from dojo_kernel.isolation import resolve_mode
from dojo_kernel.spaces import CELL_STATUSES

RESULTS = Path(__file__).resolve().parent / "results" / "load.md"
MARKER_VARIABLE = "DOJO_LOAD_MARK"
CYCLE: list[tuple[str, Any]] = [
    ("quick_cell", "total = sum(range(10_000))\nprint(total)"),
    ("load_data", "import pandas as pd\ntrain = pd.read_csv('input/train.csv')\nprint(train.describe().shape)"),
    ("write_submission", "import shutil\nshutil.copy('input/sample_submission.csv', 'working/submission.csv')"),
    ("submit", {"action": "submit"}),
    ("request_info", {"action": "request_info", "info_type": "data_structure"}),
    ("get_history", {"action": "get_history"}),
]


def worker(index: int, competition: str, output_dir: str, marker: str, seconds: float,
           barrier: Any, results: Any) -> None:
    """One env: reset, wait for the others, step until the time is up; put a dict in results."""
    record: dict[str, Any] = {"index": index, "latencies": [], "failures": [], "reset_s": None}
    env = None
    try:
        env = dojo_kernel.make(competition, output_dir=output_dir, warm_pool=0, memory_gb=1, cell_timeout_s=120,
                               startup_timeout_s=600, kernel_env={MARKER_VARIABLE: marker})
        started = time.perf_counter()
        env.reset(seed=index)
        record["reset_s"] = time.perf_counter() - started
        env.step(dict(CYCLE)["write_submission"])  # so that a cycle that begins with submit has a file
    except Exception as error:
        record["failures"].append(f"env {index} reset: {type(error).__name__}: {error}")
    try:
        barrier.wait()
        if env is not None and record["reset_s"] is not None:
            deadline = time.monotonic() + seconds
            number = index  # start each env at a different point of the cycle
            while time.monotonic() < deadline:
                name, action = CYCLE[number % len(CYCLE)]
                number += 1
                started = time.perf_counter()
                try:
                    obs, *_ = env.step(action)
                except Exception as error:
                    record["failures"].append(f"env {index} {name}: raised {type(error).__name__}: {error}")
                    continue
                took = time.perf_counter() - started
                record["latencies"].append((name, took))
                problem = _problem(name, obs)
                if problem:
                    record["failures"].append(f"env {index} {name}: {problem}")
    except Exception:
        record["failures"].append(f"env {index}: {traceback.format_exc()[-500:]}")
    finally:
        if env is not None:
            env.close()
        results.put(record)


def _problem(name: str, obs: dict[str, Any]) -> str | None:
    if isinstance(dict(CYCLE)[name], str) and CELL_STATUSES[int(obs["status"])] != "ok":
        return f"status {CELL_STATUSES[int(obs['status'])]}: {obs['feedback'][:300]}"
    if name == "submit" and not int(obs["valid_submission"]):
        return f"submission not valid: {obs['feedback'][:300]}"
    if name == "request_info" and "train.csv" not in obs["feedback"]:
        return f"request_info without the data: {obs['feedback'][:300]}"
    return None


def run(args: argparse.Namespace, output_dir: Path, marker: str) -> list[dict[str, Any]]:
    if args.mode == "threads":
        import queue
        barrier: Any = threading.Barrier(args.envs)
        results: Any = queue.Queue()
        workers = [threading.Thread(target=worker, args=(i, args.competition, str(output_dir), marker,
                                                         args.seconds, barrier, results), daemon=True)
                   for i in range(args.envs)]
    else:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(args.envs)
        results = context.Queue()
        workers = [context.Process(target=worker, args=(i, args.competition, str(output_dir), marker,
                                                        args.seconds, barrier, results))
                   for i in range(args.envs)]
    for each in workers:
        each.start()
    records = [results.get() for _ in workers]
    for each in workers:
        each.join()
    return records


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--mode", choices=("threads", "processes"), default="threads")
    parser.add_argument("--competition", default="iris-species")
    parser.add_argument("--baseline-seconds", type=float, default=15.0,
                        help="first, one env stepping alone this long: the latency to compare with")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    dojo_kernel.get_competition(args.competition)  # built before the clock starts
    marker = uuid.uuid4().hex
    load_start = os.getloadavg()[0]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dojo-load-") as scratch:
        alone = argparse.Namespace(**{**vars(args), "envs": 1, "mode": "threads", "seconds": args.baseline_seconds})
        baseline = run(alone, Path(scratch) / "baseline", marker)
        records = run(args, Path(scratch) / "runs", marker)
        left = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = soak.marked_processes(marker, variable=MARKER_VARIABLE)
            if not left:
                break
            time.sleep(0.2)
    wall = time.monotonic() - began
    load_end = os.getloadavg()[0]
    report = _report(args, records, baseline, left, wall, load_start, load_end)
    print(report)
    if args.write:
        RESULTS.write_text(report)
        print(f"wrote {RESULTS}")
    failures = [failure for record in records + baseline for failure in record["failures"]]
    return 1 if failures or left else 0


def _report(args, records, baseline, left, wall, load_start, load_end) -> str:
    latencies = [took for record in records for _, took in record["latencies"]]
    alone = [took for record in baseline for _, took in record["latencies"]]
    by_action: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for name, took in record["latencies"]:
            by_action[name].append(took)
    failures = [failure for record in records for failure in record["failures"]]
    resets = [record["reset_s"] for record in records if record["reset_s"] is not None]
    lines = [
        "# Load: concurrent envs stepping",
        "",
        f"- command: `python bench/load.py --envs {args.envs} --seconds {args.seconds:g} --mode {args.mode} "
        f"--baseline-seconds {args.baseline_seconds:g}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: 2-core, 24 GB, {platform.system()} {platform.release()}, Python {platform.python_version()} "
        f"(shared with other work: load average {load_start:.1f} at the start, {load_end:.1f} at the end)",
        f"- isolation: {resolve_mode('auto').mode}; competition {args.competition}; "
        f"{args.envs} envs as {args.mode}, one kernel each; the cycle: "
        + ", ".join(name for name, _ in CYCLE),
        f"- envs reset: {len(resets)} of {args.envs}; reset (all starting at once) median "
        f"{statistics.median(resets):.1f} s, max {max(resets):.1f} s" if resets else "- no env reset",
        f"- steps: {len(latencies)} in {args.seconds:g} s ({len(latencies) / args.seconds:.1f} steps/s across "
        f"all envs); failures: {len(failures)}; processes left after close: {left}; wall time {wall:.0f} s",
        f"- baseline, measured first in the same run: one env alone, {len(alone)} steps in "
        f"{args.baseline_seconds:g} s, median {statistics.median(alone) * 1000:.0f} ms, p99 "
        f"{percentile(alone, 0.99) * 1000:.0f} ms" + (
            f"; {args.envs} envs: median x{statistics.median(latencies) / statistics.median(alone):.1f}, "
            f"throughput x{len(latencies) / args.seconds / (len(alone) / args.baseline_seconds):.1f}"
            if latencies else "") if alone else "- baseline: none",
        "",
        "| action | steps | median ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    if latencies:
        lines.append(f"| all | {len(latencies)} | {statistics.median(latencies) * 1000:.0f} | "
                     f"{percentile(latencies, 0.99) * 1000:.0f} | {max(latencies) * 1000:.0f} |")
    for name, _ in CYCLE:
        values = by_action.get(name)
        if values:
            lines.append(f"| {name} | {len(values)} | {statistics.median(values) * 1000:.0f} | "
                         f"{percentile(values, 0.99) * 1000:.0f} | {max(values) * 1000:.0f} |")
    if failures:
        lines += ["", "Failures (first 10):", *(f"- {failure}" for failure in failures[:10])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
