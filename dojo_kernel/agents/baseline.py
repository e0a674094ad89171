"""`baseline`: a scripted data scientist, no LLM.

It works the way a person works in a notebook, one cell at a time, keeping everything in the
kernel: read the task, load the data once, look at it, decide what kind of problem it is,
build features, cross-validate a few models, keep the best, write the submission, check its
score, submit. It handles tabular classification and regression (with missing values,
categorical and text columns), images stored as files (pixels as features) and time-series
forecasts (the test rows lie after the training rows in time), and falls back to a simple
model, then to the sample submission, when a step fails.

Decisions that depend on the data are taken from what the cells print, as a person reads
them: the "look" cell ends with a `layout: {...}` line that the agent parses.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from string import Template
from typing import Any

from ..errors import ConfigError, expected
from ..spaces import CELL_STATUSES
from .base import Action, Observation

# -- the task, as the metadata text states it ---------------------------------------------

_METADATA_LINE = re.compile(r"^- (\w+): (.*)$", re.MULTILINE)


@dataclass
class Task:
    metric: str | None = None
    higher_is_better: bool | None = None
    id_column: str | None = None
    target_columns: list[str] = field(default_factory=list)
    category: str | None = None
    task: str | None = None
    submission_file: str = "submission.csv"

    @property
    def prediction(self) -> str:
        """What the metric scores: label, probability, continuous or ranking (from the metric library)."""
        if not self.metric:
            return "unknown"
        try:
            from ..metrics import get_metric
            return get_metric(self.metric).kind
        except Exception:  # an unknown or custom metric: the data decides later
            return "unknown"

    @property
    def lower_is_better(self) -> bool:
        if self.higher_is_better is not None:
            return not self.higher_is_better
        try:
            from ..metrics import get_metric
            return not get_metric(self.metric or "").higher_is_better
        except Exception:
            return False


def parse_metadata(text: str) -> Task:
    """Read the `request_info("metadata")` text ("- metric: rmse" lines)."""
    fields = {key: value.strip() for key, value in _METADATA_LINE.findall(text or "")}
    task = Task()
    if fields.get("metric") not in (None, "", "None"):
        task.metric = fields["metric"]
    if fields.get("higher_is_better") in ("True", "False"):
        task.higher_is_better = fields["higher_is_better"] == "True"
    if fields.get("id_column") not in (None, "", "None"):
        task.id_column = fields["id_column"]
    try:
        targets = ast.literal_eval(fields.get("target_columns", "[]"))
        if isinstance(targets, (list, tuple)):
            task.target_columns = [str(t) for t in targets]
        elif isinstance(targets, str):
            task.target_columns = [targets]
    except (ValueError, SyntaxError):
        pass
    for key in ("category", "task"):
        if fields.get(key) not in (None, "", "None"):
            setattr(task, key, fields[key])
    if fields.get("submission_file") not in (None, "", "None"):
        task.submission_file = fields["submission_file"]
    return task


def parse_layout(text: str) -> dict[str, Any] | None:
    """The `layout: {...}` line the look cell prints, or None where it is missing."""
    for line in reversed((text or "").splitlines()):
        if line.startswith("layout: "):
            try:
                value = json.loads(line[len("layout: "):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


# -- the cells ------------------------------------------------------------------------------
# Templates use $names (string.Template), which Python code never needs, so the braces of
# dicts and f-strings stay as they are. Values are substituted as Python literals (repr).

LOAD = """\
import json
from pathlib import Path

import numpy as np
import pandas as pd

files = sorted(p for p in Path("input").rglob("*") if p.is_file())
print(f"{len(files)} files in input/, e.g.:", ", ".join(str(p.relative_to("input")) for p in files[:12]))


def find_table(word):
    \"\"\"The shallowest CSV whose name contains `word` (the sample submission aside).\"\"\"
    found = [p for p in files if p.suffix.lower() == ".csv" and word in p.stem.lower() and "sample" not in p.stem.lower()]
    return min(found, key=lambda p: (len(p.parts), len(p.name))) if found else None


sample_path = next((p for p in files if p.suffix.lower() == ".csv" and "sample" in p.stem.lower()), None)
sample = pd.read_csv(sample_path)
train = pd.read_csv(find_table("train"))
test_path = find_table("test")
test = pd.read_csv(test_path) if test_path else sample.iloc[:, :1].copy()
print("train", train.shape, "| test", test.shape, "| sample submission", sample.shape)
train.head()
"""

LOOK = """\
ID = $id_column if $id_column in sample.columns else sample.columns[0]
TARGETS = [c for c in $targets if c in sample.columns] or [c for c in sample.columns if c != ID]


def respelled(frame):
    \"\"\"The same column may be spelled differently in train/test and in the submission ("label" / "Label").\"\"\"
    return frame.rename(columns={c: t for t in [ID, *TARGETS] for c in frame.columns
                                 if t not in frame.columns and c.lower() == t.lower()})


