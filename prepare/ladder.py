"""Reference ladders: the leaderboards of the built-in competitions.

A built-in competition has no human teams, so its leaderboard is a *reference ladder*:
a documented set of reference solutions, from trivial (a constant) through linear models,
nearest neighbours and single trees to tree ensembles and tuned variants, each actually
trained on the competition's training data when the competition is built and scored on
its public and private test rows. A position score on such a board says "this submission
beats that share of the reference solutions", not "of Kaggle teams".

Every estimator runs single-threaded with a fixed seed, so a build gives the same board
on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from ..metrics import Metric
from .common import leaderboard_frame

# (team name, estimator, family). The family is what the description's ladder table groups by.
Rung = tuple[str, BaseEstimator, str]


@dataclass
class LadderEntry:
    team: str
    family: str
    predictions: pd.DataFrame  # one column per target, rows aligned with the test answers


def preprocessor(frame: pd.DataFrame, *, scale: bool) -> ColumnTransformer:
    """Impute (median / most frequent), one-hot the text columns, optionally scale numbers."""
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median")]
    if scale:
        numeric_steps.append(StandardScaler())
    parts: list[Any] = [("numeric", make_pipeline(*numeric_steps), numeric)]
    if categorical:
        parts.append(
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            )
        )
    return ColumnTransformer(parts)


def classifier_rungs(n_rows: int, *, label_output: bool, n_classes: int = 2) -> list[Rung]:
    """About 30 classifiers from trivial to tuned, sized so a ladder fits in seconds."""
    trees = 50 if n_rows < 3000 else 25
    boosting_rounds = 30 if n_classes <= 3 else 10  # boosting grows one tree per class per round
    trivial = "most_frequent" if label_output else "prior"
    rungs: list[Rung] = [
        (f"trivial: {trivial.replace('_', ' ')} class", DummyClassifier(strategy=trivial), "trivial"),
        ("trivial: random by class frequency", DummyClassifier(strategy="stratified", random_state=0), "trivial"),
        ("naive Bayes (Gaussian)", GaussianNB(), "linear"),
    ]
    rungs += [
        (f"logistic regression C={c:g}", LogisticRegression(C=c, max_iter=2000), "linear")
        for c in (0.001, 0.01, 0.1, 1, 10, 100)
    ]
    rungs += [
        (f"k-nearest neighbours k={k}", KNeighborsClassifier(n_neighbors=k), "neighbours") for k in (1, 3, 7, 15, 31)
    ]
    rungs += [
        (f"decision tree depth={d}", DecisionTreeClassifier(max_depth=d, random_state=0), "tree")
        for d in (1, 2, 3, 5, None)
    ]
    rungs += [
        (f"random forest seed={s}", RandomForestClassifier(n_estimators=trees, random_state=s), "ensemble")
        for s in (0, 1, 2)
    ]
    rungs += [
        ("random forest depth=3", RandomForestClassifier(n_estimators=trees, max_depth=3, random_state=0), "ensemble")
    ]
    rungs += [
        (f"extra trees seed={s}", ExtraTreesClassifier(n_estimators=trees, random_state=s), "ensemble") for s in (0, 1)
    ]
    rungs += [
        (
            f"gradient boosting lr={lr:g} leaves={leaves}",
            HistGradientBoostingClassifier(
                learning_rate=lr, max_leaf_nodes=leaves, max_iter=boosting_rounds, random_state=0
            ),
            "ensemble",
        )
        for lr in (0.05, 0.2)
        for leaves in (7, 31)
    ]
    rungs += [
        (
            "tuned: logistic regression (3-fold grid over C)",
            GridSearchCV(LogisticRegression(max_iter=2000), {"C": [0.01, 0.1, 1, 10]}, cv=3),
            "tuned",
        ),
        (
            "tuned: random forest (3-fold grid over min leaf)",
            GridSearchCV(RandomForestClassifier(n_estimators=20, random_state=0), {"min_samples_leaf": [1, 5]}, cv=3),
            "tuned",
        ),
    ]
    return rungs


def regressor_rungs(n_rows: int, *, count_target: bool = False, log_target: bool = False) -> list[Rung]:
    """About 30 regressors from trivial to tuned, sized so a ladder fits in seconds.

    With ``log_target`` (for log-based metrics such as RMSLE) every model but the trivial and
    Poisson ones learns log(1 + y) and predicts exp(.) - 1, the usual way to fit such a metric.
    """
    trees = 50 if n_rows < 3000 else 25
    leaf = 1 if n_rows < 3000 else 5
    rungs: list[Rung] = [
        ("trivial: training mean", DummyRegressor(strategy="mean"), "trivial"),
        ("trivial: training median", DummyRegressor(strategy="median"), "trivial"),
    ]
    rungs += [(f"ridge regression alpha={a:g}", Ridge(alpha=a), "linear") for a in (0.01, 1, 10, 100, 1000)]
    if count_target:
        rungs += [
            (f"Poisson regression alpha={a:g}", PoissonRegressor(alpha=a, max_iter=1000), "linear") for a in (0.01, 1)
        ]
    rungs += [
        (f"k-nearest neighbours k={k}", KNeighborsRegressor(n_neighbors=k), "neighbours") for k in (1, 3, 7, 15, 31)
    ]
    rungs += [
        (f"decision tree depth={d}", DecisionTreeRegressor(max_depth=d, random_state=0), "tree")
        for d in (1, 2, 3, 5, None)
    ]
    rungs += [
        (
            f"random forest seed={s}",
            RandomForestRegressor(n_estimators=trees, min_samples_leaf=leaf, random_state=s),
            "ensemble",
        )
        for s in (0, 1, 2)
    ]
    rungs += [
        ("random forest depth=3", RandomForestRegressor(n_estimators=trees, max_depth=3, random_state=0), "ensemble")
    ]
    rungs += [
        (
            f"extra trees seed={s}",
            ExtraTreesRegressor(n_estimators=trees, min_samples_leaf=leaf, random_state=s),
            "ensemble",
        )
        for s in (0, 1)
    ]
    loss = "poisson" if count_target else "squared_error"
    rungs += [
        (
            f"gradient boosting ({loss}) lr={lr:g} leaves={leaves}",
            HistGradientBoostingRegressor(
                loss=loss, learning_rate=lr, max_leaf_nodes=leaves, max_iter=50, random_state=0
            ),
            "ensemble",
        )
        for lr in (0.05, 0.2)
        for leaves in (7, 31)
    ]
    rungs += [
        (
            "tuned: ridge regression (3-fold grid over alpha)",
            GridSearchCV(Ridge(), {"alpha": [0.1, 1, 10, 100]}, cv=3),
            "tuned",
        ),
        (
            "tuned: gradient boosting (3-fold grid over leaves)",
            GridSearchCV(HistGradientBoostingRegressor(max_iter=30, random_state=0), {"max_leaf_nodes": [7, 31]}, cv=3),
            "tuned",
        ),
    ]
    if log_target:
        rungs = [
            (team, estimator, family)
            if family == "trivial" or "oisson" in team
            else (
                f"{team}, on log(1 + y)",
                TransformedTargetRegressor(estimator, func=np.log1p, inverse_func=np.expm1),
                family,
            )
            for team, estimator, family in rungs
        ]
    return rungs


def fit_tabular_ladder(
    rungs: Sequence[Rung],
    x_train: pd.DataFrame | np.ndarray,
    y_train: np.ndarray,
    x_test: pd.DataFrame | np.ndarray,
    to_predictions: Callable[[BaseEstimator, Any], pd.DataFrame],
) -> list[LadderEntry]:
    """Fit every rung (behind the imputing/encoding preprocessor) and collect its predictions."""
    frame_train = pd.DataFrame(x_train)
    entries = []
    # One thread: on a busy machine OpenMP/BLAS threads fight each other and small fits
    # get slower, not faster; one thread also makes the results the same everywhere.
    with threadpool_limits(1):
        for team, estimator, family in rungs:
            scale = family in ("linear", "neighbours", "tuned", "kernel")
            model = make_pipeline(preprocessor(frame_train, scale=scale), clone(estimator))
            model.fit(frame_train, y_train)
            entries.append(LadderEntry(team, family, to_predictions(model, pd.DataFrame(x_test))))
    return entries


def score_ladder(
    entries: Sequence[LadderEntry],
    answers: pd.DataFrame,
    target_columns: Sequence[str],
    metric: Metric,
    public_rows: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """Score every entry on the public and private rows; leaderboards best first.

    Each board has columns rank, score, team, family.
    """
    boards = {}
    for split, rows in (("public", public_rows), ("private", ~public_rows)):
        truth = answers.loc[rows, list(target_columns)].reset_index(drop=True)
        scores = []
        for entry in entries:
            predicted = entry.predictions.loc[rows, list(target_columns)].reset_index(drop=True)
            if metric.multi_target:
                scores.append(metric(truth, predicted))
            else:
                scores.append(metric(truth.iloc[:, 0], predicted.iloc[:, 0]))
        board = leaderboard_frame(scores, metric.higher_is_better, [e.team for e in entries])
        families = {e.team: e.family for e in entries}
        board["family"] = board["team"].map(families)
        boards[split] = board
    return boards
