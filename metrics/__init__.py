"""The metric library: every competition's score comes from one of these functions.

    from dojo_kernel.metrics import get_metric
    get_metric("rmse")(answers, predictions)       # -> float
    get_metric("map@5").higher_is_better           # True

Metrics take aligned answers and predictions (numpy arrays or pandas objects) and know
nothing of files or ids. This package imports numpy, pandas, scipy and scikit-learn only,
never the rest of dojo_kernel.
"""

from __future__ import annotations

from . import classification, ranking, regression, text, vision  # noqa: F401  (they register their metrics)
from .registry import KINDS, Metric, UndefinedMetric, UnknownMetric, get_metric, is_better, list_metrics, register_metric

__all__ = ["KINDS", "Metric", "UndefinedMetric", "UnknownMetric", "get_metric", "is_better", "list_metrics",
           "register_metric"]
