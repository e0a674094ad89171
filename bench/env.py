"""DojoEnv: reset latency with and without the warm pool, and a stateful 10-step episode
against the same steps done statelessly.

1. reset(): the median and p99 of `reset()` with `warm_pool=1` (the next kernel starts in the
   background while the episode runs) and with `warm_pool=0` (reset starts a kernel and
   waits). Each measured reset follows a one-cell episode; with the pool, the bench waits
   until the pool holds a ready kernel (as any episode longer than a kernel's start does).
   Floor: median under 100 ms with the pool.
2. A realistic episode on a CSV of about 100 MB: step 1 loads it, steps 2-10 each fit and
   score a model on it. Stateful: the ten steps as cells of one DojoEnv episode (one kernel,
   the frame stays in memory). Stateless: the same nine model steps each as a fresh
   `python` process that must import pandas and scikit-learn and reload the CSV first, as
   MLE-Dojo runs each step. Floor: stateless / stateful >= 5x.

    python bench/env.py [--resets 15] [--rows 1000000]

Writes bench/results/env.md. About 2 to 3 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

import dojo_kernel
from dojo_kernel.competition import register
from dojo_kernel.isolation import resolve_mode
from dojo_kernel.prepare.common import leaderboard_frame, sample_submission, write_competition

RESULTS = Path(__file__).resolve().parent / "results" / "env.md"

LOAD = "import pandas as pd\ndf = pd.read_csv('input/train.csv')\nprint(df.shape)\n"
# Nine model steps: different models and settings, each fit on a split of the frame and scored.
MODELS = [
    "from sklearn.linear_model import Ridge as Model; params = dict(alpha=0.1)",
    "from sklearn.linear_model import Ridge as Model; params = dict(alpha=1.0)",
    "from sklearn.linear_model import Ridge as Model; params = dict(alpha=10.0)",
    "from sklearn.linear_model import LinearRegression as Model; params = {}",
    "from sklearn.linear_model import Lasso as Model; params = dict(alpha=0.01, max_iter=200)",
    "from sklearn.linear_model import ElasticNet as Model; params = dict(alpha=0.01, max_iter=200)",
    "from sklearn.linear_model import OrthogonalMatchingPursuit as Model; params = dict(n_nonzero_coefs=5)",
    "from sklearn.linear_model import Lars as Model; params = {}",
    "from sklearn.linear_model import BayesianRidge as Model; params = dict(max_iter=20)",
]
FIT = ("{model}\n"
       "features = [c for c in df.columns if c.startswith('f')]\n"
       "cut = int(len(df) * 0.8)\n"
       "model = Model(**params).fit(df[features][:cut], df['target'][:cut])\n"
       "print(type(model).__name__, round(model.score(df[features][cut:], df['target'][cut:]), 4))\n")


def build_competition(root: Path, rows: int) -> tuple[str, float]:
    """A regression competition whose train.csv is about 100 MB; returns (name, size in MB)."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 10)).round(6)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(10)])
    frame["target"] = (features @ rng.normal(size=10) + rng.normal(scale=0.5, size=rows)).round(6)
    frame.insert(0, "id", np.arange(rows))
    test_ids = list(range(100))
    answers = pd.DataFrame({"id": test_ids, "target": rng.normal(size=100),
                            "Usage": ["Public"] * 30 + ["Private"] * 70})
    path = write_competition(
        root / "bench-env",
        manifest={"name": "bench-env", "metric": "rmse", "id_column": "id", "target_columns": ["target"]},
        description="Predict target.", answers=answers,
        sample=sample_submission(test_ids, "id", {"target": 0.0}),
        public_files={"train.csv": frame},
        leaderboards={split: leaderboard_frame([0.5, 0.8, 1.0, 1.2], higher_is_better=False)
                      for split in ("public", "private")},
        overwrite=True)
    register(path, name="bench-env")
    return "bench-env", (path / "public" / "train.csv").stat().st_size / 1e6


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure_resets(name: str, out: Path, resets: int, warm_pool: int) -> list[float]:
    env = dojo_kernel.make(name, output_dir=out / f"pool{warm_pool}", warm_pool=warm_pool, isolation="auto")
    times = []
    try:
        env.reset()
        for _ in range(resets):
            env.step("x = 1")
            if warm_pool:
                deadline = time.monotonic() + 30
                while env._pool.ready < 1 and time.monotonic() < deadline:
                    time.sleep(0.02)
            started = time.perf_counter()
            env.reset()
            times.append(time.perf_counter() - started)
    finally:
        env.close()
    return times


