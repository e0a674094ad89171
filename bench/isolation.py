"""The added cost of isolation: kernel start and the `1+1` round trip, namespaces vs none.

    python bench/isolation.py [--starts 10] [--round-trips 200] [--out bench/results/isolation.md]

Both modes are measured in the same run, interleaved (none, namespaces, none, ...), so
that the machine's load hits both alike. Start = KernelSession() until the kernel
answers; python -c pass = the sandbox alone around a bare interpreter; round trip =
KernelSession.run("1+1") on a warm kernel.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dojo_kernel import KernelSession, isolation

MODES = ("none", "namespaces")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(starts: int, round_trips: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {mode: {"start": [], "round_trip": [], "python_c_pass": []} for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="dojo-bench-") as tmp:
        public = Path(tmp, "public")
        public.mkdir()
        (public / "train.csv").write_text("a,b\n1,2\n")

        def start(mode: str, index: int) -> KernelSession:
            run_dir = Path(tmp, f"{mode}-{index}")
            run_dir.mkdir()
            began = time.perf_counter()
            session = KernelSession(run_dir, isolation=mode, input_source=public)
            times[mode]["start"].append(time.perf_counter() - began)
            return session

        for index in range(starts):
            for mode in MODES:
                start(mode, index).close()
        # The sandbox alone: `python -c pass`, bare and wrapped the way a kernel is.
        runtime_dir = Path(tmp, "runtime")
        runtime_dir.mkdir()
        for _ in range(starts * 2):
            for mode in MODES:
                spec = isolation.LaunchSpec(isolation.resolve_mode(mode), input_source=public)
                argv = isolation.wrap_command([sys.executable, "-c", "pass"], spec,
                                              cwd=Path(tmp, f"{mode}-0"), runtime_dir=runtime_dir)
                began = time.perf_counter()
                subprocess.run(argv, check=True)
                times[mode]["python_c_pass"].append(time.perf_counter() - began)
        # Round trips: one warm kernel per mode, both alive, calls alternating between them.
        sessions = {mode: start(mode, starts) for mode in MODES}
        try:
            for session in sessions.values():
                session.run("1+1")  # warm-up: the first execution imports display machinery
            for _ in range(round_trips):
                for mode, session in sessions.items():
                    began = time.perf_counter()
                    result = session.run("1+1")
                    times[mode]["round_trip"].append(time.perf_counter() - began)
                    assert result.text.strip() == "2", result.text
        finally:
            for session in sessions.values():
                session.close()
    return times


def report(times: dict[str, dict[str, list[float]]], command: str) -> str:
    lines = [
        "# Isolation cost",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        "Machine: 2-core, 24 GB (shared with other jobs while measuring)  ",
        f"bubblewrap: {isolation.resolve_mode('auto').bwrap or 'not found'}",
        "",
        "| measure | mode | n | median ms | p99 ms | median vs none |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"start": "kernel start", "python_c_pass": "`python -c pass`", "round_trip": "`1+1` round trip"}
    for measure_name, label in labels.items():
        base = statistics.median(times["none"][measure_name])
        for mode in MODES:
            values = times[mode][measure_name]
            median = statistics.median(values)
            lines.append(f"| {label} | {mode} | {len(values)} | {median * 1000:.1f} | "
                         f"{percentile(values, 0.99) * 1000:.1f} | {median / base:.2f}x "
                         f"({(median - base) * 1000:+.1f} ms) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = parser.parse_args()
    if isolation.resolve_mode("auto").mode != "namespaces":
        sys.exit(f"cannot compare: {isolation.resolve_mode('auto').warning}")
    table = report(measure(args.starts, args.round_trips), "python " + " ".join(sys.argv))
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