train, test = respelled(train), respelled(test)
print("id column:", ID, "| submission columns:", TARGETS)
print("column types:", train.dtypes.astype(str).value_counts().to_dict())
missing = train.isna().mean()
print("missing values:", {c: f"{v:.0%}" for c, v in missing[missing > 0].items()} or "none")


def as_time(values):
    \"\"\"Numbers as they are, dates as datetimes; None for a column that is neither.\"\"\"
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        if parsed.notna().mean() > 0.9:
            return parsed
    return None


def is_forecast_index(column):
    \"\"\"Every test value comes after every train value: the test rows are the future.\"\"\"
    if column not in train.columns or column not in test.columns:
        return False
    past, future = as_time(train[column]), as_time(test[column])
    return past is not None and future is not None and len(future) > 0 and future.min() > past.max()


label_column = None
if not set(TARGETS) <= set(train.columns):  # one submission column per class: find the label column
    class_names = set(map(str, TARGETS))
    label_column = next((c for c in train.columns if c not in test.columns and c != ID
                         and set(train[c].dropna().astype(str)) <= class_names), None)
y_columns = [label_column] if label_column else [c for c in TARGETS if c in train.columns]
shared = [c for c in test.columns if c in train.columns and c not in TARGETS and c not in y_columns]
# A forecast: the task says so, or the test rows carry nothing but the time (an id that merely
# grows from train to test, as on many Kaggle tables, is no reason to forecast).
time_column = next((c for c in [ID, *shared] if is_forecast_index(c)
                    and ($category == "time-series" or not [o for o in shared if o not in (c, ID)])), None)
images = [p for p in files if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}]
image_column = None
if images:  # which column names each row's image: a file name column, else the id
    names, stems = {p.name for p in images}, {p.stem for p in images}
    for column in [c for c in train.columns if c in test.columns or c == ID]:
        values = train[column].astype(str)
        if values.map(lambda v: Path(v).name).isin(names).mean() > 0.9 or values.isin(stems).mean() > 0.9:
            image_column = column
            break
kind = "timeseries" if time_column is not None else "image" if image_column is not None else "tabular"
for column in y_columns:
    values = train[column]
    if values.nunique() <= 20:
        print(f"target {column}:", values.value_counts(dropna=False).head(20).to_dict())
    else:
        print(f"target {column}:", values.describe().round(4).to_dict())
layout = {"kind": kind, "id": ID, "targets": TARGETS, "y_columns": y_columns, "label_column": label_column,
          "time_column": time_column, "image_column": image_column, "train_rows": len(train), "test_rows": len(test),
          "unique": {c: int(train[c].nunique()) for c in y_columns},
          "numeric": {c: bool(pd.api.types.is_numeric_dtype(train[c])) for c in y_columns},
          "non_negative": {c: bool(pd.api.types.is_numeric_dtype(train[c]) and train[c].min() >= 0) for c in y_columns}}
print("layout:", json.dumps(layout))
"""

TABULAR_FEATURES = """\
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

features = [c for c in test.columns if c in train.columns and c != ID and c not in TARGETS and c not in y_columns]
X, X_test = train[features].copy(), test[features].copy()
for column in list(features):  # dates become numbers a model can use
    parsed = as_time(X[column]) if not pd.api.types.is_numeric_dtype(X[column]) else None
    if parsed is not None and not pd.api.types.is_numeric_dtype(parsed):
        for frame in (X, X_test):
            when = pd.to_datetime(frame[column], errors="coerce", format="mixed")
            frame[column + "_year"], frame[column + "_month"] = when.dt.year, when.dt.month
            frame[column + "_weekday"], frame[column] = when.dt.day_of_week, when.dt.day_of_year
numeric = X.select_dtypes(include=["number", "bool"]).columns.tolist()
rest = [c for c in X.columns if c not in numeric]
text = [c for c in rest if X[c].astype(str).str.len().mean() > 30 and X[c].nunique() > 0.2 * len(X)]
categorical = [c for c in rest if c not in text and X[c].nunique() <= 100]
ignored = [c for c in rest if c not in text and c not in categorical]
for frame in (X, X_test):  # a missing category is a category of its own
    frame[categorical] = frame[categorical].astype(str)
X[numeric], X_test[numeric] = X[numeric].astype(float), X_test[numeric].astype(float)
print(f"{len(numeric)} numeric, {len(categorical)} categorical, {len(text)} text columns; ignored: {ignored or 'none'}")