def stateful_episode(name: str, out: Path) -> tuple[float, list[float], Path]:
    env = dojo_kernel.make(name, output_dir=out / "stateful", warm_pool=0, memory_gb=8, cell_timeout_s=600)
    try:
        env.reset()
        steps = []
        started = time.perf_counter()
        for code in [LOAD] + [FIT.format(model=model) for model in MODELS]:
            step_started = time.perf_counter()
            obs, *_ = env.step(code)
            steps.append(time.perf_counter() - step_started)
            assert "error" not in obs["feedback"].split("\n")[0], obs["feedback"][:2000]
        total = time.perf_counter() - started
        run_dir = env.run_dir
    finally:
        env.close()
    return total, steps, run_dir


def stateless_episode(run_dir: Path) -> tuple[float, list[float]]:
    """The same steps, each a fresh process that reloads everything (its cwd holds input/)."""
    steps = []
    started = time.perf_counter()
    for code in [LOAD] + [LOAD + FIT.format(model=model) for model in MODELS]:
        step_started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=run_dir, check=True, capture_output=True)
        steps.append(time.perf_counter() - step_started)
    return time.perf_counter() - started, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=15)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dojo-bench-env-"))
    os.environ["DOJO_DATA"] = str(workdir / "data")
    try:
        name, size_mb = build_competition(workdir / "data", args.rows)
        print(f"train.csv: {size_mb:.0f} MB, {args.rows} rows")
        warm = measure_resets(name, workdir, args.resets, warm_pool=1)
        cold = measure_resets(name, workdir, args.resets, warm_pool=0)
        for label, times in (("warm pool (warm_pool=1)", warm), ("no pool (warm_pool=0)", cold)):
            print(f"reset, {label}: median {statistics.median(times) * 1000:.1f} ms, "
                  f"p99 {percentile(times, 99) * 1000:.1f} ms (n={len(times)})")
        stateful, stateful_steps, run_dir = stateful_episode(name, workdir)
        stateless, stateless_steps = stateless_episode(run_dir)
        ratio = stateless / stateful
        print(f"10-step episode: stateful {stateful:.1f} s, stateless {stateless:.1f} s, ratio {ratio:.1f}x")
        write_results(args, size_mb, warm, cold, stateful, stateful_steps, stateless, stateless_steps)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    floors_met = statistics.median(warm) < 0.100 and ratio >= 5
    print("floors met" if floors_met else "FLOOR MISSED")
    return 0 if floors_met else 1


def write_results(args, size_mb, warm, cold, stateful, stateful_steps, stateless, stateless_steps) -> None:
    memory_gb = psutil.virtual_memory().total / 2**30
    lines = [
        "# DojoEnv: reset latency and a stateful episode vs a stateless one",
        "",
        f"Command: `python bench/env.py --resets {args.resets} --rows {args.rows}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {os.cpu_count()}-core, {memory_gb:.0f} GB ({platform.processor() or platform.machine()}), "
        f"shared with other work (load average {os.getloadavg()[0]:.1f} at the end)  ",
        f"Isolation: {resolve_mode('auto').mode}",
        "",
        "## reset()",
        "",
        "| | median | p99 | n |",
        "|---|---|---|---|",
        f"| warm pool (`warm_pool=1`) | {statistics.median(warm) * 1000:.1f} ms | {percentile(warm, 99) * 1000:.1f} ms "
        f"| {len(warm)} |",
        f"| no pool (`warm_pool=0`) | {statistics.median(cold) * 1000:.1f} ms | {percentile(cold, 99) * 1000:.1f} ms "
        f"| {len(cold)} |",
        "",
        "Floor: median under 100 ms with the pool. Each reset follows a one-cell episode; with the pool the",
        "bench waits until the next kernel is ready, as an episode longer than a kernel start does.",
        "",
        f"## A 10-step episode on a {size_mb:.0f} MB CSV",
        "",
        "Step 1 loads the CSV; steps 2-10 each fit and score a linear model (9 different ones) on 80/20 splits.",
        "",
        "| | total | step 1 | median of steps 2-10 |",
        "|---|---|---|---|",
        f"| stateful (one DojoEnv kernel) | {stateful:.1f} s | {stateful_steps[0]:.1f} s | "
        f"{statistics.median(stateful_steps[1:]):.2f} s |",
        f"| stateless (a fresh `python` per step, reloading) | {stateless:.1f} s | {stateless_steps[0]:.1f} s | "
        f"{statistics.median(stateless_steps[1:]):.2f} s |",
        "",
        f"**Ratio stateless / stateful: {stateless / stateful:.1f}x** (floor 5x).",
        "",
        "The ratio is the reload cost (interpreter, imports, CSV) against the model's own cost: models",
        "that take longer to fit than the data takes to load bring it towards 1x. Per step (s):",
        "",
        "| step | what | stateful | stateless |",
        "|---|---|---|---|",
        *[f"| {number} | {what} | {a:.2f} | {b:.2f} |" for number, (what, a, b) in enumerate(
            zip(["load the CSV"] + [model.split(" as ")[0].split()[-1] for model in MODELS],
                stateful_steps, stateless_steps, strict=True), start=1)],
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
