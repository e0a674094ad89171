"""The kit every built-in competition is built with: its spec, its description and its writer.

A built-in competition is one row of the table in ``builtin_specs.py``; its loader (in
``builtin_loaders.py`` and friends) reads a dataset that an installed package ships and hands
it to :func:`tabular` (or ``forecasting.forecast_competition``), which splits it with a fixed
seed, trains and scores the reference ladder, writes the description and the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..metrics import get_metric
from .common import USAGE_COLUMN, assign_usage, seeded_split, write_competition

if TYPE_CHECKING:
    from . import ladder

# Stored in each manifest; a directory built by another version is rebuilt, so a change to a
# built-in never meets stale files.
BUILD_VERSION = 2
SEED = 20240601  # every built-in split and ladder derives from this


@dataclass(frozen=True)
class BuiltinSpec:
    """One built-in competition: a row of the table in builtin_specs.py."""

    name: str
    title: str
    category: str  # tabular | image | text | time-series
    task: str  # binary | multiclass | regression | count-regression | forecast | ...
    metric: str
    level: str  # starter | easy | medium | hard
    summary: str  # one line for `dojo list`
    build: Callable[["BuiltinSpec", Path], None]
    rows: int = 0  # rows of the source data used (train + test), for `dojo list` and the headroom table
    needs: str | None = None  # an optional package the loader imports (installed by the `builtins` extra)
    tags: tuple[str, ...] = field(default_factory=tuple)

# ---------------------------------------------------------------- descriptions

METRIC_TEXT = {
    "roc_auc": "area under the ROC curve (AUC) of your predicted probabilities; 0.5 is chance, 1.0 is perfect. Higher is better.",
    "accuracy": "accuracy: the share of test rows whose predicted label is exactly right. Higher is better.",
    "f1_macro": "macro-averaged F1 score: the F1 of each class, averaged with equal weight per class. Higher is better.",
    "multiclass_log_loss": (
        "multiclass log loss: minus the mean log of the probability you gave the true class. Each row is divided by its sum "
        "and probabilities are clipped to [1e-15, 1 - 1e-15] first, so one confident mistake costs about 34.5. Lower is better."
    ),
    "rmse": "root mean squared error (RMSE) between your predictions and the true values. Lower is better.",
    "rmsle": "root mean squared logarithmic error: RMSE of log(1 + prediction) against log(1 + truth), so relative errors count. Predictions must be above -1. Lower is better.",
    "mae": "mean absolute error (MAE) between your forecasts and the observed values. Lower is better.",
}


def describe(
    spec: BuiltinSpec,
    *,
    about: str,
    files: Sequence[tuple[str, str]],
    sample: pd.DataFrame,
    target_note: str,
    boards: dict[str, pd.DataFrame],
    source: str,
) -> str:
    """A competition description in markdown: task, files, metric, submission format, leaderboard."""
    example = sample.head(3).to_csv(index=False).strip()
    columns = ", ".join(f"`{c}`" for c in sample.columns)
    families = boards["private"].groupby("family", sort=False)["team"].count()
    family_text = ", ".join(f"{family} ({count})" for family, count in families.items())
    best = boards["private"].iloc[0]
    lines = [
        f"# {spec.title}",
        "",
        about,
        "",
        "## Task",
        "",
        target_note,
        "",
        "## Files",
        "",
        *[f"- `{name}`: {text}" for name, text in files],
        "",
        "## Metric",
        "",
        f"Submissions are scored with {METRIC_TEXT[spec.metric]}",
        "",
        "## Submission format",
        "",
        f"Write `submission.csv` with the columns {columns} and one row per test id (any row order), for example:",
        "",
        "```csv",
        example,
        "```",
        "",
        "`sample_submission.csv` has this format and a trivial prediction for every test id.",
        "",
        "## Leaderboard",
        "",
        f"This competition's leaderboard is a **reference ladder, not human teams**: {len(boards['private'])} reference "
        f"solutions ({family_text}) trained on `train` and scored on the hidden answers when the competition was built. "
        f"Your position is the share of these reference solutions your score beats or ties. The best reference solution "
        f"({best['team']}) scores {best['score']:.5g} on the private part. About 30% of the test rows form the public "
        "part you are scored on during an episode; the rest decide the final, private score.",
        "",
        "## Source",
        "",
        source,
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- tabular competitions


def tabular(
    spec: BuiltinSpec,
    target_dir: Path,
    *,
    frame: pd.DataFrame,
    target: str,
    about: str,
    source: str,
    tags: list[str],
    output: str,  # "label" | "probability" | "class_probabilities" | "value"
    count_target: bool = False,
    public_files_for: Callable[[pd.DataFrame, pd.DataFrame], dict[str, Any]] | None = None,
    extra_rungs: Sequence[ladder.Rung] = (),
    file_notes: Sequence[tuple[str, str]] | None = None,
    target_note: str = "",
    extra_hints: dict[str, str] | None = None,
) -> None:
    from . import ladder  # scikit-learn: imported only when a competition is built

    rng = np.random.default_rng(SEED)
    n = len(frame)
    frame = frame.reset_index(drop=True)
    frame.insert(0, "id", rng.permutation(n) + 1)  # shuffled ids: the row order of the source must not leak
    classification = output != "value"
    train_idx, test_idx = seeded_split(n, 0.3, SEED, stratify=frame[target] if classification else None)
    train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    features = [c for c in frame.columns if c not in ("id", target)]
    x_train, x_test = train[features], test[features]
    y_train = train[target].to_numpy()
    metric = get_metric(spec.metric)

    if output == "class_probabilities":
        classes = sorted(pd.unique(frame[target]))
        target_columns = [str(c) for c in classes]
        answers = pd.DataFrame({"id": test["id"]})
        for c in classes:
            answers[str(c)] = (test[target] == c).astype(int)
        prior = train[target].value_counts(normalize=True)
        sample = pd.DataFrame({"id": test["id"], **{str(c): round(float(prior.get(c, 0.0)), 6) for c in classes}})

        def to_predictions(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            probabilities = model.predict_proba(x)
            return pd.DataFrame(probabilities, columns=[str(c) for c in model.classes_])[target_columns]

    else:
        target_columns = [target]
        answers = pd.DataFrame({"id": test["id"], target: test[target]})
        if output == "probability":
            constant: Any = round(float(np.mean(y_train == 1)), 6)
        elif output == "label":
            constant = pd.Series(y_train).value_counts().sort_index(kind="mergesort").idxmax()
        else:
            constant = round(float(np.mean(y_train)), 6)
        sample = pd.DataFrame({"id": test["id"], target: constant})

        def to_predictions(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            if output == "probability":
                values = model.predict_proba(x)[:, list(model.classes_).index(1)]
            else:
                values = model.predict(x)
            return pd.DataFrame({target: values})

    if classification:
        rungs = ladder.classifier_rungs(len(train), label_output=output == "label", n_classes=frame[target].nunique())
    else:
        rungs = ladder.regressor_rungs(len(train), count_target=count_target, log_target=spec.metric == "rmsle")
    entries = ladder.fit_tabular_ladder([*rungs, *extra_rungs], x_train, y_train, x_test, to_predictions)
    if count_target:  # counts cannot be negative; a linear model's can
        for entry in entries:
            entry.predictions[target] = entry.predictions[target].clip(lower=0)
    answers[USAGE_COLUMN] = assign_usage(len(answers), SEED + 1)
    boards = ladder.score_ladder(
        entries, answers, target_columns, metric, answers[USAGE_COLUMN].eq("Public").to_numpy()
    )

    files = list(
        file_notes
        or [
            ("train.csv", f"{len(train)} rows: `id`, the features and the target `{target}`."),
            ("test.csv", f"{len(test)} rows: `id` and the same features, without the target."),
        ]
    )
    files.append(("sample_submission.csv", "a valid submission with a trivial prediction for every test id."))
    if public_files_for is None:
        public_files = {"train.csv": train, "test.csv": test.drop(columns=[target])}
    else:
        public_files = public_files_for(train, test)
    description = describe(
        spec, about=about, files=files, sample=sample, target_note=target_note, boards=boards, source=source
    )
    write_builtin(
        spec,
        target_dir,
        target_columns=target_columns,
        answers=answers,
        sample=sample,
        description=description,
        public_files=public_files,
        boards=boards,
        tags=tags,
        source=source,
        train_target=target,
        extra_hints=extra_hints,
    )


def write_builtin(
    spec: BuiltinSpec,
    target_dir: Path,
    *,
    target_columns: list[str],
    answers: pd.DataFrame,
    sample: pd.DataFrame,
    description: str,
    public_files: dict[str, Any],
    boards: dict[str, pd.DataFrame],
    tags: list[str],
    source: str,
    train_target: str,
    id_column: str = "id",
    extra_hints: dict[str, str] | None = None,
) -> None:
    # The [source] table also tells a scripted agent where the training labels are, since the
    # submission's target columns (e.g. one per class) need not be the training file's.
    hints = {"train_file": "train.csv", "test_file": "test.csv", "train_target": train_target, **(extra_hints or {})}
    manifest = {
        "name": spec.name,
        "title": spec.title,
        "metric": spec.metric,
        "id_column": id_column,
        "target_columns": target_columns,
        "category": spec.category,
        "task": spec.task,
        "level": spec.level,
        "submission_file": "submission.csv",
        "tags": ["built-in", *tags],
        "split": {"public_fraction": 0.3, "usage_column": USAGE_COLUMN},
        "leaderboard": {"kind": "reference-ladder", "entries": len(boards["private"])},
        "source": {
            "citation": source,
            "builder": "dojo_kernel.prepare.builtin",
            "build_version": BUILD_VERSION,
            "seed": SEED,
            **hints,
        },
    }
    write_competition(
        target_dir,
        manifest=manifest,
        description=description,
        answers=answers,
        sample=sample,
        public_files=public_files,
        leaderboards=boards,
        overwrite=False,  # build() retired any stale copy; a concurrent builder's identical copy may win
    )


def snake(name: str) -> str:
    return "_".join(name.replace("(", " ").replace(")", " ").split()).lower()


