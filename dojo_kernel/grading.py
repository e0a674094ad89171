"""Submission checks, scoring, leaderboard position and medals.

Grading never raises for a bad submission: every problem an agent can cause becomes a
``Grade(valid=False, error=...)`` whose message says what is wrong and what was expected.
Only the environment's own faults (unreadable answers, a broken leaderboard file) raise.

The steps, each its own function so they can be tested and reused:

1. :func:`read_submission` reads the file safely (a regular file inside the allowed
   folder, no link out of it, no FIFO, under a size cap, no absurdly long line); it lives
   in :mod:`dojo_kernel.submission_file` and is re-exported here.
2. :func:`align_submission` checks columns, ids and values and lines predictions up with
   the answers by id, so row order never matters.
3. :func:`public_mask` picks the public part of the answers (Kaggle's ``Usage`` column, or
   a fixed hash of the id); the metric is computed on the split asked for.
4. :func:`leaderboard_standing` places the score on a leaderboard: MLE-Dojo's position
   score, rank, MLE-bench's medals and "above median".
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from .metrics import Metric, UndefinedMetric
from .standing import Medal, Standing, leaderboard_standing, medal_positions
from .submission_file import MAX_LINE_BYTES as MAX_LINE_BYTES
from .submission_file import SIZE_FACTOR as SIZE_FACTOR
from .submission_file import SIZE_MARGIN_BYTES as SIZE_MARGIN_BYTES
from .submission_file import SubmissionProblem, _first_line, read_submission
from .submission_file import submission_size_cap as submission_size_cap

Split = Literal["public", "private", "full"]
SPLITS: tuple[str, ...] = ("public", "private", "full")
__all__ = ["Grade", "Medal", "Standing", "grade_submission", "leaderboard_standing", "medal_positions"]

EXAMPLES_SHOWN = 3  # how many offending ids or values an error message quotes


@dataclass
class Grade:
    valid: bool
    error: str | None = None  # for an invalid submission: what is wrong and how to fix it
    score: float | None = None  # the metric's value
    position: float | None = None  # share of leaderboard entries beaten, 0..1
    rank: int | None = None
    teams: int | None = None
    medal: Medal | None = None
    above_median: bool | None = None
    split: Split = "private"
    metric: str | None = None
    higher_is_better: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line a person or an LLM can read."""
        if not self.valid:
            return f"invalid submission: {self.error}"
        direction = "higher is better" if self.higher_is_better else "lower is better"
        text = f"{self.metric} = {self.score:.6g} ({direction}) on the {self.split} split"
        if self.position is not None:
            text += (
                f"; beats or ties {self.position:.1%} of the {self.teams} leaderboard entries"
                f" (rank {self.rank}); medal: {self.medal or 'none'}"
            )
        return text



# ---------------------------------------------------------------- 1. reading the file


# ---------------------------------------------------------------- 2. checking and aligning


def canonical_keys(values: pd.Series | np.ndarray) -> pd.Series:
    """Ids or labels as comparable text: 1, '1', '1.0' and 1.0 all become '1'; spaces trimmed.

    Text keeps its spelling otherwise ('007' stays '007'), which is why answers' id
    columns are read as text. Only used where the exact spelling did not match: it is
    the slow path.
    """
    values = pd.Series(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float)
        if np.isfinite(numbers).all() and (numbers == np.round(numbers)).all():
            return pd.Series(numbers.astype(np.int64), index=values.index).astype(str).astype(object)
        return values.astype(str).astype(object)
    text = values.astype(str).str.strip()
    if text.str.contains(".", regex=False).any():  # pandas writes integer ids as 1.0 after a NaN
        text = text.str.replace(r"^([-+]?\d+)\.0+$", r"\1", regex=True)
    return text.astype(object)


