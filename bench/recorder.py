"""Per-step cost of TrajectoryRecorder.record() at step 10 and at step 1000.

The recorder rewrites trajectory.ipynb atomically after every step (fsync + rename) and
appends to rewards.jsonl, caching each cell's JSON; this measures that the cost per step
stays nearly flat as the episode grows. Baseline, measured in the same run: rewriting the
whole notebook with nbformat.write (re-serializing every cell), at the same sizes.

Each step is a realistic one: an agent message, a 12-line cell, ~2 KB of printed output, a
grade every fifth step.

    python bench/recorder.py [--late-step 1000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from dojo_kernel.grading import Grade
from dojo_kernel.kernel import CellResult
from dojo_kernel.limits import Limits
from dojo_kernel.trajectory import StepRecord, TrajectoryRecorder

WINDOW = 10  # steps on each side of the step measured


def make_record(step: int) -> StepRecord:
    code = "\n".join(f"feature_{i} = train['x'] * {i} + {step}" for i in range(12))
    text = "".join(f"epoch {i:3d}  loss {1 / (i + step):.6f}  accuracy {0.5 + i / 100:.4f}\n" for i in range(40))
    result = CellResult(status="ok", outputs=[{"output_type": "stream", "name": "stdout", "text": text}],
                        text=text, duration_s=0.42, peak_rss_bytes=512 * 2**20, execution_count=step)
    grade = None
    if step % 5 == 0:
        grade = Grade(valid=True, score=0.8, position=0.6, rank=40, teams=100, split="public",
                      metric="accuracy", higher_is_better=True)
    return StepRecord(step=step, action="execute_code", code=code, message=f"Step {step}: add features.",
                      result=result, grade=grade, reward=0.01, scores={"score": 0.8, "position": 0.6},
                      best={"score": 0.8, "position": 0.6, "step": 5}, elapsed_s=step * 3.0,
                      budget_left={"steps": None, "time_s": None}, feedback=text)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def new_recorder(folder: Path, name: str, steps: int) -> TrajectoryRecorder:
    """A recorder that already holds `steps` steps."""
    recorder = TrajectoryRecorder(folder / name, competition="bench", agent="bench", limits=Limits(), settings={})
    for step in range(1, steps + 1):
        recorder.record(make_record(step))
    return recorder


def bench_recorder(folder: Path, late_step: int) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """Wall and CPU seconds of record() around step 10 and around `late_step`. The two
    recorders take turns, one step each, so that both meet the same disk and CPU load
    (the machine is shared and fsync latency swings with other writers)."""
    early = new_recorder(folder, "early", 10 - WINDOW // 2 - 1)
    late = new_recorder(folder, "late", late_step - WINDOW - 1)
    wall: dict[str, list[float]] = {"early": [], "late": []}
    cpu: dict[str, list[float]] = {"early": [], "late": []}
    for offset in range(2 * WINDOW + 1):
        for name, recorder, step in (("early", early, 10 - WINDOW // 2 + offset), ("late", late, late_step - WINDOW + offset)):
            record = make_record(step)
            started, started_cpu = time.perf_counter(), time.process_time()
            recorder.record(record)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    size = late.notebook_path.stat().st_size
    early.close({})
    late.close({})
    return wall, cpu, size


def bench_naive(folder: Path, at_step: int, repeats: int) -> list[float]:
    """One step's cost when the whole notebook is rebuilt and rewritten by nbformat."""
    recorder = TrajectoryRecorder(folder / f"naive-{at_step}", competition="bench", agent="bench",
                                  limits=Limits(), settings={})
    for step in range(1, at_step + 1):
        recorder.record(make_record(step))
    notebook = nbformat.read(recorder.notebook_path, as_version=4)
    costs = []
    for _ in range(repeats):
        started = time.perf_counter()
        nbformat.write(notebook, folder / f"naive-{at_step}.ipynb")
        costs.append(time.perf_counter() - started)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--late-step", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        wall, cpu, size = bench_recorder(folder, args.late_step)
        naive_early = bench_naive(folder, 10, 20)
        naive_late = bench_naive(folder, args.late_step, 20)

    def row(name: str, values: list[float], cpu_values: list[float] | None = None) -> str:
        cpu_text = f"{statistics.median(cpu_values) * 1e3:.2f}" if cpu_values else "-"
        return f"| {name} | {statistics.median(values) * 1e3:.2f} | {percentile(values, 0.99) * 1e3:.2f} | {cpu_text} |"

    late = args.late_step
    print(f"notebook at step {late + WINDOW}: {size / 2**20:.1f} MiB")
    print("| per step (ms) | median wall | p99 wall | median CPU |")
    print("|---|---|---|---|")
    print(row("recorder, steps 5-15", wall["early"], cpu["early"]))
    print(row(f"recorder, steps {late - WINDOW}-{late + WINDOW}", wall["late"], cpu["late"]))
    print(row("nbformat.write of the whole notebook at step 10 (baseline)", naive_early))
    print(row(f"nbformat.write of the whole notebook at step {late} (baseline)", naive_late))
    ratio = statistics.median(wall["late"]) / statistics.median(wall["early"])
    cpu_ratio = statistics.median(cpu["late"]) / statistics.median(cpu["early"])
    naive_ratio = statistics.median(naive_late) / statistics.median(naive_early)
    print(f"step {late} / step 10: recorder {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU; baseline {naive_ratio:.1f}x")


if __name__ == "__main__":
    main()