def preprocessor(scale):
    \"\"\"Impute numbers (median, plus a was-missing flag), one-hot categories, TF-IDF for text.\"\"\"
    parts = []
    if numeric:
        steps = [SimpleImputer(strategy="median", add_indicator=True)] + ([StandardScaler()] if scale else [])
        parts.append(("numeric", make_pipeline(*steps), numeric))
    if categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                                                   sparse_output=bool(text)), categorical))
    for column in text:
        parts.append((f"text_{column}", TfidfVectorizer(max_features=20000, ngram_range=(1, 2), sublinear_tf=True), column))
    return ColumnTransformer(parts, sparse_threshold=0.3 if text else 0.0)


dense = not text  # gradient boosting needs dense input
X.head()
"""

IMAGE_FEATURES = """\
from PIL import Image
from sklearn.preprocessing import FunctionTransformer, StandardScaler

by_stem = {}
for path in images:
    by_stem.setdefault(path.stem, []).append(path)


def image_file(value, split):
    \"\"\"The image of a row: its path as given, else the file with that name (or stem), preferring a
    folder named after the split (train/, test/).\"\"\"
    value = str(value)
    for candidate in (Path("input") / value, Path("input") / split / value):
        if candidate.is_file():
            return candidate
    matches = by_stem.get(Path(value).stem, [])
    in_split = [p for p in matches if split in str(p.parent).lower()]
    return (in_split or matches)[0]


with Image.open(image_file(train[image_column].iloc[0], "train")) as first:
    SIZE = (min(first.width, 32), min(first.height, 32))  # small images stay whole; larger ones shrink


def pixels(frame, split):
    rows = []
    for value in frame[image_column]:
        with Image.open(image_file(value, split)) as image:
            rows.append(np.asarray(image.convert("L").resize(SIZE), dtype=np.float32).ravel() / 255.0)
    return np.stack(rows)


X, X_test = pixels(train, "train"), pixels(test, "test")
print("pixels:", X.shape, X_test.shape, "at", SIZE)


def preprocessor(scale):
    return StandardScaler() if scale else FunctionTransformer()


dense = True
"""

# The metric's own formula for one target column, in scikit-learn terms. `p` is what the
# models predict: labels, the positive class's probability, a probability matrix, or values.
METRIC_CODE = {
    "accuracy": "from sklearn.metrics import accuracy_score as score",
    "balanced_accuracy": "from sklearn.metrics import balanced_accuracy_score as score",
    "f1": ("from sklearn.metrics import f1_score\n\n\ndef score(y, p):\n"
           "    return f1_score(y, p, average='binary' if set(np.unique(y)) <= {0, 1} else 'macro')"),
    "f1_micro": "from sklearn.metrics import f1_score\n\n\ndef score(y, p):\n    return f1_score(y, p, average='micro')",
    "f1_macro": "from sklearn.metrics import f1_score\n\n\ndef score(y, p):\n    return f1_score(y, p, average='macro')",
    "f1_weighted": ("from sklearn.metrics import f1_score\n\n\ndef score(y, p):\n"
                    "    return f1_score(y, p, average='weighted')"),
    "mcc": "from sklearn.metrics import matthews_corrcoef as score",
    "quadratic_weighted_kappa": ("from sklearn.metrics import cohen_kappa_score\n\n\ndef score(y, p):\n"
                                 "    return cohen_kappa_score(y, p, weights='quadratic')"),
    "roc_auc": "from sklearn.metrics import roc_auc_score as score",
    "mean_columnwise_auc": "from sklearn.metrics import roc_auc_score as score",
    "roc_auc_ovr": ("from sklearn.metrics import roc_auc_score\n\n\ndef score(y, p):\n"
                    "    return roc_auc_score(y, p, multi_class='ovr', labels=np.unique(y))"),
    "log_loss": "from sklearn.metrics import log_loss as score",
    "multiclass_log_loss": ("from sklearn.metrics import log_loss\n\n\ndef score(y, p):\n"
                            "    return log_loss(y, p, labels=np.unique(y))"),
    "rmse": ("from sklearn.metrics import mean_squared_error\n\n\ndef score(y, p):\n"
             "    return mean_squared_error(y, p) ** 0.5"),
    "mean_columnwise_rmse": ("from sklearn.metrics import mean_squared_error\n\n\ndef score(y, p):\n"
                             "    return mean_squared_error(y, p) ** 0.5"),
    "mse": "from sklearn.metrics import mean_squared_error as score",
    "rmsle": ("from sklearn.metrics import mean_squared_log_error\n\n\ndef score(y, p):\n"
              "    return mean_squared_log_error(y, np.clip(p, 0, None)) ** 0.5"),
    "mean_columnwise_rmsle": ("from sklearn.metrics import mean_squared_log_error\n\n\ndef score(y, p):\n"
                              "    return mean_squared_log_error(y, np.clip(p, 0, None)) ** 0.5"),
    "mae": "from sklearn.metrics import mean_absolute_error as score",
    "mape": "from sklearn.metrics import mean_absolute_percentage_error as score",
    "smape": ("def score(y, p):\n    y, p = np.asarray(y, float), np.asarray(p, float)\n"
              "    denominator = np.abs(y) + np.abs(p)\n"
              "    return 100 * np.mean(np.where(denominator == 0, 0, 2 * np.abs(p - y) / np.where(denominator == 0, 1, denominator)))"),
    "r2": "from sklearn.metrics import r2_score as score",
    "pearson": "from scipy.stats import pearsonr\n\n\ndef score(y, p):\n    return pearsonr(y, p)[0]",
    "spearman": "from scipy.stats import spearmanr\n\n\ndef score(y, p):\n    return spearmanr(y, p)[0]",
    "poisson_deviance": ("from sklearn.metrics import mean_poisson_deviance\n\n\ndef score(y, p):\n"
                         "    return mean_poisson_deviance(y, np.clip(p, 1e-9, None))"),
    "pinball": ("from sklearn.metrics import mean_pinball_loss\n\n\ndef score(y, p):\n"
                "    return mean_pinball_loss(y, p, alpha=0.5)"),
    "normalized_gini": ("def gini(y, p):\n    y = np.asarray(y, float)[np.lexsort((np.arange(len(p)), -np.asarray(p, float)))]\n"
                        "    return (np.cumsum(y) / y.sum()).sum() / len(y) - (len(y) + 1) / (2 * len(y))\n\n\n"
                        "def score(y, p):\n    return gini(y, p) / gini(y, y)"),
    "map@k": ("def score(y, p):\n    hits = [1.0 / (list(str(row).split()).index(str(truth)) + 1)\n"
              "            if str(truth) in str(row).split() else 0.0 for truth, row in zip(y, p)]\n"
              "    return float(np.mean(hits))"),
}
METRIC_CODE["ndcg@k"] = METRIC_CODE["map@k"]  # both reward the true label ranked high
_FALLBACK_METRIC = {"classification": "accuracy", "regression": "rmse"}

MODELS = """\
from sklearn.base import clone
from sklearn.model_selection import $splitter, cross_val_predict
$model_imports

