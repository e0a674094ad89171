"""Regression, forecasting and correlation metrics."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .registry import ArrayLike, as_1d, as_2d, register_metric
from .registry import sklearn_metrics as skm


def _pair(answers: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return as_1d(answers).astype(float), as_1d(predictions).astype(float)


@register_metric("rmse", higher_is_better=False, kind="continuous", aliases=("root_mean_squared_error",))
def rmse(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Root mean squared error."""
    y, p = _pair(answers, predictions)
    return float(np.sqrt(np.mean((y - p) ** 2)))


@register_metric("mse", higher_is_better=False, kind="continuous", aliases=("mean_squared_error",))
def mse(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean squared error."""
    y, p = _pair(answers, predictions)
    return float(np.mean((y - p) ** 2))


@register_metric("rmsle", higher_is_better=False, kind="continuous", aliases=("root_mean_squared_log_error",))
def rmsle(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Root mean squared error of log(1 + x); values must be above -1."""
    y, p = _pair(answers, predictions)
    return float(np.sqrt(np.mean((np.log1p(y) - np.log1p(p)) ** 2)))


@register_metric("mae", higher_is_better=False, kind="continuous", aliases=("mean_absolute_error",))
def mae(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean absolute error."""
    y, p = _pair(answers, predictions)
    return float(np.mean(np.abs(y - p)))


@register_metric("mape", higher_is_better=False, kind="continuous", aliases=("mean_absolute_percentage_error",))
def mape(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean absolute percentage error as a fraction (0.1 = 10%), as scikit-learn computes it."""
    return skm.mean_absolute_percentage_error(*_pair(answers, predictions))


@register_metric("smape", higher_is_better=False, kind="continuous")
def smape(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Symmetric MAPE in percent (0..200), Kaggle's form; a row where both are 0 counts 0."""
    y, p = _pair(answers, predictions)
    denominator = np.abs(y) + np.abs(p)
    ratio = np.divide(2 * np.abs(p - y), denominator, out=np.zeros_like(y), where=denominator != 0)
    return float(100 * np.mean(ratio))


@register_metric("r2", higher_is_better=True, kind="continuous", aliases=("r2_score", "r_squared"))
def r2(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Coefficient of determination."""
    return skm.r2_score(*_pair(answers, predictions))


@register_metric("pearson", higher_is_better=True, kind="continuous", aliases=("pearson_correlation",))
def pearson(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Pearson correlation; 0 when the predictions are constant (instead of NaN)."""
    y, p = _pair(answers, predictions)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.pearsonr(y, p)[0])


@register_metric("spearman", higher_is_better=True, kind="continuous", aliases=("spearman_correlation",))
def spearman(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Spearman rank correlation; 0 when the predictions are constant (instead of NaN)."""
    y, p = _pair(answers, predictions)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.spearmanr(y, p)[0])


@register_metric("pinball", higher_is_better=False, kind="continuous", aliases=("quantile_loss", "pinball_loss"))
def pinball(answers: ArrayLike, predictions: ArrayLike, alpha: float = 0.5) -> float:
    """Pinball (quantile) loss for quantile ``alpha`` (metric_kwargs alpha, default 0.5)."""
    return skm.mean_pinball_loss(*_pair(answers, predictions), alpha=alpha)


@register_metric("poisson_deviance", higher_is_better=False, kind="continuous", aliases=("mean_poisson_deviance",))
def poisson_deviance(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean Poisson deviance, for counts; predictions must be positive."""
    return skm.mean_poisson_deviance(*_pair(answers, predictions))


@register_metric(
    "mean_columnwise_rmse", higher_is_better=False, kind="continuous", multi_target=True, aliases=("mcrmse",)
)
def mean_columnwise_rmse(answers: ArrayLike, predictions: ArrayLike) -> float:
    """RMSE of each target column, averaged over the columns."""
    y, p = as_2d(answers), as_2d(predictions)
    return float(np.mean(np.sqrt(np.mean((y - p) ** 2, axis=0))))


@register_metric(
    "mean_columnwise_rmsle", higher_is_better=False, kind="continuous", multi_target=True, aliases=("mcrmsle",)
)
def mean_columnwise_rmsle(answers: ArrayLike, predictions: ArrayLike) -> float:
    """RMSLE of each target column, averaged over the columns."""
    y, p = as_2d(answers), as_2d(predictions)
    return float(np.mean(np.sqrt(np.mean((np.log1p(y) - np.log1p(p)) ** 2, axis=0))))