class AnswerKeys:
    """The answers' ids, indexed once per competition: exact text first, canonical spelling
    (built only when needed) as the fallback."""

    def __init__(self, ids: pd.Series) -> None:
        self.ids = ids.to_numpy(dtype=object)
        self.exact = pd.Index(self.ids, dtype=object)
        self._canonical: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, submitted: np.ndarray) -> np.ndarray:
        """Row of the answers for each submitted id, -1 where there is none."""
        if len(submitted) == len(self.ids) and (submitted == self.ids).all():
            return np.arange(len(self.ids))  # already in the answers' order: skip hashing every id
        found = self.exact.get_indexer(submitted)
        missing = found < 0
        if missing.any():
            if self._canonical is None:
                self._canonical = pd.Index(canonical_keys(self.ids), dtype=object)
            found[missing] = self._canonical.get_indexer(canonical_keys(submitted[missing]).to_numpy())
        return found


@dataclass
class Aligned:
    """Answers and predictions, row for row, in the answers' order."""

    answers: pd.DataFrame  # the answer rows (id column, targets, Usage if any)
    predictions: pd.DataFrame  # target columns only, converted to the metric's type


def text_columns_for(metric: Metric, id_column: str, target_columns: Sequence[str]) -> list[str]:
    """Columns to read as text: the id, and the targets where the metric scores labels or text."""
    return [id_column, *(target_columns if metric.kind in ("label", "ranking", "text") else [])]


def align_submission(
    submission: pd.DataFrame,
    answers: pd.DataFrame,
    *,
    id_column: str,
    target_columns: Sequence[str],
    metric: Metric,
    answer_keys: AnswerKeys | None = None,
    labels: Mapping[str, Sequence[Any]] | None = None,
) -> Aligned:
    """Check a submission against the answers and line it up by id; SubmissionProblem if wrong.

    ``labels``: per target column, the competition's whole label set (train and test); a
    label outside the test answers but in that set is valid, and scores as a wrong answer.
    """
    _check_columns(submission, id_column, target_columns)
    keys = answer_keys if answer_keys is not None else AnswerKeys(answers[id_column].astype(str))
    n_expected = len(keys)
    sub_ids = submission[id_column].to_numpy(dtype=object)
    rows = f"expected {n_expected:,} rows (one per test id), got {len(submission):,}"

    blank = pd.isna(sub_ids) | (sub_ids == "")
    if blank.any():
        lines = (np.flatnonzero(blank)[:EXAMPLES_SHOWN] + 2).tolist()
        raise SubmissionProblem(
            f"{rows}: {int(blank.sum()):,} rows have no {id_column!r} (CSV lines {lines}). Every row needs its test id."
        )
    positions = keys.positions(sub_ids)
    known = positions >= 0
    counts = np.bincount(positions[known], minlength=n_expected)
    if (counts > 1).any():
        repeated = np.flatnonzero(counts > 1)
        raise SubmissionProblem(
            f"{rows}: {int((counts[repeated] - 1).sum()):,} duplicate ids, e.g. {_examples(keys.ids[repeated])}. "
            "Write each test id exactly once."
        )
    if not known.all():
        raise SubmissionProblem(
            f"{rows}: {int((~known).sum()):,} ids are not test ids, e.g. {_examples(sub_ids[~known])}. "
            f"Predict exactly the {id_column!r} values of the test file (see sample_submission.csv)."
        )
    if (counts == 0).any():
        absent = counts == 0
        raise SubmissionProblem(
            f"{rows}: {int(absent.sum()):,} test ids are missing, e.g. {_examples(keys.ids[absent])}. "
            "Predict every test id (see sample_submission.csv)."
        )
    # reorder the submission to the answers' order
    order = np.empty(n_expected, dtype=np.int64)
    order[positions] = np.arange(n_expected)
    ordered_ids = keys.ids
    predictions = pd.DataFrame(
        {
            column: _convert_column(
                submission[column].to_numpy()[order], column, ordered_ids, answers[column], metric,
                (labels or {}).get(column, ()),
            )
            for column in target_columns
        }
    )
    return Aligned(answers.reset_index(drop=True), predictions)