$metric_code


LOWER_IS_BETTER = $lower_is_better
PREDICT = $predict  # what the metric scores: labels, probabilities or values
candidates = {
$candidates
}
if not dense:  # gradient boosting cannot take the sparse matrix TF-IDF makes; forests crawl on it
    candidates.pop("gradient boosting", None)
    if len(X) > 10_000:
        candidates.pop("random forest", None)


def prediction_of(raw, classes):
    \"\"\"What the metric reads, from what a model gives: one probability column for two classes,
    the top $k labels for a ranking, the raw output otherwise.\"\"\"
    if PREDICT == "probability" and raw.ndim == 2 and raw.shape[1] == 2 and not MULTICLASS_COLUMNS:
        return raw[:, 1]
    if PREDICT == "ranking":
        top = np.argsort(-raw, axis=1)[:, :$k]
        return np.array([" ".join(str(classes[i]) for i in row) for row in top])
    return raw


MULTICLASS_COLUMNS = $multiclass_columns
method = "predict_proba" if PREDICT in ("probability", "ranking") else "predict"
cv_scores, best = {}, {}
for column in y_columns:
    known = train[column].notna().to_numpy()
    y = train.loc[known, column].to_numpy()
    rows = np.flatnonzero(known)
    if len(rows) > $max_rows:  # cross-validate on a sample; the final fit sees every row
        rows = np.random.default_rng(0).choice(rows, $max_rows, replace=False)
    X_cv = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    y_cv = train[column].to_numpy()[rows]
    cv = $splitter($folds, shuffle=True, random_state=0)
    for name, model in candidates.items():
        try:
            raw = cross_val_predict(model, X_cv, y_cv, cv=cv, method=method)
            cv_scores[(column, name)] = float(score(y_cv, prediction_of(raw, np.unique(y_cv))))
        except Exception as error:  # one model failing is no reason to stop
            print(f"{name} failed on {column}: {type(error).__name__}: {error}")
    tried = {name: s for (c, name), s in cv_scores.items() if c == column and np.isfinite(s)}
    best[column] = (min if LOWER_IS_BETTER else max)(tried, key=tried.get)
    print(f"{column}: " + ", ".join(f"{name} {s:.5g}" for name, s in tried.items()) + f" -> {best[column]}")
"""

FIT_AND_WRITE = """\
ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for column in y_columns:
    known = train[column].notna().to_numpy()
    model = clone(candidates[best[column]]).fit(X[known] if not hasattr(X, "iloc") else X.loc[known],
                                                train.loc[known, column].to_numpy())
    if PREDICT in ("probability", "ranking"):
        raw = model.predict_proba(X_test)
        classes = list(model.classes_)
        if MULTICLASS_COLUMNS:  # one column per class, named like the classes
            by_name = {str(c): raw[:, i] for i, c in enumerate(classes)}
            for target in TARGETS:
                submission[target] = by_name.get(str(target), np.zeros(len(raw)))
            continue
        prediction = prediction_of(raw, classes)
    else:
        prediction = model.predict(X_test)
    if $clip_at_zero:
        prediction = np.clip(prediction, 0, None)
    submission[column] = prediction
