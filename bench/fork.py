"""Benchmark of KernelSession.fork(): fork latency for a parent holding a small and a large
state, against re-running the parent's cells in a fresh kernel (what a tree search does
without forking), and the memory (PSS, USS) of a fresh fork against its parent's.

    python bench/fork.py [--sizes-mb 10 2048] [--forks 5] [--isolation none] [--out bench/results/fork.md]

The parent's state is built by two cells, as an agent would build it: a NumPy array of
random numbers of the given size and a DataFrame over a view of it. "fork" is the time
`session.fork()` takes to return a ready session (the child has answered on its new
channels); "first cell" adds the child's first round trip. "re-run" starts a fresh kernel
and runs the same cells.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits, tree_pids


def state_cells(size_mb: int) -> list[str]:
    count = size_mb * 2**20 // 8
    return ["import numpy as np, pandas as pd",
            f"state = np.random.default_rng(0).random({count})\n"
            f"frame = pd.DataFrame({{'a': state[:100_000], 'b': state[-100_000:]}})\n"
            f"total = float(state.sum())"]


def kernel_pid(session: KernelSession) -> int:
    """The ipykernel process itself (under namespaces the launched process is the sandbox)."""
    for pid in tree_pids(session.pid):
        try:
            process = psutil.Process(pid)
            if process.name() != "bwrap" and "ipykernel_launcher" in process.cmdline():
                return pid
        except psutil.Error:
            continue
    return session.pid


def memory_mb(pid: int) -> tuple[float, float, float]:
    info = psutil.Process(pid).memory_full_info()
    return info.rss / 2**20, info.pss / 2**20, info.uss / 2**20


def measure(size_mb: int, forks: int, reruns: int, isolation: str, workdir: Path) -> dict:
    limits = Limits(memory_gb=None, cell_timeout_s=600)
    cells = state_cells(size_mb)
    parent = KernelSession(workdir, limits, isolation=isolation)
    try:
        for cell in cells:
            result = parent.run(cell)
            assert result.status == "ok", result.text
        parent_memory_before = memory_mb(kernel_pid(parent))
        fork_s, first_cell_s, child_memory, parent_memory = [], [], [], []
        for _ in range(forks):
            started = time.perf_counter()
            child = parent.fork()
            fork_s.append(time.perf_counter() - started)
            try:
                result = child.run("len(state)")
                first_cell_s.append(time.perf_counter() - started)
                assert result.status == "ok", result.text
                check = child.run("float(state.sum()) == total")  # the state is all there
                assert check.status == "ok" and "True" in check.text, check.text
                child_memory.append(memory_mb(kernel_pid(child)))
                parent_memory.append(memory_mb(kernel_pid(parent)))
            finally:
                child.close()
    finally:
        parent.close()
    rerun_s = []
    for _ in range(reruns):
        started = time.perf_counter()
        with KernelSession(workdir, limits, isolation=isolation) as fresh:
            for cell in cells:
                assert fresh.run(cell).status == "ok"
            rerun_s.append(time.perf_counter() - started)
    return {"size_mb": size_mb, "fork_s": fork_s, "first_cell_s": first_cell_s, "rerun_s": rerun_s,
            "parent_before": parent_memory_before, "parent_after": parent_memory[-1], "child": child_memory[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 2048])
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--isolation", default="none")
    parser.add_argument("--out", type=Path, default=Path("bench/results/fork.md"))
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="dojo-bench-fork-") as tmp:
        for size in args.sizes_mb:
            rows.append(measure(size, args.forks, args.reruns, args.isolation, Path(tmp)))
            print(f"{size} MB done", file=sys.stderr)
    small, large = rows[0], rows[-1]
    fork_ratio = statistics.median(large["fork_s"]) / statistics.median(small["fork_s"])
    lines = [
        "# KernelSession.fork()",
        "",
        f"`python bench/fork.py --sizes-mb {' '.join(map(str, args.sizes_mb))} --forks {args.forks} "
        f"--reruns {args.reruns} --isolation {args.isolation}`, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start.",
        "",
        "Times are medians (min-max) over the forks and re-runs; memory is the kernel process's own,",
        "read right after the fork's first cell (RSS counts pages shared with the parent in full; PSS",
        "splits them between the processes sharing them; USS is what only that process holds).",
        "",
        "| parent state | fork() | fork + first cell | re-run the cells in a fresh kernel | re-run / fork |",
        "|---|---|---|---|---|",
    ]

    def spread(samples: list[float]) -> str:
        return f"{statistics.median(samples):.3f} s ({min(samples):.3f}-{max(samples):.3f})"

    for row in rows:
        lines.append(f"| {row['size_mb']:,} MB | {spread(row['fork_s'])} | {spread(row['first_cell_s'])} | "
                     f"{spread(row['rerun_s'])} | "
                     f"{statistics.median(row['rerun_s']) / statistics.median(row['fork_s']):.1f}x |")
    lines += ["", f"fork() with {large['size_mb']:,} MB of state / with {small['size_mb']:,} MB: "
                  f"**{fork_ratio:.2f}x** (floor: at most 2x).", "",
              "| parent state | parent RSS / PSS / USS before the fork | parent after | fresh fork |",
              "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['size_mb']:,} MB | " + " | ".join(
            "{:,.0f} / {:,.0f} / {:,.0f} MB".format(*row[key]) for key in ("parent_before", "parent_after", "child")) + " |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