def _check_columns(submission: pd.DataFrame, id_column: str, target_columns: Sequence[str]) -> None:
    expected = [id_column, *target_columns]
    got = [str(c) for c in submission.columns]
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    if not missing and not extra and len(got) == len(set(got)):
        return
    shown = ", ".join(expected) if len(expected) <= 12 else ", ".join(expected[:12]) + f", ... ({len(expected)} in all)"
    parts = []
    if missing:
        lowered = {c.lower().strip(): c for c in got}
        near = [f"{lowered[m.lower()]!r} should be {m!r}" for m in missing if m.lower() in lowered]
        parts.append(f"missing column(s) {_examples(missing, quote=True, limit=8)}")
        if near:
            parts.append("names differ only in case or spaces: " + "; ".join(near))
    if extra:
        unnamed = [c for c in extra if c.startswith("Unnamed: ")]
        parts.append(f"unexpected column(s) {_examples(extra, quote=True, limit=8)}")
        if unnamed:
            parts.append("an 'Unnamed: 0' column is a saved index: write with index=False")
    raise SubmissionProblem(
        f"expected the columns {shown} (as in sample_submission.csv), got {', '.join(got[:12])}: "
        + "; ".join(parts)
        + "."
    )


MISSING_SPELLINGS = ("", "nan", "na", "n/a", "null", "none")


def _refuse_missing(empty: np.ndarray, column: str, ids: np.ndarray) -> None:
    if empty.any():
        raise SubmissionProblem(
            f"expected a value in every row of column {column!r}, got {int(empty.sum()):,} empty or NaN "
            f"values (ids {_examples(ids[empty])}). Fill every row."
        )


def _convert_column(
    values: np.ndarray,
    column: str,
    ids: np.ndarray,
    answer_values: pd.Series,
    metric: Metric,
    extra_labels: Sequence[Any] = (),
) -> pd.Series:
    """Turn one submitted column into what the metric expects (SubmissionProblem if it cannot)."""
    if metric.kind in ("ranking", "text"):  # free text: every string, the empty one too, is a prediction
        return pd.Series(values, dtype=object).fillna("").astype(str)
    if values.dtype.kind in "fiub":  # the CSV parser already read clean numbers: the fast path
        numbers = values.astype(float)
    else:
        text = pd.Series(values, dtype=object).fillna("").astype(str).str.strip()
        if metric.kind == "label":  # "None" or "NA" may be a class: only an unknown one is missing
            known = set(answer_values.astype(str)) | {str(label) for label in extra_labels}
            _refuse_missing((text.str.lower().isin(MISSING_SPELLINGS) & ~text.isin(known)).to_numpy(), column, ids)
            return _convert_labels(text, column, ids, answer_values, extra_labels)
        _refuse_missing(text.str.lower().isin(MISSING_SPELLINGS).to_numpy(), column, ids)
        numbers = cast(pd.Series, pd.to_numeric(text, errors="coerce")).to_numpy(dtype=float)  # Series in, Series out
        words = np.isnan(numbers)
        if words.any():
            raise SubmissionProblem(
                f"expected numbers in column {column!r}, got text in {int(words.sum()):,} rows, e.g. "
                f"{_examples(text[words], quote=True)} (ids {_examples(ids[words])})."
            )
    if metric.kind == "label":
        return _convert_labels(pd.Series(values), column, ids, answer_values, extra_labels)
    _refuse_missing(np.isnan(numbers), column, ids)
    infinite = np.isinf(numbers)
    if infinite.any():
        raise SubmissionProblem(
            f"expected finite numbers in column {column!r}, got {int(infinite.sum()):,} infinite values "
            f"(ids {_examples(ids[infinite])})."
        )
    if metric.kind == "probability":
        outside = (numbers < 0) | (numbers > 1)
        if outside.any():
            raise SubmissionProblem(
                f"expected probabilities in [0, 1] in column {column!r}, got {int(outside.sum()):,} values "
                f"outside, e.g. {_examples(numbers[outside])} (ids {_examples(ids[outside])}). "
                "Submit predict_proba output, not labels or raw scores."
            )
    return pd.Series(numbers)


