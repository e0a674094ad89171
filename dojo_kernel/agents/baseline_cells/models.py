# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Cross-validate a linear model, a random forest and gradient boosting; keep the best per target.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
PROBLEM = "classification"  # classification | regression
METRIC_NAME = "accuracy"  # a name the metric library knows
LOWER_IS_BETTER = False
PREDICT = "label"  # what the metric scores: label | probability | ranking | value
MULTICLASS_COLUMNS = False  # the submission has one probability column per class
K = 3  # labels per row for a ranking metric
N_ESTIMATORS = 200  # trees per forest, rounds of boosting
LOG_TARGET = False  # the metric compares logarithms: fit on log(1 + y)
POISSON = False  # a count target: boosting with the Poisson loss
MAX_ROWS = 20000  # rows sampled for cross-validation
FOLDS = 3
# -- end of parameters --

from sklearn.base import clone  # noqa: F401  (fit_and_write uses it)
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from dojo_kernel.metrics import get_metric

METRIC = get_metric(METRIC_NAME)


def score(y, p):
    """The competition's metric, from the metric library, on what a model predicts for rows y."""
    p = np.asarray(p)
    if METRIC.name in ("rmsle", "mean_columnwise_rmsle", "poisson_deviance"):
        p = np.clip(p, 1e-9, None)  # a model may stray below what the metric accepts
    if p.ndim == 2:  # class probabilities, one column per class in sorted order
        return METRIC(y, pd.DataFrame(p, columns=[str(c) for c in np.unique(y)]))
    if METRIC.name == "f1" and 1 not in set(np.unique(y)):  # no positive class 1 to score: macro F1
        return get_metric("f1_macro")(y, p)
    return METRIC(y, p)


if PROBLEM == "classification":
    candidates = {
        "logistic regression": make_pipeline(preprocessor(scale=True), LogisticRegression(max_iter=2000)),
        "random forest": make_pipeline(preprocessor(scale=False), RandomForestClassifier(
            n_estimators=N_ESTIMATORS, min_samples_leaf=2, n_jobs=-1, random_state=0)),
        "gradient boosting": make_pipeline(preprocessor(scale=False), HistGradientBoostingClassifier(
            max_iter=N_ESTIMATORS, learning_rate=0.1, early_stopping=False, random_state=0)),
    }
else:
    candidates = {
        "ridge": make_pipeline(preprocessor(scale=True), Ridge(alpha=1.0)),
        "random forest": make_pipeline(preprocessor(scale=False), RandomForestRegressor(
            n_estimators=N_ESTIMATORS, min_samples_leaf=2, n_jobs=-1, random_state=0)),
        "gradient boosting": make_pipeline(preprocessor(scale=False), HistGradientBoostingRegressor(
            loss="poisson" if POISSON else "squared_error", max_iter=N_ESTIMATORS, learning_rate=0.1,
            early_stopping=False, random_state=0)),
    }
    if LOG_TARGET:
        candidates = {name: TransformedTargetRegressor(model, func=np.log1p, inverse_func=np.expm1)
                      for name, model in candidates.items()}
if not dense:  # gradient boosting cannot take the sparse matrix TF-IDF makes; forests crawl on it
    candidates.pop("gradient boosting", None)
    if len(X) > 10_000:
        candidates.pop("random forest", None)


def prediction_of(raw, classes):
    """What the metric reads, from what a model gives: one probability column for two classes,
    the top K labels for a ranking, the raw output otherwise."""
    if PREDICT == "probability" and raw.ndim == 2 and raw.shape[1] == 2 and not MULTICLASS_COLUMNS:
        return raw[:, 1]
    if PREDICT == "ranking":
        top = np.argsort(-raw, axis=1)[:, :K]
        return np.array([" ".join(str(classes[i]) for i in row) for row in top])
    return raw


method = "predict_proba" if PREDICT in ("probability", "ranking") else "predict"
cv_scores, best = {}, {}
for column in y_columns:
    known = train[column].notna().to_numpy()
    y = train.loc[known, column].to_numpy()
    rows = np.flatnonzero(known)
    if len(rows) > MAX_ROWS:  # cross-validate on a sample; the final fit sees every row
        rows = np.random.default_rng(0).choice(rows, MAX_ROWS, replace=False)
    X_cv = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    y_cv = train[column].to_numpy()[rows]
    cv = (StratifiedKFold if PROBLEM == "classification" else KFold)(FOLDS, shuffle=True, random_state=0)
    for name, model in candidates.items():
        try:
            raw = cross_val_predict(model, X_cv, y_cv, cv=cv, method=method)
            cv_scores[(column, name)] = float(score(y_cv, prediction_of(raw, np.unique(y_cv))))
        except Exception as error:  # one model failing is no reason to stop
            print(f"{name} failed on {column}: {type(error).__name__}: {error}")
    tried = {name: s for (c, name), s in cv_scores.items() if c == column and np.isfinite(s)}
    best[column] = (min if LOWER_IS_BETTER else max)(tried, key=tried.get)
    print(f"{column}: " + ", ".join(f"{name} {s:.5g}" for name, s in tried.items()) + f" -> {best[column]}")
