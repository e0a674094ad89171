# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Backtest five forecasters on the last part of the history; keep the best per target.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
METRIC_NAME = "rmse"  # a name the metric library knows
LOWER_IS_BETTER = True
# -- end of parameters --

import warnings

from sklearn.linear_model import Ridge
from statsmodels.tsa.ar_model import AutoReg, ar_select_order
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from dojo_kernel.metrics import get_metric

METRIC = get_metric(METRIC_NAME)


def score(y, p):
    """The competition's metric, from the metric library."""
    return METRIC(y, p)


def on_grid(t, y):
    """The series on whole steps 0..n, gaps filled by interpolation (what AR and Holt-Winters need)."""
    grid = pd.Series(y, index=np.round(t).astype(int)).groupby(level=0).mean()
    grid = grid.reindex(range(grid.index.min(), grid.index.max() + 1)).interpolate().bfill().ffill()
    return grid


def last_value(t, y, t_new, cycles):
    return np.full(len(t_new), pd.Series(y).dropna().iloc[-1])


def trend_and_cycles(t, y, t_new, cycles, window=None):
    if window is not None:  # only the last `window` steps: a straight trend is a local one
        recent = t >= t.max() - window
        t, y = t[recent], y[recent]

    def design(s):
        columns = [s / max(t.max(), 1)]
        for period in cycles:
            for k in (1, 2, 3):
                columns += [np.sin(2 * np.pi * k * s / period), np.cos(2 * np.pi * k * s / period)]
        return np.column_stack(columns)
    known = ~np.isnan(y)
    return Ridge(alpha=1e-3).fit(design(t[known]), y[known]).predict(design(t_new))


def autoregression(t, y, t_new, cycles):
    grid = on_grid(t, y)
    lags = ar_select_order(grid.to_numpy(), maxlag=min(30, len(grid) // 4), trend="ct").ar_lags or [1]
    fitted = AutoReg(grid.to_numpy(), lags=lags, trend="ct").fit()
    ahead = np.maximum(np.round(t_new).astype(int) - grid.index.max(), 1)
    path = fitted.forecast(int(ahead.max()))
    return path[ahead - 1]


def recent_trend_and_cycles(t, y, t_new, cycles):
    """Trend and cycles on the last eight of the longest cycles only (four times the horizon where
    there is no cycle): a series whose level wanders is better followed by a recent fit."""
    window = 8 * max(cycles) if cycles else 4 * (t_new.max() - t.max())
    return trend_and_cycles(t, y, t_new, cycles, window=window)


def holt_winters(t, y, t_new, cycles):
    grid = on_grid(t, y)
    period = int(round(max(cycles))) if cycles else None
    if period and period >= 100:  # a long cycle over a long history takes minutes to estimate: ten cycles do
        grid = grid.iloc[-10 * period:]
    seasonal = "add" if period and 2 <= period <= len(grid) // 2 else None
    fitted = ExponentialSmoothing(grid.to_numpy(), trend="add", seasonal=seasonal,
                                  seasonal_periods=period if seasonal else None).fit()
    ahead = np.maximum(np.round(t_new).astype(int) - grid.index.max(), 1)
    return fitted.forecast(int(ahead.max()))[ahead - 1]


forecasters = {"last value": last_value, "trend + cycles": trend_and_cycles,
               "recent trend + cycles": recent_trend_and_cycles, "autoregression": autoregression,
               "holt-winters": holt_winters}
cv_scores, best = {}, {}
horizon = int(min(len(t_test), len(t_train) // 4))
for column in y_columns:
    y_all = train[column].to_numpy(dtype=float)[order]
    fit_t, fit_y, check_t, check_y = t_train[:-horizon], y_all[:-horizon], t_train[-horizon:], y_all[-horizon:]
    keep = ~np.isnan(check_y)
    for name, forecast in forecasters.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predicted = forecast(fit_t, fit_y, check_t, periods[column])
            cv_scores[(column, name)] = float(score(check_y[keep], np.asarray(predicted)[keep]))
        except Exception as error:
            print(f"{name} failed on {column}: {type(error).__name__}: {error}")
    tried = {name: s for (c, name), s in cv_scores.items() if c == column and np.isfinite(s)}
    best[column] = (min if LOWER_IS_BETTER else max)(tried, key=tried.get)
    print(f"{column}, last {horizon} points held out: " + ", ".join(f"{n} {s:.5g}" for n, s in tried.items())
          + f" -> {best[column]}")