def _convert_labels(
    text: pd.Series, column: str, ids: np.ndarray, answer_values: pd.Series, extra_labels: Sequence[Any] = ()
) -> pd.Series:
    """Map submitted labels onto the answers' own values (so 1 stays int 1, not '1').

    ``extra_labels`` are the competition's labels the test answers happen not to use
    (a class seen only in train): valid predictions, in the answers' type where it is numeric."""
    answer_values = pd.Series(answer_values)
    if len(extra_labels):
        extra = pd.Series([str(label) for label in extra_labels], dtype=object)
        if pd.api.types.is_numeric_dtype(answer_values) and not pd.api.types.is_bool_dtype(answer_values):
            numeric = cast(pd.Series, pd.to_numeric(extra, errors="coerce"))
            extra = pd.Series(np.where(numeric.notna(), numeric, extra), dtype=object)
            extra = extra.map(lambda v: int(v) if isinstance(v, float) and v == int(v) else v)
        answer_values = pd.concat([answer_values, extra], ignore_index=True)
    exact = dict(zip(answer_values.astype(str), answer_values))
    mapped = text.astype(str).map(exact)
    unmatched = mapped.isna().to_numpy()
    if unmatched.any():  # the slow path: '1.0' for 1, ' cat' for 'cat'
        canonical = dict(zip(canonical_keys(answer_values), answer_values))
        mapped[unmatched] = canonical_keys(text[unmatched]).map(canonical).to_numpy()
        unmatched = mapped.isna().to_numpy()
    if unmatched.any():
        allowed = sorted(exact, key=str)
        shown = ", ".join(repr(a) for a in allowed[:20]) + (" ..." if len(allowed) > 20 else "")
        raise SubmissionProblem(
            f"expected labels of column {column!r} to be one of {shown}, got {int(unmatched.sum()):,} "
            f"other values, e.g. {_examples(pd.Series(text[unmatched]).unique(), quote=True)} (ids {_examples(ids[unmatched])})."
        )
    return mapped.infer_objects()


def _examples(values: Any, *, quote: bool = False, limit: int = EXAMPLES_SHOWN) -> str:
    """A few distinct offending values for a message, '...' when there are more."""
    values = list(values)
    shown: list[Any] = []
    for value in values:
        value = value.item() if isinstance(value, np.generic) else value
        if value not in shown:
            shown.append(value)
        if len(shown) == limit:
            break
    text = ", ".join(repr(v) if quote else str(v) for v in shown)
    distinct_left = len(set(map(str, values))) - len(shown)
    return text + (f" and {distinct_left:,} more" if distinct_left > 0 else "")


# ---------------------------------------------------------------- 3. public / private split


def public_mask(
    answers: pd.DataFrame,
    *,
    id_column: str,
    usage_column: str = "Usage",
    public_fraction: float = 0.3,
) -> np.ndarray:
    """Which answer rows belong to the public leaderboard.

    Kaggle's ``Usage`` column decides where the answers have one; otherwise a fixed hash
    of the id (the same on every machine and run) puts about ``public_fraction`` of the
    rows in the public part.
    """
    if usage_column in answers.columns:
        return answers[usage_column].astype(str).str.strip().str.lower().eq("public").to_numpy()
    # pandas.util exports it lazily (a module __getattr__), which pandas' stubs do not declare
    hashes = pd.util.hash_pandas_object(  # pyright: ignore[reportAttributeAccessIssue]
canonical_keys(answers[id_column]), index=False).to_numpy()
    return (hashes % np.uint64(10_000)) < np.uint64(round(public_fraction * 10_000))


def split_rows(mask_public: np.ndarray, split: str) -> np.ndarray:
    """Row selector for a split name."""
    if split == "public":
        return mask_public
    if split == "private":
        return ~mask_public
    return np.ones(len(mask_public), dtype=bool)


# ---------------------------------------------------------------- all together


