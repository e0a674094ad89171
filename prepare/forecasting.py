"""Forecasting built-ins: forecasters for the reference ladder and the competition writer.

A forecast competition trains on the start of a series and is scored on the ``horizon``
points after it; the ladder's rungs are forecasters (naive, linear trend and cycles,
autoregression, exponential smoothing) fitted on the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from ..metrics import get_metric
from .builtin_kit import SEED, BuiltinSpec, describe, write_builtin
from .common import USAGE_COLUMN, assign_usage, horizon_split

Forecaster = Callable[[pd.Series, pd.Index], np.ndarray]


def harmonic_forecaster(period: float, harmonics: int, degree: int, window: float | None) -> Forecaster:
    """Least squares on a polynomial trend plus ``harmonics`` sine/cosine pairs of ``period``.

    Time is measured in the series' own units (years for both built-in series);
    ``window`` keeps only the last so many units of history.
    """

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        history = history.dropna()
        t_hist, t_new = years_of(history.index), years_of(horizon)
        if window is not None:
            keep = t_hist >= t_hist.max() - window
            history, t_hist = cast(pd.Series, history[keep]), t_hist[keep]  # a boolean mask keeps a Series
        origin = t_hist.mean()

        def design(t: np.ndarray) -> np.ndarray:
            columns = [(t - origin) ** d for d in range(degree + 1)]
            for k in range(1, harmonics + 1):
                columns += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
            return np.column_stack(columns)

        coefficients, *_ = np.linalg.lstsq(design(t_hist), history.to_numpy(dtype=float), rcond=None)
        return design(t_new) @ coefficients

    return forecast


def years_of(index: pd.Index) -> np.ndarray:
    """Years as floats: a DatetimeIndex in fractional years, a numeric index as it is."""
    if isinstance(index, pd.DatetimeIndex):
        return np.asarray(index.year + (index.day_of_year - 1) / 365.25, dtype=float)
    return np.asarray(index, dtype=float)


def last_value(history: pd.Series, horizon: pd.Index) -> np.ndarray:
    return np.full(len(horizon), history.dropna().iloc[-1])


def mean_of_last(span: int | None) -> Forecaster:
    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.dropna()
        return np.full(len(horizon), (values if span is None else values.iloc[-span:]).mean())

    return forecast


def drift(history: pd.Series, horizon: pd.Index) -> np.ndarray:
    values = history.dropna()
    slope = (values.iloc[-1] - values.iloc[0]) / (len(values) - 1)
    return values.iloc[-1] + slope * np.arange(1, len(horizon) + 1)


def seasonal_naive(season: int) -> Forecaster:
    """Repeat the last observed season (interpolating gaps first)."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.interpolate(limit_direction="both").to_numpy()
        last = values[-season:]
        return np.resize(last, len(horizon))

    return forecast


def seasonal_drift(season: int) -> Forecaster:
    """Repeat the last season, shifted up by its rise over the season before, once per season ahead."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.interpolate(limit_direction="both").to_numpy()
        last, before = values[-season:], values[-2 * season : -season]
        rise = last.mean() - before.mean()
        steps = np.arange(len(horizon))
        return last[steps % season] + rise * (steps // season + 1)

    return forecast


def autoregressive(lags: int, transform: str = "none") -> Forecaster:
    """statsmodels AutoReg with a constant, optionally on the square root of the series."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        from statsmodels.tsa.ar_model import AutoReg

        values = history.interpolate(limit_direction="both").to_numpy(dtype=float)
        if transform == "sqrt":
            values = np.sqrt(np.clip(values, 0, None))
        fitted = AutoReg(values, lags=lags, trend="c").fit()
        predicted = fitted.predict(start=len(values), end=len(values) + len(horizon) - 1)
        return np.clip(predicted, 0, None) ** 2 if transform == "sqrt" else predicted

    return forecast


def holt_winters(season: int, damped: bool, window: int) -> Forecaster:
    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        values = history.interpolate(limit_direction="both").to_numpy(dtype=float)[-window:]
        model = ExponentialSmoothing(values, trend="add", damped_trend=damped, seasonal="add", seasonal_periods=season)
        return model.fit(use_brute=False).forecast(len(horizon))  # no brute-force start search: seconds saved

    return forecast


