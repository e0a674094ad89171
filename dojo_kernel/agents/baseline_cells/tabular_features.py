# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Tabular features: impute numbers, one-hot categories, TF-IDF free text, dates as numbers.

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
    """Impute numbers (median, plus a was-missing flag), one-hot categories, TF-IDF for text."""
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
