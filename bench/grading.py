"""Grading time for 10^4, 10^5 and 10^6 rows.

    python bench/grading.py [--sizes 10000 100000 1000000] [--out bench/results/grading.md]

For each size it writes a competition (string ids, answers with a Usage column, a
1,000-entry leaderboard) and a shuffled submission, then times Competition.grade:
"cold" is the first grade of a fresh Competition (it reads and indexes the answers),
"warm" the later ones (the answers are cached, as during an episode). The baseline,
timed in the same run, is the least any grader must do: pandas.read_csv of the
submission plus the metric on already-aligned arrays. Floor (issue 3): 10^6 rows in
under 2 s for a single-target metric.
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

import numpy as np
import pandas as pd

from dojo_kernel.competition import load_competition_dir
from dojo_kernel.metrics import get_metric
from dojo_kernel.prepare.common import assign_usage, leaderboard_frame, write_competition

CASES = {  # metric -> (target columns, how to make answers, how to make predictions)
    "rmse": (["y"], lambda g, n: {"y": g.normal(0, 1, n)}, lambda g, a: {"y": a["y"] + g.normal(0, 0.5, len(a))}),
    "roc_auc": (["y"], lambda g, n: {"y": g.integers(0, 2, n)}, lambda g, a: {"y": g.random(len(a))}),
    "accuracy": (
        ["y"],
        lambda g, n: {"y": np.array(["cat", "dog", "owl"])[g.integers(0, 3, n)]},
        lambda g, a: {"y": np.array(["cat", "dog", "owl"])[g.integers(0, 3, len(a))]},
    ),
    "multiclass_log_loss": (
        ["c0", "c1", "c2", "c3", "c4"],
        lambda g, n: {f"c{j}": col for j, col in enumerate(np.eye(5, dtype=int)[g.integers(0, 5, n)].T)},
        lambda g, a: {f"c{j}": col for j, col in enumerate(g.dirichlet(np.ones(5), len(a)).T)},
    ),
}


def timed(function, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each call (CPU time is less disturbed by other jobs)."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def bench(root: Path, metric: str, n: int, repeats: int) -> dict[str, float]:
    generator = np.random.default_rng(0)
    targets, make_answers, make_predictions = CASES[metric]
    ids = np.char.add("row", np.arange(n).astype(str))
    answers = pd.DataFrame({"id": ids, **make_answers(generator, n)})
    answers["Usage"] = assign_usage(n, 0)
    higher = get_metric(metric).higher_is_better
    board = leaderboard_frame(generator.random(1000), higher)
    folder = write_competition(
        root / f"{metric}-{n}",
        manifest={"name": f"{metric}-{n}", "metric": metric, "id_column": "id", "target_columns": targets},
        description="bench",
        answers=answers,
        sample=answers[["id", *targets]],
        leaderboards={"public": board, "private": board},
    )
    submission = pd.DataFrame({"id": ids, **make_predictions(generator, answers)}).sample(frac=1, random_state=1)
    path = root / f"submission-{metric}-{n}.csv"
    submission.to_csv(path, index=False)

    competition = load_competition_dir(folder)
    cold_start = time.perf_counter()
    grade = competition.grade(path, split="public")
    cold = time.perf_counter() - cold_start
    assert grade.valid, grade.error
    warm, warm_cpu = timed(lambda: competition.grade(path, split="public"), repeats)

    metric_fn = get_metric(metric)
    aligned = submission.set_index("id").loc[ids, targets]

    def baseline() -> None:
        pd.read_csv(path)
        truth, guess = answers[targets], aligned
        if not metric_fn.multi_target:
            truth, guess = truth.iloc[:, 0], guess.iloc[:, 0]
        metric_fn(truth, guess)

    base, _ = timed(baseline, repeats)
    return {
        "cold": cold,
        "warm_median": statistics.median(warm),
        "warm_max": max(warm),
        "warm_cpu_median": statistics.median(warm_cpu),
        "baseline_median": statistics.median(base),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--metrics", nargs="+", default=list(CASES))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grading.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            repeats = 15 if n <= 10_000 else 5 if n <= 100_000 else 3
            for metric in args.metrics:
                result = bench(Path(tmp), metric, n, repeats)
                ratio = result["warm_median"] / result["baseline_median"]
                rows.append((n, metric, repeats, result, ratio))
                print(
                    f"{n:>9,} {metric:<20} cold {result['cold']:.3f}s  warm median {result['warm_median']:.3f}s "
                    f"(max {result['warm_max']:.3f}s, CPU {result['warm_cpu_median']:.3f}s)  baseline {result['baseline_median']:.3f}s  x{ratio:.1f}",
                    flush=True,
                )
    lines = [
        "# Grading time",
        "",
        f"Command: `python bench/grading.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"Machine: 2-core, 24 GB, shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end), Python {platform.python_version()}, pandas {pd.__version__}",
        "",
        "Public-split grade of a shuffled submission with string ids (read safely, checked, aligned by id, scored,",
        "placed on a 1,000-entry leaderboard). Cold: first grade of a fresh Competition (reads the answers).",
        "Warm: answers cached, as during an episode. Baseline: `pd.read_csv(submission)` + the metric on pre-aligned",
        "arrays, timed in the same run. Floor: 10^6 rows < 2 s for a single-target metric.",
        "Warm CPU is this process's own CPU time: on a machine shared with other jobs, wall time also counts the",
        "time spent waiting for a core, so CPU time is the number to hold to the floor there.",
        "",
        "| rows | metric | repeats | cold (s) | warm median (s) | warm max (s) | warm CPU median (s) | baseline median (s) | warm / baseline |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, metric, repeats, result, ratio in rows:
        lines.append(
            f"| {n:,} | {metric} | {repeats} | {result['cold']:.3f} | {result['warm_median']:.3f} | "
            f"{result['warm_max']:.3f} | {result['warm_cpu_median']:.3f} | {result['baseline_median']:.3f} | {ratio:.1f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
