"""The kit every built-in competition is built with: its spec, its description and its writer.

A built-in competition is one row of the table in ``builtin_specs.py``; its loader (in
``builtin_loaders.py`` and friends) reads a dataset that an installed package ships and hands
it to :func:`tabular` (or ``forecasting.forecast_competition``), which splits it with a fixed
seed, trains and scores the reference ladder, writes the description and the files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..metrics import get_metric
from .common import USAGE_COLUMN, assign_usage, seeded_split, write_competition

if TYPE_CHECKING:
    from . import ladder

# Stored in each manifest; a directory built by another version is rebuilt, so a change to a
# built-in never meets stale files.
BUILD_VERSION = 6
SEED = 20240601  # every built-in split and ladder derives from this
# Set (by ``builtin.build(..., quick=True)``) where only the files matter, not the ranking: the
# tabular ladders then fit a handful of rungs, so a test session can build all built-ins fast.
QUICK_LADDER: ContextVar[bool] = ContextVar("QUICK_LADDER", default=False)
# How many rungs of a ladder fit at a time, in worker processes (set by ``builtin.build``):
# the board is the same whatever it is, only the wall time changes.
LADDER_JOBS: ContextVar[int] = ContextVar("LADDER_JOBS", default=1)


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
    build: Callable[[BuiltinSpec, Path], None]
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
    "mae": "mean absolute error (MAE) between your predictions and the observed values. Lower is better.",
    "poisson_deviance": (
        "mean Poisson deviance, the usual loss for counts: 2 * (y * log(y / p) - (y - p)) averaged over rows. "
        "Predictions must be above 0. Lower is better."
    ),
    "mean_columnwise_auc": (
        "the area under the ROC curve of each label column, averaged over the label columns: submit a probability "
        "per label, not a 0/1 decision. Higher is better."
    ),
    "map@3": (
        "mean average precision at 3 (MAP@3): each row lists up to three space-separated labels, best first; a row "
        "scores 1 if the true label is first, 1/2 if second, 1/3 if third, else 0. Higher is better."
    ),
    "mape": "mean absolute percentage error: the mean of |prediction - truth| / |truth| (0.1 = 10%). Lower is better.",
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
    column_lines: Sequence[tuple[str, str]] = (),
) -> str:
    """A competition description in markdown: task, files, columns, metric, submission format, leaderboard."""
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
        *(["## Columns", "", *[f"- `{name}`: {text}" for name, text in column_lines], ""] if column_lines else []),
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
    target: str | list[str],
    about: str,
    source: str,
    tags: list[str],
    output: str,  # "label" | "probability" | "class_probabilities" | "ranking" | "multilabel" | "value"
    count_target: bool = False,
    public_files_for: Callable[[pd.DataFrame, pd.DataFrame], dict[str, Any]] | None = None,
    extra_rungs: Sequence[ladder.Rung] = (),
    file_notes: Sequence[tuple[str, str]] | None = None,
    target_note: str = "",
    extra_hints: dict[str, str] | None = None,
    column_notes: dict[str, str] | None = None,
    hidden_from_test: Sequence[str] = (),
    blend_trees: tuple[int, int] | None = None,
    strong_rounds: int | None = None,
) -> None:
    """Split ``frame``, fit and score the reference ladder, write the competition.

    ``target`` is one column, or several 0/1 columns for ``output="multilabel"``.
    ``hidden_from_test``: columns that train.csv has but test.csv lacks (known only after the
    fact, such as a delay measured on arrival); the ladder does not use them either.
    ``blend_trees`` and ``strong_rounds``: smaller forests in a regression ladder's two blends,
    and fewer boosting rounds at its top (``ladder.strong_rungs``), for a table too wide for the defaults.
    """
    from . import ladder  # scikit-learn: imported only when a competition is built

    rng = np.random.default_rng(SEED)
    n = len(frame)
    frame = frame.reset_index(drop=True)
    frame.insert(0, "id", rng.permutation(n) + 1)  # shuffled ids: the row order of the source must not leak
    targets = [target] if isinstance(target, str) else list(target)
    classification = output != "value"
    stratify = frame[targets[0]] if classification else None
    train_idx, test_idx = seeded_split(n, 0.3, SEED, stratify=stratify)
    train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    features = [c for c in frame.columns if c not in ("id", *targets, *hidden_from_test)]
    x_train, x_test = train[features], test[features]
    y_train = train[targets].to_numpy() if output == "multilabel" else train[targets[0]].to_numpy()
    metric = get_metric(spec.metric)
    target_columns, answers, sample, to_predictions = _targets(output, targets, train, test, metric)

    if output == "multilabel":
        from sklearn.multioutput import MultiOutputClassifier

        rungs = [
            (team, MultiOutputClassifier(estimator), family)
            for team, estimator, family in ladder.classifier_rungs(len(train), label_output=False, small=True)
        ]
    elif classification:
        rungs = ladder.classifier_rungs(len(train), label_output=output == "label", n_classes=frame[targets[0]].nunique(),
                                        rarest_class=int(train[targets[0]].value_counts().min()))
    else:
        rungs = ladder.regressor_rungs(len(train), count_target=count_target, log_target=spec.metric == "rmsle",
                                       blend_trees=blend_trees, strong_rounds=strong_rounds)
    rungs = [*rungs, *extra_rungs]
    if QUICK_LADDER.get():  # tests: the trivial rungs and the two simplest others, not the whole ladder
        rungs = [r for r in rungs if r[2] == "trivial"] + [r for r in rungs if r[2] in ("linear", "tree")][:2]
    entries = ladder.fit_tabular_ladder(rungs, x_train, y_train, x_test, to_predictions, jobs=LADDER_JOBS.get())
    if count_target or spec.metric == "poisson_deviance":  # counts cannot be negative; a linear model's can
        floor = 1e-6 if spec.metric == "poisson_deviance" else 0.0
        for entry in entries:
            entry.predictions[targets[0]] = entry.predictions[targets[0]].clip(lower=floor)
    answers[USAGE_COLUMN] = assign_usage(len(answers), SEED + 1)
    boards = ladder.score_ladder(
        entries, answers, target_columns, metric, answers[USAGE_COLUMN].eq("Public").to_numpy()
    )

    public_test = test.drop(columns=[*targets, *hidden_from_test])
    shown = ", ".join(f"`{c}`" for c in targets)
    files = list(
        file_notes
        or [
            ("train.csv", f"{len(train)} rows: `id`, the features and the target {shown}."),
            ("test.csv", f"{len(test)} rows: `id` and the features, without the target"
             + (f" and without {', '.join(f'`{c}`' for c in hidden_from_test)}" if hidden_from_test else "") + "."),
        ]
    )
    files.append(("sample_submission.csv", "a valid submission with a trivial prediction for every test id."))
    if public_files_for is None:
        public_files = {"train.csv": train, "test.csv": public_test}
    else:
        public_files = public_files_for(train, test)
    columns = column_table(train.drop(columns=["id"]), column_notes or {}) if public_files_for is None else []
    description = describe(
        spec, about=about, files=files, sample=sample, target_note=target_note, boards=boards, source=source,
        column_lines=columns,
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
        train_target=targets[0] if len(targets) == 1 else ",".join(targets),
        extra_hints=extra_hints,
    )


def _targets(
    output: str, targets: list[str], train: pd.DataFrame, test: pd.DataFrame, metric: Any
) -> tuple[list[str], pd.DataFrame, pd.DataFrame, Callable[[Any, pd.DataFrame], pd.DataFrame]]:
    """(submission target columns, answers, sample submission, model -> predictions) for an output kind."""
    target = targets[0]
    y_train = train[target].to_numpy()
    if output == "class_probabilities":
        classes = sorted(pd.unique(pd.concat([train[target], test[target]])))
        target_columns = [str(c) for c in classes]
        answers = pd.DataFrame({"id": test["id"]})
        for c in classes:
            answers[str(c)] = (test[target] == c).astype(int)
        prior = train[target].value_counts(normalize=True)
        sample = pd.DataFrame({"id": test["id"], **{str(c): round(float(prior.get(c, 0.0)), 6) for c in classes}})  # pyright: ignore[reportArgumentType]  # default given: never None

        def class_probabilities(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            probabilities = pd.DataFrame(model.predict_proba(x), columns=[str(c) for c in model.classes_])
            return probabilities.reindex(columns=target_columns, fill_value=0.0)

        return target_columns, answers, sample, class_probabilities
    if output == "multilabel":
        answers = test[["id", *targets]].copy()
        sample = pd.DataFrame({"id": test["id"], **{c: round(float(train[c].mean()), 6) for c in targets}})

        def label_probabilities(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            per_label = model.predict_proba(x)  # one (rows, 2) array per label
            return pd.DataFrame({c: p[:, list(m.classes_).index(1)] if 1 in m.classes_ else np.zeros(len(x))
                                 for c, p, m in zip(targets, per_label, model[-1].estimators_)})

        return targets, answers, sample, label_probabilities
    answers = pd.DataFrame({"id": test["id"], target: test[target]})
    k = int(metric.kwargs.get("k", 3))
    if output == "ranking":
        popular = train[target].value_counts().sort_index(kind="mergesort").sort_values(ascending=False, kind="mergesort")
        sample = pd.DataFrame({"id": test["id"], target: " ".join(map(str, popular.index[:k]))})

        def top_labels(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            probabilities = model.predict_proba(x)
            classes = np.asarray(model.classes_).astype(str)
            top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
            return pd.DataFrame({target: [" ".join(classes[row]) for row in top]})

        return [target], answers, sample, top_labels
    if output == "probability":
        constant: Any = round(float(np.mean(y_train == 1)), 6)
    elif output == "label":
        constant = pd.Series(y_train).value_counts().sort_index(kind="mergesort").idxmax()
    else:
        constant = round(float(np.mean(y_train)), 6)
    sample = pd.DataFrame({"id": test["id"], target: constant})

    def values(model: Any, x: pd.DataFrame) -> pd.DataFrame:
        if output == "probability":
            return pd.DataFrame({target: model.predict_proba(x)[:, list(model.classes_).index(1)]})
        return pd.DataFrame({target: model.predict(x)})

    return [target], answers, sample, values


def column_table(frame: pd.DataFrame, notes: dict[str, str]) -> list[tuple[str, str]]:
    """One line per training column: its kind, its missing share and the loader's note."""
    rows = []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values) or set(values.dropna().unique()) <= {0, 1}:
            kind = "0/1"
        elif pd.api.types.is_numeric_dtype(values):
            kind = "number"
        elif values.astype(str).str.len().mean() > 30:
            kind = "free text"
        else:
            kind = f"text category ({values.nunique()} values)"
        missing = values.isna().mean()
        text = kind + (f", {missing:.0%} missing" if missing > 0 else "")
        if name in notes:
            text += f": {notes[name]}"
        rows.append((name, text))
    return rows


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
            "ladder": "quick" if QUICK_LADDER.get() else "full",
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