def forecast_competition(
    spec: BuiltinSpec,
    target_dir: Path,
    *,
    series: pd.Series,
    id_column: str,
    target: str,
    horizon: int,
    forecasters: Sequence[tuple[str, str, Forecaster]],
    sample_forecaster: str,
    about: str,
    target_note: str,
    source: str,
    tags: list[str],
    format_id: Callable[[pd.Index], Sequence[Any]],
) -> None:
    from . import ladder  # scikit-learn: imported only when a competition is built

    train_idx, test_idx = horizon_split(len(series), horizon)
    history, future = series.iloc[train_idx], series.iloc[test_idx]
    observed = future.notna().to_numpy()  # a week with no measurement cannot be scored
    future_index = future.index[observed]
    ids = list(format_id(future_index))
    answers = pd.DataFrame({id_column: ids, target: future.to_numpy()[observed]})
    answers[USAGE_COLUMN] = assign_usage(len(answers), SEED + 1)
    entries = []
    for team, family, forecaster in forecasters:
        predicted = np.asarray(forecaster(history, future.index), dtype=float)[observed]
        entries.append(ladder.LadderEntry(team, family, pd.DataFrame({target: predicted})))
    metric = get_metric(spec.metric)
    boards = ladder.score_ladder(entries, answers, [target], metric, answers[USAGE_COLUMN].eq("Public").to_numpy())
    trivial = next(e for e in entries if e.team == sample_forecaster)
    sample = pd.DataFrame({id_column: ids, target: np.round(trivial.predictions[target].to_numpy(), 4)})
    train = pd.DataFrame({id_column: list(format_id(history.index)), target: history.to_numpy()})
    test = pd.DataFrame({id_column: ids})
    files = [
        (
            "train.csv",
            f"{len(train)} rows: `{id_column}` and `{target}`, in time order"
            + (" (some values are missing)" if train[target].isna().any() else "")
            + ".",
        ),
        ("test.csv", f"the {len(test)} `{id_column}` values to forecast, right after the training period."),
        ("sample_submission.csv", f'a valid submission: the forecast of the rung "{sample_forecaster}".'),
    ]
    description = describe(
        spec, about=about, files=files, sample=sample, target_note=target_note, boards=boards, source=source
    )
    write_builtin(
        spec,
        target_dir,
        target_columns=[target],
        answers=answers,
        sample=sample,
        description=description,
        public_files={"train.csv": train, "test.csv": test},
        boards=boards,
        tags=tags,
        source=source,
        train_target=target,
        id_column=id_column,
    )




# ---------------------------------------------------------------- forecasters on a regular grid of steps
# For series sampled every day or every half hour, time is counted in steps: the history is
# steps 0..n-1 and the horizon the steps after it (the series have no gaps).


def _fourier_design(t: np.ndarray, cycles: Sequence[tuple[float, int]], degree: int, origin: float) -> np.ndarray:
    columns = [((t - origin) / 1000.0) ** d for d in range(degree + 1)]
    for period, harmonics in cycles:
        for k in range(1, harmonics + 1):
            columns += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
    return np.column_stack(columns)


def fourier_regression(
    cycles: Sequence[tuple[float, int]], *, degree: int = 1, window: int | None = None, day_profile: bool = False
) -> Forecaster:
    """Least squares on a polynomial trend plus sine/cosine pairs of each (period in steps, harmonics).

    ``window`` keeps the last so many steps of history. With ``day_profile`` (daily series),
    the mean residual of each calendar day (month, day) is added back: holidays that a smooth
    yearly curve misses.
    """

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        n = len(history)
        t_hist, t_new = np.arange(n, dtype=float), np.arange(n, n + len(horizon), dtype=float)
        values = history.to_numpy(dtype=float)
        if window is not None:
            t_hist, values, kept = t_hist[-window:], values[-window:], history.index[-window:]
        else:
            kept = history.index
        origin = t_hist.mean()
        design = _fourier_design(t_hist, cycles, degree, origin)
        coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
        predicted = _fourier_design(t_new, cycles, degree, origin) @ coefficients
        if day_profile:
            residual = pd.Series(values - design @ coefficients, index=kept)
            kept_dates, horizon_dates = cast(pd.DatetimeIndex, kept), cast(pd.DatetimeIndex, horizon)  # daily series
            by_day = cast(pd.Series, residual.groupby([kept_dates.month, kept_dates.day]).mean())
            keys = list(zip(horizon_dates.month, horizon_dates.day))
            predicted = predicted + np.array([by_day.get(key, 0.0) for key in keys])
        return predicted

    return forecast


def seasonal_mean(season: int, cycles: int) -> Forecaster:
    """The mean of the last ``cycles`` seasons, point by point, repeated over the horizon."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.to_numpy(dtype=float)[-season * cycles :].reshape(cycles, season)
        return np.resize(values.mean(axis=0), len(horizon))

    return forecast
