"""The metric registry: name -> Metric (function, direction, what kind of values it scores).

A metric is called on *aligned* answers and predictions: row i of one belongs with row i
of the other. Grading does the aligning by id; metrics never see ids or files.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

# What a metric scores, which tells grading how to check a submission before scoring it:
#   label        class labels; every predicted label must be one the answers use
#   probability  numbers in [0, 1]
#   continuous   any finite number
#   ranking      a space-separated list of labels per row (MAP@K, NDCG@K)
Kind = Literal["label", "probability", "continuous", "ranking", "text"]
KINDS: tuple[str, ...] = ("label", "probability", "continuous", "ranking", "text")

ArrayLike = Any  # numpy arrays, pandas Series/DataFrames or lists

# Bound options naming a column of the answers that the metric needs beside the target:
# per-row weights (WMAE) or a group per row (champs' log MAE per coupling type). Grading
# reads that column and passes it as ``weights`` / ``groups``; the function never sees the
# option itself.
COLUMN_OPTIONS = {"weight_column": "weights", "group_column": "groups", "subgroup_columns": "subgroups"}
WEIGHT_OPTION = "weight_column"


@dataclass(frozen=True)
class Metric:
    """One metric: ``metric(answers, predictions) -> float``.

    ``multi_target`` metrics take 2-D answers and predictions (one column per target, or
    per class for multiclass probabilities); the others take 1-D ones. ``kwargs`` are
    bound options (``k`` for MAP@K, ``alpha`` for the pinball loss).
    """

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    kind: Kind
    multi_target: bool = False
    description: str = ""
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, answers: ArrayLike, predictions: ArrayLike, weights: ArrayLike | None = None, **columns: Any) -> float:
        options = {key: value for key, value in self.kwargs.items() if key not in COLUMN_OPTIONS}
        if weights is not None:
            options["weights"] = weights
        options.update({key: value for key, value in columns.items() if value is not None})
        return float(self.fn(answers, predictions, **options))

    @property
    def weight_column(self) -> str | None:
        """The answers' column holding per-row weights (``metric_kwargs weight_column``)."""
        return self.kwargs.get(WEIGHT_OPTION)

    @property
    def answer_columns(self) -> dict[str, str | list[str]]:
        """Keyword -> answers' column, for every column option bound (weights, groups)."""
        return {
            COLUMN_OPTIONS[key]: list(value) if isinstance(value, (list, tuple)) else value
            for key, value in self.kwargs.items()
            if key in COLUMN_OPTIONS
        }

    def bind(self, **kwargs: Any) -> Metric:
        """A copy with options bound, e.g. ``get_metric("map@k").bind(k=5)``."""
        return replace(self, kwargs={**self.kwargs, **kwargs})

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than score ``b`` for this metric."""
        return is_better(a, b, self.higher_is_better)


def is_better(score: float, than: float | None, higher_is_better: bool | None) -> bool:
    """Whether ``score`` is strictly better than ``than`` (None: nothing yet, so any score is).

    The one place a score's direction is applied. ``higher_is_better`` None (a record that did
    not say) counts as higher, the way most leaderboards sort.
    """
    if than is None:
        return True
    return score < than if higher_is_better is False else score > than


class UnknownMetric(KeyError):
    """No metric of that name; the message lists the closest registered names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UndefinedMetric(ValueError):
    """The metric has no value on these rows, by its definition (not a numeric accident).

    ``side`` says whose values make it undefined: "answers" (e.g. ROC AUC when the answers
    hold one class only: there is no positive/negative pair to rank) or "predictions"
    (e.g. a correlation of constant predictions: their standard deviation is 0). Grading
    turns it into a message that names that side; it never becomes a score of 0.
    """

    def __init__(self, message: str, *, side: Literal["answers", "predictions"]) -> None:
        super().__init__(message)
        self.side = side