submission = submission[[ID, *TARGETS]]
submission.to_csv($submission_path, index=False)
print(f"wrote {$submission_path}: {submission.shape[0]} rows, columns {list(submission.columns)}")
submission.head()
"""

FALLBACK = """\
# The full pipeline failed: gradient boosting on the numeric columns (it copes with missing
# values by itself), else the most common value or the mean.
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

numeric_columns = [c for c in test.columns if c in train.columns and c != ID and c not in TARGETS
                   and pd.api.types.is_numeric_dtype(train[c])]
ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for target in TARGETS:
    if target not in train.columns:
        submission[target] = sample[target].to_numpy()[: len(submission)] if len(sample) == len(submission) else 0
        continue
    known = train[target].notna()
    y = train.loc[known, target]
    classify = $classify
    if numeric_columns:
        model = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(max_iter=100)
        model.fit(train.loc[known, numeric_columns], y)
        if classify and $probability:
            submission[target] = model.predict_proba(test[numeric_columns])[:, -1]
        else:
            submission[target] = model.predict(test[numeric_columns])
    else:
        submission[target] = y.mode().iloc[0] if classify else y.mean()
submission.to_csv($submission_path, index=False)
print(f"wrote {$submission_path}: {submission.shape}")
"""

LAST_RESORT = """\
# Nothing else worked: the sample submission is at least a valid one.
import shutil
from pathlib import Path

sample_file = min(Path("input").rglob("*sample*.csv"), key=lambda p: len(p.parts))
shutil.copy(sample_file, $submission_path)
print("copied", sample_file, "to", $submission_path)
"""

TIMESERIES_FEATURES = """\
TIME = time_column
times = pd.concat([as_time(train[TIME]), as_time(test[TIME])], ignore_index=True)
is_date = pd.api.types.is_datetime64_any_dtype(times)
origin = times.min()
gaps = as_time(train[TIME]).sort_values().diff().dropna()
STEP = gaps.median()


def steps_of(values):
    \"\"\"Time as a count of steps from the first training point (fractional where off the grid).\"\"\"
    return ((as_time(values) - origin) / STEP).to_numpy(dtype=float)


order = np.argsort(steps_of(train[TIME]), kind="stable")
t_train, t_test = steps_of(train[TIME])[order], steps_of(test[TIME])
days = STEP / pd.Timedelta(days=1) if is_date else None
calendar = ([7.0, 365.25] if days < 2 else [365.25 / 7] if days < 10 else [12.0] if days < 40 else [4.0] if days < 100 else []) \\
    if is_date else []


def dominant_period(y):
    \"\"\"The strongest cycle of the detrended series (a periodogram), in steps.\"\"\"
    y = pd.Series(y).interpolate().bfill().ffill().to_numpy()
    t = np.arange(len(y))
    detrended = y - np.polyval(np.polyfit(t, y, 1), t)
    power = np.abs(np.fft.rfft(detrended)) ** 2
    frequencies = np.fft.rfftfreq(len(y))
    usable = (frequencies > 0) & (frequencies >= 3 / len(y)) & (frequencies <= 0.5)
    return float(1 / frequencies[usable][np.argmax(power[usable])]) if usable.any() else None


periods = {}
for column in y_columns:
    series = train[column].to_numpy(dtype=float)[order]
    found = dominant_period(series)
    periods[column] = sorted({round(p, 2) for p in calendar + ([found] if found and found >= 2 else [])})
print(f"{len(t_train)} training points, one every {STEP}; {len(t_test)} to forecast, "
      f"{t_test.min() - t_train.max():.0f} to {t_test.max() - t_train.max():.0f} steps ahead; cycles (steps): {periods}")
"""

TIMESERIES_MODELS = """\
import warnings

from sklearn.linear_model import Ridge
from statsmodels.tsa.ar_model import AutoReg, ar_select_order
from statsmodels.tsa.holtwinters import ExponentialSmoothing

$metric_code


LOWER_IS_BETTER = $lower_is_better


def on_grid(t, y):
    \"\"\"The series on whole steps 0..n, gaps filled by interpolation (what AR and Holt-Winters need).\"\"\"
    grid = pd.Series(y, index=np.round(t).astype(int)).groupby(level=0).mean()
    grid = grid.reindex(range(grid.index.min(), grid.index.max() + 1)).interpolate().bfill().ffill()
    return grid