def grade_submission(
    submission_path: str | os.PathLike[str],
    *,
    answers: pd.DataFrame,
    id_column: str,
    target_columns: Sequence[str],
    metric: Metric,
    split: str = "private",
    leaderboard: pd.DataFrame | None = None,
    allowed_dir: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
    usage_column: str = "Usage",
    public_fraction: float = 0.3,
    answer_keys: AnswerKeys | None = None,
    public_rows: np.ndarray | None = None,
    scored_rows: np.ndarray | None = None,
    labels: Mapping[str, Sequence[Any]] | None = None,
    row_order: bool = False,
    unscored_columns: Sequence[str] = (),
) -> Grade:
    """Grade one submission file against ``answers``; never raises for the submission's faults.

    ``scored_rows`` (see :func:`scored_mask`) leaves rows out of the score; every row still
    needs a prediction. ``labels`` is the competition's label set per target column.
    ``row_order``: the competition has no id column (MLE-bench's detecting-insults): row i
    of the submission is the answer of row i; its other columns (the sample's Date,
    Comment) are context, not predictions. ``unscored_columns``: columns Kaggle's submission
    format requires that the metric does not score (stanford-covid-vaccine's deg_pH10): they
    must be present and are then set aside."""
    base = {"split": split, "metric": metric.name, "higher_is_better": metric.higher_is_better}
    if split not in SPLITS:
        raise ValueError(f"expected split to be one of {', '.join(SPLITS)}, got {split!r}")
    try:
        submission = read_submission(
            submission_path,
            allowed_dir=allowed_dir,
            max_bytes=max_bytes,
            text_columns=text_columns_for(metric, id_column, target_columns),
        )
        if row_order:
            submission = submission[[c for c in submission.columns if c in target_columns]].copy()
            submission.insert(0, id_column, [str(i) for i in range(len(submission))])
        if unscored_columns:
            _check_columns(submission, id_column, [*target_columns, *unscored_columns])
            submission = submission.drop(columns=list(unscored_columns))
        aligned = align_submission(
            submission,
            answers,
            id_column=id_column,
            target_columns=target_columns,
            metric=metric,
            answer_keys=answer_keys,
            labels=labels,
        )
    except SubmissionProblem as problem:
        return Grade(valid=False, error=str(problem), **base)  # type: ignore[arg-type]
    if public_rows is None:
        public_rows = public_mask(
            answers, id_column=id_column, usage_column=usage_column, public_fraction=public_fraction
        )
    rows = split_rows(public_rows, split)
    if scored_rows is not None:
        rows = rows & scored_rows
    if not rows.any():
        return Grade(
            valid=False,
            error=f"the {split} split has no scored answer rows, so there is nothing to score; this comes from "
            "the competition's answers, not from your submission.",
            details={"undefined_metric": "answers"},
            **base,  # type: ignore[arg-type]
        )
    truth = aligned.answers.loc[rows, list(target_columns)]
    predicted = aligned.predictions.loc[rows]
    if not metric.multi_target:
        truth, predicted = truth.iloc[:, 0], predicted.iloc[:, 0]
    extra = {keyword: aligned.answers.loc[rows, column] for keyword, column in metric.answer_columns.items()}
    try:
        with np.errstate(all="ignore"):
            score = metric(truth, predicted, **extra)
    except UndefinedMetric as exc:
        blame = (
            "This comes from the competition's answers, not from your submission, which is well formed; "
            "the submission gets no score on this split."
            if exc.side == "answers"
            else "Change the predictions so that the metric is defined."
        )
        return Grade(
            valid=False,
            error=f"the metric {metric.name} is undefined on the {split} split: {exc} {blame}",
            details={"undefined_metric": exc.side},
            **base,  # type: ignore[arg-type]
        )
    except ValueError as exc:  # e.g. RMSLE of a value below -1, Poisson deviance of 0
        return Grade(
            valid=False,
            error=f"expected predictions the metric {metric.name} can score, but it failed: {_first_line(exc)}",
            **base,  # type: ignore[arg-type]
        )
    if not math.isfinite(score):
        return Grade(
            valid=False,
            error=f"expected predictions that give a finite {metric.name}, got {score}. "
            "Check for values the metric cannot take (e.g. negatives for a log-based metric).",
            **base,  # type: ignore[arg-type]
        )
    details: dict[str, Any] = {"rows_scored": int(rows.sum()), "rows_total": len(answers)}
    grade = Grade(valid=True, score=score, details=details, **base)  # type: ignore[arg-type]
    if leaderboard is not None and len(leaderboard):
        standing = leaderboard_standing(score, leaderboard["score"].to_numpy(), metric.higher_is_better)
        grade.position, grade.rank, grade.teams = standing.position, standing.rank, standing.teams
        grade.medal, grade.above_median = standing.medal, standing.above_median
        details["thresholds"] = standing.thresholds
    return grade