def require_two_classes(truth: np.ndarray, metric: str) -> None:
    """Raise UndefinedMetric when binary answers hold one class only."""
    values = np.unique(truth)
    if len(values) < 2:
        shown = values[0].item() if len(values) else "none"
        raise UndefinedMetric(
            f"{metric} is undefined when the answers hold one class only (all rows are {shown!r}): "
            "it ranks positives against negatives and there are no pairs to rank",
            side="answers",
        )


def require_variation(truth: np.ndarray, predictions: np.ndarray, metric: str) -> None:
    """Raise UndefinedMetric when either side of a correlation is constant (std 0 divides by 0)."""
    if len(truth) < 2 or np.ptp(truth) == 0:
        raise UndefinedMetric(
            f"{metric} is undefined when the answers are constant (their standard deviation is 0)",
            side="answers",
        )
    if np.ptp(predictions) == 0:
        raise UndefinedMetric(
            f"{metric} is undefined for constant predictions (their standard deviation is 0, and a "
            "correlation divides by it); predictions must vary from row to row",
            side="predictions",
        )


_REGISTRY: dict[str, Metric] = {}
_ALIASES: dict[str, str] = {}
_AT_K = re.compile(r"^(?P<base>[a-z_]+)@(?P<k>\d+)$")


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def register_metric(
    name: str,
    fn: Callable[..., float] | None = None,
    *,
    higher_is_better: bool,
    kind: Kind,
    multi_target: bool = False,
    description: str = "",
    aliases: tuple[str, ...] = (),
    replace_existing: bool = False,
) -> Any:
    """Register ``fn`` under ``name`` (usable as a decorator when ``fn`` is omitted)."""
    if kind not in KINDS:
        raise ValueError(f"expected kind to be one of {', '.join(KINDS)}, got {kind!r}")

    def add(function: Callable[..., float]) -> Callable[..., float]:
        key = _normalise(name)
        if key in _REGISTRY and not replace_existing:
            raise ValueError(
                f"expected a new metric name, got {name!r} which is already registered. "
                "Pass replace_existing=True to replace it."
            )
        _REGISTRY[key] = Metric(
            key, function, higher_is_better, kind, multi_target, description or (function.__doc__ or "").strip()
        )
        for alias in aliases:
            _ALIASES[_normalise(alias)] = key
        return function

    return add(fn) if fn is not None else add


def get_metric(name: str, **kwargs: Any) -> Metric:
    """The metric called ``name`` (or an alias), with ``kwargs`` bound.

    ``"map@5"`` means ``get_metric("map@k", k=5)``; the same for any ``*@k`` metric.
    """
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        match = _AT_K.match(key)
        base = f"{match['base']}@k" if match else None
        if match and base and _ALIASES.get(base, base) in _REGISTRY:
            return _REGISTRY[_ALIASES.get(base, base)].bind(k=int(match["k"]), **kwargs)
        names = list_metrics() + sorted(_ALIASES)
        close = difflib.get_close_matches(key, names, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnknownMetric(
            f"expected a registered metric name, got {name!r}{hint}. "
            "See dojo_kernel.metrics.list_metrics() for all of them."
        )
    metric = _REGISTRY[key]
    return metric.bind(**kwargs) if kwargs else metric


def list_metrics() -> list[str]:
    """The canonical names of every registered metric, sorted."""
    return sorted(_REGISTRY)


def as_1d(values: ArrayLike) -> np.ndarray:
    """A 1-D numpy array from a list, Series, array or one-column frame."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(f"expected one column, got {values.shape[1]}")
        values = values.iloc[:, 0]
    array = np.asarray(values)
    return array.reshape(-1) if array.ndim > 1 and 1 in array.shape else array


def as_2d(values: ArrayLike) -> np.ndarray:
    """A 2-D float array (rows x columns)."""
    array = np.asarray(values, dtype=float)
    return array.reshape(-1, 1) if array.ndim == 1 else array


class _SklearnMetrics:
    """`sklearn.metrics`, imported on first use: scikit-learn takes about a second to import,
    and `import dojo_kernel` (which registers the envs) should not pay it."""

    def __getattr__(self, name: str):
        from sklearn import metrics

        return getattr(metrics, name)


sklearn_metrics = _SklearnMetrics()
