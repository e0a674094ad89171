"""Regression, forecasting and correlation metrics."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .registry import ArrayLike, UndefinedMetric, as_1d, as_2d, register_metric, require_variation
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


@register_metric("rmse_log", higher_is_better=False, kind="continuous", aliases=("rmse_of_logs",))
def rmse_log(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Root mean squared error of log(x) (not log(1 + x)), as Kaggle's house-prices
    competition scores sale prices; every value must be positive."""
    y, p = _pair(answers, predictions)
    if (p <= 0).any() or (y <= 0).any():
        raise ValueError(f"expected positive values for a log, got a smallest prediction of {p.min():g}")
    return float(np.sqrt(np.mean((np.log(y) - np.log(p)) ** 2)))


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
    """Pearson correlation, as ``scipy.stats.pearsonr``.

    Undefined (UndefinedMetric, never a silent 0) when the answers or the predictions are
    constant: the definition divides by their standard deviations."""
    y, p = _pair(answers, predictions)
    require_variation(y, p, "Pearson correlation")
    # scipy builds its result class with a factory pyright cannot read: the first field is r
    return float(stats.pearsonr(y, p)[0])  # pyright: ignore[reportArgumentType]


@register_metric("spearman", higher_is_better=True, kind="continuous", aliases=("spearman_correlation",))
def spearman(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Spearman rank correlation, as ``scipy.stats.spearmanr``; undefined (UndefinedMetric)
    when either side is constant, as for Pearson."""
    y, p = _pair(answers, predictions)
    require_variation(y, p, "Spearman correlation")
    return float(stats.spearmanr(y, p)[0])  # pyright: ignore[reportArgumentType]  (as for Pearson)


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


@register_metric("median_absolute_error", higher_is_better=False, kind="continuous", aliases=("medae",))
def median_absolute_error(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Median of |answer - prediction|, as ``sklearn.metrics.median_absolute_error``
    (Kaggle's "Median Absolute Error", playground-series-s3e25)."""
    return skm.median_absolute_error(*_pair(answers, predictions))


@register_metric("rmspe", higher_is_better=False, kind="continuous", aliases=("root_mean_square_percentage_error",))
def rmspe(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Root mean square percentage error, sqrt(mean(((y - p) / y)^2)), as a fraction.

    Rows whose answer is 0 are left out, as Rossmann's definition says ("any day and store
    with 0 sales is ignored in scoring"); with no such row left it is undefined."""
    y, p = _pair(answers, predictions)
    kept = y != 0
    if not kept.any():
        raise UndefinedMetric("RMSPE is undefined when every answer is 0: it divides by the answer", side="answers")
    return float(np.sqrt(np.mean(((y[kept] - p[kept]) / y[kept]) ** 2)))


@register_metric("wmae", higher_is_better=False, kind="continuous", aliases=("weighted_mean_absolute_error",))
def wmae(answers: ArrayLike, predictions: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Weighted mean absolute error, sum(w * |y - p|) / sum(w) (Kaggle's WMAE: Walmart
    weighs holiday weeks 5, other weeks 1; Winton gives a weight per row).

    The weights come from a column of the answers: the competition names it with
    ``metric_kwargs = {weight_column = "..."}`` and grading passes it; without weights
    every row weighs 1 (plain MAE)."""
    y, p = _pair(answers, predictions)
    w = np.ones_like(y) if weights is None else as_1d(weights).astype(float)
    if w.sum() <= 0:
        raise UndefinedMetric("WMAE is undefined when the weights sum to 0", side="answers")
    return float(np.sum(w * np.abs(y - p)) / np.sum(w))


@register_metric("mean_columnwise_mae", higher_is_better=False, kind="continuous", multi_target=True, aliases=("mcmae",))
def mean_columnwise_mae(answers: ArrayLike, predictions: ArrayLike) -> float:
    """MAE of each target column, averaged; with every column the same length this is the
    MAE over all cells (conways-reverse-game-of-life: the share of wrong cells)."""
    y, p = as_2d(answers), as_2d(predictions)
    return float(np.mean(np.abs(y - p).mean(axis=0)))


@register_metric("rmse_all_cells", higher_is_better=False, kind="continuous", multi_target=True)
def rmse_all_cells(answers: ArrayLike, predictions: ArrayLike) -> float:
    """RMSE over every cell of every target column together (crowdflower-weather-twitter
    scores its 24 columns this way), not a mean of per-column RMSEs."""
    y, p = as_2d(answers), as_2d(predictions)
    return float(np.sqrt(np.mean((y - p) ** 2)))


@register_metric("rmsle_all_cells", higher_is_better=False, kind="continuous", multi_target=True)
def rmsle_all_cells(answers: ArrayLike, predictions: ArrayLike) -> float:
    """RMSLE over every cell of every target column together (see-click-predict-fix:
    views, votes and comments in one RMSLE)."""
    y, p = as_2d(answers), as_2d(predictions)
    return float(np.sqrt(np.mean((np.log1p(y) - np.log1p(p)) ** 2)))


@register_metric(
    "mean_columnwise_spearman", higher_is_better=True, kind="continuous", multi_target=True, aliases=("mcspearman",)
)
def mean_columnwise_spearman(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Spearman correlation of each target column (``scipy.stats.spearmanr``), averaged
    (google-quest-challenge); a constant column on either side makes it undefined."""
    y, p = as_2d(answers), as_2d(predictions)
    scores = []
    for j in range(y.shape[1]):
        require_variation(y[:, j], p[:, j], f"Spearman correlation of column {j}")
        scores.append(stats.spearmanr(y[:, j], p[:, j])[0])
    return float(np.mean(scores))


@register_metric("group_log_mae", higher_is_better=False, kind="continuous", aliases=("log_mae_by_type",))
def group_log_mae(answers: ArrayLike, predictions: ArrayLike, groups: ArrayLike | None = None) -> float:
    """Mean over groups of log(MAE of the group), each MAE floored at 1e-9, as Kaggle's
    champs-scalar-coupling scores its coupling types. The groups come from an answers
    column named by ``metric_kwargs group_column``; without one, log of the overall MAE."""
    y, p = _pair(answers, predictions)
    labels = np.zeros(len(y)) if groups is None else np.asarray(groups)
    errors = np.abs(y - p)
    return float(np.mean([np.log(max(errors[labels == g].mean(), 1e-9)) for g in np.unique(labels)]))
