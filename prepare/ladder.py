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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    VotingClassifier,
    VotingRegressor,
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
                    # at most 30 columns per category: ids and timestamps would otherwise make thousands
                    OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False),
                ),
                categorical,
            )
        )
    return ColumnTransformer(parts)


def classifier_rungs(n_rows: int, *, label_output: bool, n_classes: int = 2, small: bool = False,
                     rarest_class: int | None = None) -> list[Rung]:
    """About 30 classifiers from trivial to tuned, sized so a ladder fits in seconds.

    ``small``: a dozen rungs, for ladders that fit one model per label (multi-label).
    ``rarest_class``: the training rows of the rarest class, which sets the tuned grid's folds.
    """
    trees = 50 if n_rows < 3000 else 25
    boosting_rounds = 30 if n_classes <= 3 else 10  # boosting grows one tree per class per round
    if small:
        return _small_classifier_rungs(trees)
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
    neighbours = (1, 3, 7, 15, 31) if n_rows < 8000 else (5, 25)  # each predicts by a search over all rows
    rungs += [(f"k-nearest neighbours k={k}", KNeighborsClassifier(n_neighbors=k), "neighbours") for k in neighbours]
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
    # Early stopping holds out a stratified tenth of each fold's training part, which needs
    # two rows of every class there: a class of 3 rows keeps only 1 with 2 folds, 2 with 3.
    folds = 3 if rarest_class is not None and rarest_class < 4 else 2
    return rungs + strong_rungs(n_rows, classify=True, n_classes=n_classes, tuned_folds=folds)


def _small_classifier_rungs(trees: int) -> list[Rung]:
    return [
        ("trivial: prior class", DummyClassifier(strategy="prior"), "trivial"),
        ("naive Bayes (Gaussian)", GaussianNB(), "linear"),
        *[(f"logistic regression C={c:g}", LogisticRegression(C=c, max_iter=1000), "linear") for c in (0.001, 0.1, 10)],
        *[(f"decision tree depth={d}", DecisionTreeClassifier(max_depth=d, random_state=0), "tree") for d in (2, 5, 10)],
        ("random forest depth=6", RandomForestClassifier(n_estimators=trees, max_depth=6, random_state=0), "ensemble"),
        ("random forest", RandomForestClassifier(n_estimators=trees, min_samples_leaf=3, random_state=0), "ensemble"),
        *[
            (f"gradient boosting lr={lr:g} rounds={rounds}",
             HistGradientBoostingClassifier(learning_rate=lr, max_iter=rounds, random_state=0), "ensemble")
            for lr, rounds in ((0.2, 20), (0.1, 60))
        ],
        ("strong: gradient boosting 300 rounds lr=0.05",
         HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, random_state=0), "strong"),
    ]


def strong_rungs(n_rows: int, *, classify: bool, n_classes: int = 2, loss: str = "squared_error",
                 blend_trees: tuple[int, int] | None = None, rounds: int | None = None,
                 tuned_folds: int = 2) -> list[Rung]:
    """The top of the ladder: gradient boosting stopped early on held-out rows, and tuned.

    These are what a careful person gets from the same features with patience; a first
    cross-validated model (200 rounds at rate 0.1) should land below them. ``blend_trees``:
    the random forests' sizes in the (blend, slow blend), where the defaults cost more than
    they add (a wide table, whose full-depth trees are slow). ``rounds``: the boosting rounds
    in place of the default, for a table so wide that each round is slow.
    """
    if classify:
        def boosting(**options: Any) -> BaseEstimator:
            return HistGradientBoostingClassifier(random_state=0, **options)
    else:
        def boosting(**options: Any) -> BaseEstimator:
            return HistGradientBoostingRegressor(loss=loss, random_state=0, **options)
    if rounds is None:
        rounds = 500 if n_classes <= 3 else 150  # a multiclass round fits one tree per class
    stop = {"early_stopping": True, "validation_fraction": 0.1, "n_iter_no_change": 25}
    return [
        (
            f"strong: gradient boosting lr=0.1 leaves=31 l2=1, early stopping (at most {rounds} rounds)",
            boosting(learning_rate=0.1, max_iter=rounds, l2_regularization=1.0, **stop),
            "strong",
        ),
        (
            f"strong: gradient boosting lr=0.07 leaves=63 min leaf=40, early stopping (at most {rounds} rounds)",
            boosting(learning_rate=0.07, max_iter=rounds, max_leaf_nodes=63, min_samples_leaf=40, **stop),
            "strong",
        ),
        (
            "strong: blend of gradient boosting, a random forest and a linear model (soft vote 2:1:1)"
            if classify else "strong: blend of gradient boosting and a random forest (2:1)",
            _blend(classify, rounds, loss, None if blend_trees is None else blend_trees[0]),
            "strong",
        ),
        (
            f"strong: gradient boosting lr=0.03 leaves=31 l2=1, {rounds * 8 // 5} rounds",
            boosting(learning_rate=0.03, max_iter=rounds * 8 // 5, l2_regularization=1.0, early_stopping=False),
            "strong",
        ),
        (
            "strong: blend of slow gradient boosting and a large random forest (3:1)",
            _slow_blend(classify, rounds * 8 // 5, loss, None if blend_trees is None else blend_trees[1]),
            "strong",
        ),
        (
            f"tuned: gradient boosting ({tuned_folds}-fold grid over leaves 15 / 63, early stopping)",
            GridSearchCV(boosting(learning_rate=0.1, max_iter=rounds, **stop), {"max_leaf_nodes": [15, 63]},
                         cv=tuned_folds),
            "tuned",
        ),
    ]


def _blend(classify: bool, rounds: int, loss: str, trees: int | None = None) -> BaseEstimator:
    """Averaging models that err differently beats the best of them: the usual last step of a careful solution."""
    forest_trees = trees or (150 if rounds > 150 else 60)
    if classify:
        return VotingClassifier(
            [
                ("boosting", HistGradientBoostingClassifier(learning_rate=0.05, max_iter=min(rounds, 300), random_state=0)),
                ("forest", RandomForestClassifier(n_estimators=forest_trees, min_samples_leaf=2, random_state=0)),
                ("linear", make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))),
            ],
            voting="soft",
            weights=[2, 1, 1],
        )
    return VotingRegressor(
        [
            ("boosting", HistGradientBoostingRegressor(loss=loss, learning_rate=0.05, max_iter=min(rounds, 300),
                                                       random_state=0)),
            ("forest", RandomForestRegressor(n_estimators=forest_trees, min_samples_leaf=2, random_state=0)),
        ],
        weights=[2, 1],
    )


