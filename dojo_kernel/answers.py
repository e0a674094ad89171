"""Reading a competition's answers and leaderboards, and which answer rows are scored.

Kept apart from grading.py (checking and scoring one submission): these read the
competition's own files, which are trusted to exist but not to be tidy (Kaggle's and
MLE-bench's exports, text answers that look like missing values).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from .grading import canonical_keys, text_columns_for
from .metrics import Metric


def read_answers(
    path: str | os.PathLike[str], *, id_column: str, metric: Metric, target_columns: Sequence[str]
) -> pd.DataFrame:
    """Read an answers file with ids and text targets as text, exactly as written.

    ``None``, ``NA``, ``null`` and ``N/A`` are words in a text-normalisation answer or a
    class name, not missing values: the id column and the targets of a label, ranking or
    text metric are read verbatim. Label columns whose every value is a number become
    numbers (so an ordinal metric orders 10 after 9). Other columns parse as usual.
    """
    header = list(pd.read_csv(path, nrows=0).columns)
    text = [c for c in text_columns_for(metric, id_column, target_columns) if c in header]
    # Two reads, not per-column NA lists: those cost seconds on answers with hundreds of columns.
    frame = pd.read_csv(path, dtype={column: str for column in text}, low_memory=False)
    if text:
        verbatim = pd.read_csv(path, usecols=text, dtype=str, keep_default_na=False, na_filter=False)
        for column in text:
            frame[column] = verbatim[column]
    if metric.kind == "label":
        for column in target_columns:
            if column in frame.columns:
                frame[column] = _numbers_if_all_numeric(frame[column])
    return frame


def _numbers_if_all_numeric(values: pd.Series) -> pd.Series:
    numbers = cast(pd.Series, pd.to_numeric(values, errors="coerce"))  # a Series in, a Series out
    if len(values) == 0 or numbers.isna().any():
        return values
    integral = (numbers == np.round(numbers)).all()
    return numbers.astype(np.int64) if integral else numbers


def read_leaderboard(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A leaderboard CSV (rank, score, team...; Kaggle's and MLE-bench's exports too) with
    team names read as written (a team called "NA" is a team) and scores as numbers."""
    board = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "score" not in board.columns:
        raise ValueError(f"expected a 'score' column in {path}, got {', '.join(board.columns)}")
    board["score"] = pd.to_numeric(board["score"].str.strip(), errors="coerce")
    return board


def scored_mask(answers: pd.DataFrame, rule: dict[str, Any] | None, *, usage_column: str = "Usage") -> np.ndarray:
    """Which answer rows count towards the score.

    Kaggle leaves some test rows out of scoring: its solution files mark them ``Usage =
    Ignored``; jigsaw's test labels mark them -1; ventilator scores only the inspiratory
    phase (``u_out == 0``). ``rule`` is the competition's ``scored_rows`` table: a
    ``column`` of the answers and one of ``equals``, ``not_equals``, ``in``, ``not_in``.
    Every row still needs a prediction; unscored rows are simply not scored.
    """
    keep = np.ones(len(answers), dtype=bool)
    if usage_column in answers.columns:
        keep &= ~answers[usage_column].astype(str).str.strip().str.lower().eq("ignored").to_numpy()
    if not rule:
        return keep
    column = rule.get("column")
    if column not in answers.columns:
        raise ValueError(
            f"expected the answers to have the column {column!r} named by scored_rows, got "
            f"{', '.join(map(str, answers.columns))}"
        )
    values = canonical_keys(answers[column])
    tests = {
        "equals": lambda v: values == canonical_keys(pd.Series([v]))[0],
        "not_equals": lambda v: values != canonical_keys(pd.Series([v]))[0],
        "in": lambda v: values.isin(set(canonical_keys(pd.Series(list(v))))),
        "not_in": lambda v: ~values.isin(set(canonical_keys(pd.Series(list(v))))),
    }
    given = [key for key in tests if key in rule]
    if len(given) != 1:
        raise ValueError(
            f"expected scored_rows to have exactly one of {', '.join(tests)} beside 'column', got {sorted(rule)}"
        )
    return keep & tests[given[0]](rule[given[0]]).to_numpy(dtype=bool)