def last_value(t, y, t_new, cycles):
    return np.full(len(t_new), pd.Series(y).dropna().iloc[-1])


def trend_and_cycles(t, y, t_new, cycles):
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


def holt_winters(t, y, t_new, cycles):
    grid = on_grid(t, y)
    period = int(round(max(cycles))) if cycles else None
    seasonal = "add" if period and 2 <= period <= len(grid) // 2 else None
    fitted = ExponentialSmoothing(grid.to_numpy(), trend="add", seasonal=seasonal,
                                  seasonal_periods=period if seasonal else None).fit()
    ahead = np.maximum(np.round(t_new).astype(int) - grid.index.max(), 1)
    return fitted.forecast(int(ahead.max()))[ahead - 1]


forecasters = {"last value": last_value, "trend + cycles": trend_and_cycles,
               "autoregression": autoregression, "holt-winters": holt_winters}
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
"""

TIMESERIES_WRITE = """\
ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for column in y_columns:
    y_all = train[column].to_numpy(dtype=float)[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = np.asarray(forecasters[best[column]](t_train, y_all, t_test, periods[column]), dtype=float)
    if $clip_at_zero:
        prediction = np.clip(prediction, 0, None)
    submission[column] = prediction
submission = submission[[ID, *TARGETS]]
submission.to_csv($submission_path, index=False)
print(f"wrote {$submission_path}: {submission.shape[0]} rows, forecast from {submission[TARGETS[0]].min():.4g} "
      f"to {submission[TARGETS[0]].max():.4g}")
submission.head()
"""


def _candidates(problem: str, *, n_estimators: int, log_target: bool, poisson: bool) -> tuple[str, str]:
    """The model imports and the `candidates` dict body for a problem."""
    if problem == "classification":
        imports = ("from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier\n"
                   "from sklearn.linear_model import LogisticRegression\n"
                   "from sklearn.pipeline import make_pipeline")
        models = {
            "logistic regression": "make_pipeline(preprocessor(scale=True), LogisticRegression(max_iter=2000))",
            "random forest": f"make_pipeline(preprocessor(scale=False), RandomForestClassifier("
                             f"n_estimators={n_estimators}, min_samples_leaf=2, n_jobs=-1, random_state=0))",
            "gradient boosting": f"make_pipeline(preprocessor(scale=False), HistGradientBoostingClassifier("
                                 f"max_iter={n_estimators}, learning_rate=0.1, early_stopping=False, random_state=0))",
        }
        return imports, "\n".join(f"    {name!r}: {model}," for name, model in models.items())
    imports = ("from sklearn.compose import TransformedTargetRegressor\n"
               "from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor\n"
               "from sklearn.linear_model import Ridge\n"
               "from sklearn.pipeline import make_pipeline")
    boosting_loss = '"poisson"' if poisson else '"squared_error"'
    models = {
        "ridge": "make_pipeline(preprocessor(scale=True), Ridge(alpha=1.0))",
        "random forest": f"make_pipeline(preprocessor(scale=False), RandomForestRegressor(n_estimators={n_estimators}, "
                         f"min_samples_leaf=2, n_jobs=-1, random_state=0))",
        "gradient boosting": f"make_pipeline(preprocessor(scale=False), HistGradientBoostingRegressor("
                             f"loss={boosting_loss}, max_iter={n_estimators}, learning_rate=0.1, "
                             f"early_stopping=False, random_state=0))",
    }
    if log_target:  # the metric compares logarithms: fit on log(1 + y)
        models = {name: f"TransformedTargetRegressor({model}, func=np.log1p, inverse_func=np.expm1)"
                  for name, model in models.items()}
    return imports, "\n".join(f"    {name!r}: {model}," for name, model in models.items())


def _fill(template: str, **values: Any) -> str:
    """Substitute Python literals (strings and lists as repr, code as given) into a template."""
    return Template(template).substitute(values)


class BaselineAgent:
    """A scripted data scientist. Options: folds (cross-validation folds), n_estimators (trees per
    forest / boosting rounds), max_cv_rows (rows sampled for cross-validation)."""

    name = "baseline"

    def __init__(self, *, folds: int = 3, n_estimators: int = 200, max_cv_rows: int = 20_000) -> None:
        for label, value, low in (("folds", folds, 2), ("n_estimators", n_estimators, 1), ("max_cv_rows", max_cv_rows, 50)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(expected(f"an int >= {low} for the baseline's {label}", value))
        self.folds, self.n_estimators, self.max_cv_rows = folds, n_estimators, max_cv_rows
        self._script: Generator[Action, Observation, None] | None = None
        self._started = False  # whether the script has yielded its first action
        self.stats: dict[str, Any] = {}

    # -- the protocol ----------------------------------------------------------------------

    def reset(self, observation: Observation) -> None:
        self._script = self._play()
        self._started = False
        self.stats = {"path": None, "fallbacks": 0, "cells": 0}
        self._submission_path = "working/submission.csv"  # until the metadata names it

    def act(self, observation: Observation) -> Action:
        if self._script is None:
            self.reset(observation)
        assert self._script is not None
        closing = self._closing_action(observation)
        if closing is not None:  # the step budget decides, not the script
            return closing
        try:
            if not self._started:
                self._started = True
                action = next(self._script)
            else:
                action = self._script.send(observation)
        except StopIteration:
            action = {"action": "submit", "final": True, "message": "Nothing left to try: final submission."}
        if isinstance(action, dict) and action.get("action") in ("execute_code", "validate_code"):
            self.stats["cells"] += 1
        return action

    def _closing_action(self, observation: Observation) -> Action | None:
        """With two steps left and nothing valid graded yet, write the sample submission; with
        one left, submit as final: the episode always ends with a final submission in budget."""
        steps_left = _steps_left(observation)
        if steps_left is None or steps_left > 2:
            return None
        if steps_left <= 1:
            return {"action": "submit", "final": True,
                    "message": "The step budget ends here: submit the best submission so far as final."}
        if _has_best(observation):
            return None  # one more step of the script, then the final submission
        self.stats["fallbacks"] += 1
        return _code(_fill(LAST_RESORT, submission_path=repr(self._submission_path)),
                     "Two steps are left and nothing valid is graded yet: write the sample submission.")

    # -- the script ------------------------------------------------------------------------

    def _play(self) -> Generator[Action, Observation, None]:
        obs = yield {"action": "request_info", "info_type": "metadata",
                     "message": "Read the task's metadata: the metric and its direction, the id and target "
                                "columns, and where the submission goes."}
        task = parse_metadata(_feedback(obs))
        submission_path = self._submission_path = f"working/{task.submission_file}"
        obs = yield {"action": "request_info", "info_type": "sample_submission",
                     "message": "Look at the sample submission: the exact columns and ids to produce."}
        obs = yield _code(LOAD, "Load the data once; the frames stay in the kernel for every later cell.")
        if not _ok(obs):
            yield from self._rescue(task, submission_path, None)
            return
        obs = yield _code(_fill(LOOK, id_column=repr(task.id_column or ""), targets=repr(task.target_columns),
                                category=repr(task.category)),
                          "Look at the columns, the target and the missing values, and work out what kind of "
                          "problem this is (tabular, images, or a forecast).")
        layout = parse_layout(_feedback(obs)) if _ok(obs) else None
        if layout is None:
            yield from self._rescue(task, submission_path, None)
            return
        self.stats["path"] = layout["kind"]
        if layout["kind"] == "timeseries":
            written = yield from self._forecast(task, layout, submission_path)
        else:
            written = yield from self._supervised(task, layout, submission_path)
        if not written:
            yield from self._rescue(task, submission_path, layout)
            return
        yield {"action": "submit", "final": True,
               "message": "The cross-validated best model's submission is written and graded: submit it as final."}

    def _problem(self, task: Task, layout: dict[str, Any]) -> tuple[str, str]:
        """(classification | regression, what to predict: label | probability | ranking | value)."""
        kind = task.prediction
        if kind in ("label", "probability", "ranking"):
            return "classification", kind
        if kind == "continuous":
            return "regression", "value"
        # No metric we know: the data decides, as a person would decide.
        column = layout["y_columns"][0] if layout["y_columns"] else None
        numeric = layout["numeric"].get(column, True) if column else True
        few = layout["unique"].get(column, 0) <= 20 if column else False
        if layout.get("label_column") or not numeric or (few and task.task in (None, "binary", "multiclass")):
            return "classification", "label"
        return "regression", "value"

    def _supervised(self, task: Task, layout: dict[str, Any], submission_path: str) -> Generator[Action, Observation, bool]:
        features = IMAGE_FEATURES if layout["kind"] == "image" else TABULAR_FEATURES
        obs = yield _code(features, "Build the features: " + (
            "each image's pixels, grey and at most 32x32." if layout["kind"] == "image" else
            "impute missing numbers (with a was-missing flag), one-hot the categories, TF-IDF any free text."))
        if not _ok(obs):
            return False
        problem, predict = self._problem(task, layout)
        metric = _metric_key(task.metric)
        if metric not in METRIC_CODE:
            metric = _FALLBACK_METRIC[problem]
        lower = task.lower_is_better if metric == _metric_key(task.metric) else metric == "rmse"
        log_target = metric in ("rmsle", "mean_columnwise_rmsle")
        poisson = metric == "poisson_deviance" or (task.task or "").startswith("count")
        imports, candidates = _candidates(problem, n_estimators=self.n_estimators,
                                          log_target=log_target, poisson=poisson)
        multiclass_columns = bool(layout.get("label_column")) and predict == "probability"
        k = _k_of(task.metric)
        code = _fill(MODELS, splitter="StratifiedKFold" if problem == "classification" else "KFold",
                     model_imports=imports, metric_code=METRIC_CODE[metric], lower_is_better=repr(lower),
                     predict=repr(predict), candidates=candidates, k=k, multiclass_columns=repr(multiclass_columns),
                     max_rows=self.max_cv_rows, folds=self.folds)
        obs = yield _code(code,
                          f"Cross-validate a linear model, a random forest and gradient boosting ({self.folds} folds, "
                          f"scored with {metric}) and keep the best for each target.")
        if not _ok(obs):
            return False
        clip = problem == "regression" and all(layout.get("non_negative", {}).values())
        obs = yield _code(_fill(FIT_AND_WRITE, clip_at_zero=repr(clip), submission_path=repr(submission_path)),
                          "Refit the best model on all the training rows, predict the test rows and write the "
                          "submission in the sample's format; the env grades it.")
        return _ok(obs) and _valid(obs)

    def _forecast(self, task: Task, layout: dict[str, Any], submission_path: str) -> Generator[Action, Observation, bool]:
        obs = yield _code(TIMESERIES_FEATURES, "The test rows come after the training rows in time: a forecast. "
                                               "Measure the time step, the horizon and the strongest cycles.")
        if not _ok(obs):
            return False
        metric = _metric_key(task.metric)
        if metric not in METRIC_CODE:
            metric = "rmse"
        lower = task.lower_is_better if metric == _metric_key(task.metric) else True
        obs = yield _code(_fill(TIMESERIES_MODELS, metric_code=METRIC_CODE[metric], lower_is_better=repr(lower)),
                          f"Backtest four forecasters on the last part of the history (scored with {metric}): "
                          "last value, trend + cycles, autoregression, Holt-Winters.")
        if not _ok(obs):
            return False
        clip = all(layout.get("non_negative", {}).values())
        obs = yield _code(_fill(TIMESERIES_WRITE, clip_at_zero=repr(clip), submission_path=repr(submission_path)),
                          "Refit the best forecaster on the whole history and forecast the test dates.")
        return _ok(obs) and _valid(obs)

    def _rescue(self, task: Task, submission_path: str, layout: dict[str, Any] | None) -> Generator[Action, Observation, None]:
        """A step failed: a simpler model, else the sample submission, then submit."""
        self.stats["fallbacks"] += 1
        problem, predict = self._problem(task, layout) if layout else (
            ("classification", task.prediction) if task.prediction in ("label", "probability") else ("regression", "value"))
        obs = yield _code(_fill(FALLBACK, classify=repr(problem == "classification"),
                                probability=repr(predict == "probability"), submission_path=repr(submission_path)),
                          "That step failed; fall back to gradient boosting on the numeric columns.")
        if not (_ok(obs) and _valid(obs)):
            self.stats["fallbacks"] += 1
            yield _code(_fill(LAST_RESORT, submission_path=repr(submission_path)),
                        "The fallback failed too; submit the sample submission so the episode ends valid.")
        yield {"action": "submit", "final": True, "message": "Submit the best submission written so far."}


# -- reading observations ---------------------------------------------------------------------

def _feedback(observation: Observation) -> str:
    return str(observation.get("feedback", "")) if isinstance(observation, dict) else str(observation)


def _ok(observation: Observation) -> bool:
    """Whether the last cell ran to the end without an error."""
    status = observation.get("status") if isinstance(observation, dict) else None
    try:
        return CELL_STATUSES[int(status)] == "ok"
    except (TypeError, ValueError, IndexError):
        return " ok in " in _feedback(observation).split("\n", 1)[0]


def _valid(observation: Observation) -> bool:
    """Whether the cell's submission was graded valid."""
    valid = observation.get("valid_submission") if isinstance(observation, dict) else None
    if valid is not None:
        return bool(int(valid))
    return "graded on the" in _feedback(observation)


def _steps_left(observation: Observation) -> int | None:
    """Steps the env still allows (this one included), None without a step limit."""
    value = observation.get("steps_left") if isinstance(observation, dict) else None
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number < 0 else number


def _has_best(observation: Observation) -> bool:
    value = observation.get("has_best") if isinstance(observation, dict) else None
    try:
        return bool(int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _metric_key(metric: str | None) -> str:
    """The metric's canonical name in the library (aliases resolved), '' for none."""
    if not metric:
        return ""
    try:
        from ..metrics import get_metric
        name = get_metric(metric).name
    except Exception:
        return metric.lower()
    return name


def _k_of(metric: str | None) -> int:
    match = re.search(r"@(\d+)", metric or "")
    return int(match.group(1)) if match else 3


def _code(code: str, message: str) -> dict[str, Any]:
    return {"action": "execute_code", "code": code, "message": message}
