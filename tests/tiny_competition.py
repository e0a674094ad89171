"""A tiny competition for the env's tests: 40 test rows whose answers the tests know, so a
test can write a perfect, a useless or a public-only-perfect submission on purpose.

The label is 1 where x >= 50. Rows 0-19 are the public part of the answers, rows 20-39
the private part. Leaderboards hold accuracies 0.5, 0.6, ..., 0.95 (10 teams).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dojo_kernel.competition import Competition, register
from dojo_kernel.prepare.common import leaderboard_frame, sample_submission, write_competition

NAME = "tiny-threshold"
TEST_IDS = list(range(1000, 1040))
PUBLIC_IDS = TEST_IDS[:20]
TEST_X = [(i * 37) % 100 for i in range(40)]
ANSWERS = [int(x >= 50) for x in TEST_X]
BOARD = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def build(root: Path, name: str = NAME) -> Competition:
    """Write the competition under `root` and register it as `name`."""
    train_x = [(i * 53) % 100 for i in range(200)]
    answers = pd.DataFrame({"id": TEST_IDS, "label": ANSWERS,
                            "Usage": ["Public"] * 20 + ["Private"] * 20})
    path = write_competition(
        root / name,
        manifest={"name": name, "title": "Tiny threshold", "metric": "accuracy", "id_column": "id",
                  "target_columns": ["label"], "category": "tabular", "task": "binary", "level": "starter"},
        description="Predict `label` for each row of test.csv. The label is 1 where x is large.",
        answers=answers,
        sample=sample_submission(TEST_IDS, "id", {"label": 0}),
        public_files={
            "train.csv": pd.DataFrame({"id": range(200), "x": train_x, "label": [int(x >= 50) for x in train_x]}),
            "test.csv": pd.DataFrame({"id": TEST_IDS, "x": TEST_X}),
        },
        leaderboards={split: leaderboard_frame(BOARD, higher_is_better=True) for split in ("public", "private")},
        overwrite=True,
    )
    return register(path, name=name)


def submission_code(kind: str = "perfect") -> str:
    """A cell that writes working/submission.csv: "perfect", "constant" (all 0), or
    "public_only" (right on the public rows, wrong on the private ones)."""
    rule = {
        "perfect": "(test.x >= 50).astype(int)",
        "constant": "0",
        "public_only": "((test.x >= 50) ^ ~test.id.isin(range(1000, 1020))).astype(int)",
    }[kind]
    return ("import pandas as pd\n"
            "test = pd.read_csv('input/test.csv')\n"
            f"test['label'] = {rule}\n"
            "test[['id', 'label']].to_csv('working/submission.csv', index=False)\n")


def make_env(competition_dir: Path, output_dir: Path, **settings):
    """Register the competition written at `competition_dir` and make an env on it: for
    worker processes (a vector env's), which do not share the parent's registry."""
    import dojo_kernel

    competition = register(competition_dir, name=competition_dir.name)
    return dojo_kernel.make(competition.name, output_dir=output_dir, **settings)
