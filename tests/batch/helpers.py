"""What the batch's tests share: two tiny competitions in a data root of their own, the
scripted agents' names and settings, and readers of a batch's results."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

SUBMIT = "batch.agents:SubmitSampleAgent"
FAILING = "batch.agents:FailingAgent"
DYING = "batch.agents:DyingAgent"
MEMORY_HOG = "batch.agents:MemoryHogAgent"
SETTINGS = {"max_steps": 4, "memory_gb": 2, "cell_timeout_s": 60}
COMPETITIONS = ("tiny-labels", "tiny-values")


def _write_tiny_competition(root: Path, name: str, metric: str, higher_is_better: bool) -> None:
    import numpy as np
    import pandas as pd

    from dojo_kernel.prepare.common import assign_usage, leaderboard_frame, write_competition

    rng = np.random.default_rng(len(name))
    ids = [f"r{i}" for i in range(40)]
    target = rng.integers(0, 2, size=40) if metric == "accuracy" else rng.normal(size=40).round(3)
    answers = pd.DataFrame({"id": ids[20:], "y": target[20:], "Usage": assign_usage(20, seed=0)})
    train = pd.DataFrame({"id": ids[:20], "x": rng.normal(size=20).round(3), "y": target[:20]})
    board = leaderboard_frame(np.linspace(0.2, 0.9, 10) if higher_is_better else np.linspace(0.5, 2, 10),
                              higher_is_better)
    write_competition(root / name, manifest={"name": name, "metric": metric, "id_column": "id",
                                             "target_columns": ["y"], "category": "tabular", "level": "starter"},
                      description=f"# {name}\nPredict y.", answers=answers,
                      sample=pd.DataFrame({"id": ids[20:], "y": 0}),
                      public_files={"train.csv": train, "test.csv": train.drop(columns="y").assign(id=ids[20:])},
                      leaderboards={"public": board, "private": board})


@contextlib.contextmanager
def tiny_competitions(root: Path) -> Iterator[list[str]]:
    """Two tiny competitions in a data root of their own ($DOJO_DATA, which workers inherit)."""
    _write_tiny_competition(root, COMPETITIONS[0], "accuracy", True)
    _write_tiny_competition(root, COMPETITIONS[1], "rmse", False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOJO_DATA", str(root))
        yield list(COMPETITIONS)


def result_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as file:
        return list(csv.DictReader(file))


def no_process_left_in(folder: Path, within_s: float = 3.0) -> None:
    """Fail unless every process working under `folder` (kernels, what they started) is gone
    within `within_s` (killed processes take a moment to be reaped)."""
    from conftest import processes_under
    from waiting import wait_until

    wait_until(lambda: not processes_under(folder), timeout=within_s,
               message=f"no process left working under {folder}")