def _slow_blend(classify: bool, rounds: int, loss: str, trees: int | None = None) -> BaseEstimator:
    forest_trees = trees or (300 if rounds > 300 else 100)
    if classify:
        return VotingClassifier(
            [
                ("boosting", HistGradientBoostingClassifier(learning_rate=0.03, max_iter=rounds, l2_regularization=1.0,
                                                            random_state=0)),
                ("forest", RandomForestClassifier(n_estimators=forest_trees, min_samples_leaf=1, random_state=0)),
            ],
            voting="soft",
            weights=[3, 1],
        )
    return VotingRegressor(
        [
            ("boosting", HistGradientBoostingRegressor(loss=loss, learning_rate=0.03, max_iter=rounds,
                                                       l2_regularization=1.0, random_state=0)),
            ("forest", RandomForestRegressor(n_estimators=forest_trees, min_samples_leaf=1, random_state=0)),
        ],
        weights=[3, 1],
    )


def regressor_rungs(n_rows: int, *, count_target: bool = False, log_target: bool = False,
                    blend_trees: tuple[int, int] | None = None, strong_rounds: int | None = None) -> list[Rung]:
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
    neighbours = (1, 3, 7, 15, 31) if n_rows < 8000 else (5, 25)  # each predicts by a search over all rows
    rungs += [(f"k-nearest neighbours k={k}", KNeighborsRegressor(n_neighbors=k), "neighbours") for k in neighbours]
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
    rungs += strong_rungs(n_rows, classify=False, loss=loss, blend_trees=blend_trees, rounds=strong_rounds)
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


def _fit_rung(rung: Rung, frame_train: pd.DataFrame, y_train: np.ndarray, x_test: pd.DataFrame,
              to_predictions: Callable[[BaseEstimator, Any], pd.DataFrame]) -> LadderEntry:
    team, estimator, family = rung
    # One thread: on a busy machine OpenMP/BLAS threads fight each other and small fits
    # get slower, not faster; one thread also makes the results the same everywhere.
    with threadpool_limits(1):
        if getattr(estimator, "takes_raw_frame", False):  # it prepares its own features (e.g. joins tables)
            model = clone(estimator).fit(frame_train, y_train)  # pyright: ignore[reportAttributeAccessIssue]  # an estimator, not a container
            return LadderEntry(team, family, to_predictions(model, x_test))
        scale = family in ("linear", "neighbours", "kernel") or (family == "tuned" and "boosting" not in team)
        model = make_pipeline(preprocessor(frame_train, scale=scale), clone(estimator))
        model.fit(frame_train, y_train)
        return LadderEntry(team, family, to_predictions(model, x_test))


def fit_tabular_ladder(
    rungs: Sequence[Rung],
    x_train: pd.DataFrame | np.ndarray,
    y_train: np.ndarray,
    x_test: pd.DataFrame | np.ndarray,
    to_predictions: Callable[[BaseEstimator, Any], pd.DataFrame],
    *,
    jobs: int = 1,
) -> list[LadderEntry]:
    """Fit every rung (behind the imputing/encoding preprocessor) and collect its predictions.

    ``jobs`` > 1 fits that many rungs at a time in worker processes. Each rung still fits on
    one thread with its own seed, so the board is the same whatever ``jobs`` is.
    """
    frame_train, frame_test = pd.DataFrame(x_train), pd.DataFrame(x_test)
    if jobs <= 1 or len(rungs) <= 1:
        return [_fit_rung(rung, frame_train, y_train, frame_test, to_predictions) for rung in rungs]
    from joblib import Parallel, delayed

    # The slow rungs (strong, tuned) are last in a ladder: start them first, so the quick
    # ones fill the other workers meanwhile and no worker is left with a long tail alone.
    from joblib.externals.loky import get_reusable_executor

    order = list(range(len(rungs)))[::-1]
    try:
        # one rung per task (joblib takes an int here, though its annotation says str)
        fitted = Parallel(n_jobs=jobs, backend="loky", batch_size=1)(  # pyright: ignore[reportArgumentType]
            delayed(_fit_rung)(rungs[i], frame_train, y_train, frame_test, to_predictions) for i in order
        )
    finally:  # no idle workers left behind in the caller (an env, a test session) for minutes
        get_reusable_executor().shutdown(wait=True)
    entries: list[LadderEntry] = [None] * len(rungs)  # type: ignore[list-item]
    for i, entry in zip(order, fitted):
        entries[i] = entry  # type: ignore[assignment]
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
