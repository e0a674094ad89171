"""The built-in competitions: offline, from datasets that installed packages ship.

Nothing here downloads: scikit-learn's bundled datasets, statsmodels' datasets and
palmerpenguins all read files inside their own packages. Each competition gets a seeded
train/test split, answers with a ``Usage`` column (30% public), a sample submission, a
description in our words, and a reference-ladder leaderboard (see ``ladder.py``) trained
and scored while it is built. Building one takes seconds and happens on first use:

    from dojo_kernel.prepare.builtin import build, BUILTIN_NAMES
    build("iris-species")            # -> Path to the competition directory

``BUILD_VERSION`` is stored in each manifest; a directory built by another version is
rebuilt, so a change here never meets stale files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..metrics import get_metric
from .common import (
    USAGE_COLUMN,
    assign_usage,
    default_data_root,
    horizon_split,
    read_manifest,
    retire,
    seeded_split,
    write_competition,
)
from .names import BUILTIN_NAMES

BUILD_VERSION = 2
if TYPE_CHECKING:
    from . import ladder

SEED = 20240601  # every built-in split and ladder derives from this


@dataclass(frozen=True)
class BuiltinSpec:
    name: str
    title: str
    category: str
    task: str
    metric: str
    level: str
    summary: str  # one line for `dojo list`
    build: Callable[["BuiltinSpec", Path], None]


# ---------------------------------------------------------------- descriptions

METRIC_TEXT = {
    "roc_auc": "area under the ROC curve (AUC) of your predicted probabilities; 0.5 is chance, 1.0 is perfect. Higher is better.",
    "accuracy": "accuracy: the share of test rows whose predicted label is exactly right. Higher is better.",
    "f1_macro": "macro-averaged F1 score: the F1 of each class, averaged with equal weight per class. Higher is better.",
    "multiclass_log_loss": (
        "multiclass log loss: minus the mean log of the probability you gave the true class. Each row is divided by its sum "
        "and probabilities are clipped to [1e-15, 1 - 1e-15] first, so one confident mistake costs about 34.5. Lower is better."
    ),
    "rmse": "root mean squared error (RMSE) between your predictions and the true values. Lower is better.",
    "rmsle": "root mean squared logarithmic error: RMSE of log(1 + prediction) against log(1 + truth), so relative errors count. Predictions must be above -1. Lower is better.",
    "mae": "mean absolute error (MAE) between your forecasts and the observed values. Lower is better.",
}


def describe(
    spec: BuiltinSpec,
    *,
    about: str,
    files: Sequence[tuple[str, str]],
    sample: pd.DataFrame,
    target_note: str,
    boards: dict[str, pd.DataFrame],
    source: str,
) -> str:
    """A competition description in markdown: task, files, metric, submission format, leaderboard."""
    example = sample.head(3).to_csv(index=False).strip()
    columns = ", ".join(f"`{c}`" for c in sample.columns)
    families = boards["private"].groupby("family", sort=False)["team"].count()
    family_text = ", ".join(f"{family} ({count})" for family, count in families.items())
    best = boards["private"].iloc[0]
    lines = [
        f"# {spec.title}",
        "",
        about,
        "",
        "## Task",
        "",
        target_note,
        "",
        "## Files",
        "",
        *[f"- `{name}`: {text}" for name, text in files],
        "",
        "## Metric",
        "",
        f"Submissions are scored with {METRIC_TEXT[spec.metric]}",
        "",
        "## Submission format",
        "",
        f"Write `submission.csv` with the columns {columns} and one row per test id (any row order), for example:",
        "",
        "```csv",
        example,
        "```",
        "",
        "`sample_submission.csv` has this format and a trivial prediction for every test id.",
        "",
        "## Leaderboard",
        "",
        f"This competition's leaderboard is a **reference ladder, not human teams**: {len(boards['private'])} reference "
        f"solutions ({family_text}) trained on `train` and scored on the hidden answers when the competition was built. "
        f"Your position is the share of these reference solutions your score beats or ties. The best reference solution "
        f"({best['team']}) scores {best['score']:.5g} on the private part. About 30% of the test rows form the public "
        "part you are scored on during an episode; the rest decide the final, private score.",
        "",
        "## Source",
        "",
        source,
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- tabular competitions


def _tabular(
    spec: BuiltinSpec,
    target_dir: Path,
    *,
    frame: pd.DataFrame,
    target: str,
    about: str,
    source: str,
    tags: list[str],
    output: str,  # "label" | "probability" | "class_probabilities" | "value"
    count_target: bool = False,
    public_files_for: Callable[[pd.DataFrame, pd.DataFrame], dict[str, Any]] | None = None,
    extra_rungs: Sequence[ladder.Rung] = (),
    file_notes: Sequence[tuple[str, str]] | None = None,
    target_note: str = "",
    extra_hints: dict[str, str] | None = None,
) -> None:
    from . import ladder  # scikit-learn: imported only when a competition is built

    rng = np.random.default_rng(SEED)
    n = len(frame)
    frame = frame.reset_index(drop=True)
    frame.insert(0, "id", rng.permutation(n) + 1)  # shuffled ids: the row order of the source must not leak
    classification = output != "value"
    train_idx, test_idx = seeded_split(n, 0.3, SEED, stratify=frame[target] if classification else None)
    train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    features = [c for c in frame.columns if c not in ("id", target)]
    x_train, x_test = train[features], test[features]
    y_train = train[target].to_numpy()
    metric = get_metric(spec.metric)

    if output == "class_probabilities":
        classes = sorted(pd.unique(frame[target]))
        target_columns = [str(c) for c in classes]
        answers = pd.DataFrame({"id": test["id"]})
        for c in classes:
            answers[str(c)] = (test[target] == c).astype(int)
        prior = train[target].value_counts(normalize=True)
        sample = pd.DataFrame({"id": test["id"], **{str(c): round(float(prior.get(c, 0.0)), 6) for c in classes}})

        def to_predictions(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            probabilities = model.predict_proba(x)
            return pd.DataFrame(probabilities, columns=[str(c) for c in model.classes_])[target_columns]

    else:
        target_columns = [target]
        answers = pd.DataFrame({"id": test["id"], target: test[target]})
        if output == "probability":
            constant: Any = round(float(np.mean(y_train == 1)), 6)
        elif output == "label":
            constant = pd.Series(y_train).value_counts().sort_index(kind="mergesort").idxmax()
        else:
            constant = round(float(np.mean(y_train)), 6)
        sample = pd.DataFrame({"id": test["id"], target: constant})

        def to_predictions(model: Any, x: pd.DataFrame) -> pd.DataFrame:
            if output == "probability":
                values = model.predict_proba(x)[:, list(model.classes_).index(1)]
            else:
                values = model.predict(x)
            return pd.DataFrame({target: values})

    if classification:
        rungs = ladder.classifier_rungs(len(train), label_output=output == "label", n_classes=frame[target].nunique())
    else:
        rungs = ladder.regressor_rungs(len(train), count_target=count_target, log_target=spec.metric == "rmsle")
    entries = ladder.fit_tabular_ladder([*rungs, *extra_rungs], x_train, y_train, x_test, to_predictions)
    if count_target:  # counts cannot be negative; a linear model's can
        for entry in entries:
            entry.predictions[target] = entry.predictions[target].clip(lower=0)
    answers[USAGE_COLUMN] = assign_usage(len(answers), SEED + 1)
    boards = ladder.score_ladder(
        entries, answers, target_columns, metric, answers[USAGE_COLUMN].eq("Public").to_numpy()
    )

    files = list(
        file_notes
        or [
            ("train.csv", f"{len(train)} rows: `id`, the features and the target `{target}`."),
            ("test.csv", f"{len(test)} rows: `id` and the same features, without the target."),
        ]
    )
    files.append(("sample_submission.csv", "a valid submission with a trivial prediction for every test id."))
    if public_files_for is None:
        public_files = {"train.csv": train, "test.csv": test.drop(columns=[target])}
    else:
        public_files = public_files_for(train, test)
    description = describe(
        spec, about=about, files=files, sample=sample, target_note=target_note, boards=boards, source=source
    )
    _write(
        spec,
        target_dir,
        target_columns=target_columns,
        answers=answers,
        sample=sample,
        description=description,
        public_files=public_files,
        boards=boards,
        tags=tags,
        source=source,
        train_target=target,
        extra_hints=extra_hints,
    )


def _write(
    spec: BuiltinSpec,
    target_dir: Path,
    *,
    target_columns: list[str],
    answers: pd.DataFrame,
    sample: pd.DataFrame,
    description: str,
    public_files: dict[str, Any],
    boards: dict[str, pd.DataFrame],
    tags: list[str],
    source: str,
    train_target: str,
    id_column: str = "id",
    extra_hints: dict[str, str] | None = None,
) -> None:
    # The [source] table also tells a scripted agent where the training labels are, since the
    # submission's target columns (e.g. one per class) need not be the training file's.
    hints = {"train_file": "train.csv", "test_file": "test.csv", "train_target": train_target, **(extra_hints or {})}
    manifest = {
        "name": spec.name,
        "title": spec.title,
        "metric": spec.metric,
        "id_column": id_column,
        "target_columns": target_columns,
        "category": spec.category,
        "task": spec.task,
        "level": spec.level,
        "submission_file": "submission.csv",
        "tags": ["built-in", *tags],
        "split": {"public_fraction": 0.3, "usage_column": USAGE_COLUMN},
        "leaderboard": {"kind": "reference-ladder", "entries": len(boards["private"])},
        "source": {
            "citation": source,
            "builder": "dojo_kernel.prepare.builtin",
            "build_version": BUILD_VERSION,
            "seed": SEED,
            **hints,
        },
    }
    write_competition(
        target_dir,
        manifest=manifest,
        description=description,
        answers=answers,
        sample=sample,
        public_files=public_files,
        leaderboards=boards,
        overwrite=False,  # build() retired any stale copy; a concurrent builder's identical copy may win
    )


def _snake(name: str) -> str:
    return "_".join(name.replace("(", " ").replace(")", " ").split()).lower()


def build_breast_cancer(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.data.rename(columns=_snake)
    frame["malignant"] = 1 - data.target  # scikit-learn codes benign as 1; we predict malignancy
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="malignant",
        output="probability",
        tags=["binary", "medical"],
        about="Fine-needle aspirates of breast masses were digitised and described by 30 measurements of the cell "
        "nuclei (radius, texture, smoothness and so on: the mean, the standard error and the worst value of each).",
        target_note="Predict the probability that each test mass is malignant (`malignant` = 1) rather than benign (0).",
        source="Breast Cancer Wisconsin (Diagnostic), UCI Machine Learning Repository, as bundled with scikit-learn (load_breast_cancer).",
    )


def build_wine(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    frame = data.data.rename(columns=_snake)
    frame["cultivar"] = data.target + 1
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="cultivar",
        output="label",
        tags=["multiclass", "chemistry"],
        about="Thirteen chemical measurements (alcohol, malic acid, flavanoids, colour intensity, ...) of wines grown "
        "in the same region of Italy from three different cultivars.",
        target_note="Predict the cultivar (1, 2 or 3) of each test wine.",
        source="Wine recognition data (Forina et al.), UCI Machine Learning Repository, as bundled with scikit-learn (load_wine).",
    )


def build_iris(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.data.rename(columns=lambda c: _snake(c.replace(" (cm)", "_cm")))
    frame["species"] = np.asarray(data.target_names)[data.target]
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="species",
        output="label",
        tags=["multiclass", "starter"],
        about="Sepal and petal lengths and widths, in centimetres, of iris flowers from three species.",
        target_note="Predict the species (`setosa`, `versicolor` or `virginica`) of each test flower.",
        source="Fisher's Iris data (1936), as bundled with scikit-learn (load_iris).",
    )


def build_penguins(spec: BuiltinSpec, target_dir: Path) -> None:
    from palmerpenguins import load_penguins

    frame = load_penguins()
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="species",
        output="class_probabilities",
        tags=["multiclass", "missing-values", "categorical"],
        about="Size measurements of adult penguins observed near Palmer Station, Antarctica: bill length and depth, "
        "flipper length, body mass, plus the island, the sex and the year. Some measurements and many `sex` values are "
        "missing, and `island` and `sex` are text categories.",
        target_note="Predict, for each test penguin, the probability of each species: `Adelie`, `Chinstrap`, `Gentoo`.",
        source="Palmer Archipelago penguin data (Gorman, Williams and Fraser, 2014), from the palmerpenguins package.",
    )


def build_diabetes(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.rename(columns={"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"})
    frame["progression"] = data.target
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="progression",
        output="value",
        tags=["regression", "medical"],
        about="Ten baseline measurements of diabetes patients: age, sex, body mass index, average blood pressure and "
        "six blood serum measurements (tc, ldl, hdl, tch, ltg, glu).",
        target_note="Predict `progression`, a quantitative measure of disease progression one year after baseline.",
        source="Diabetes data (Efron, Hastie, Johnstone and Tibshirani, 2004), as bundled with scikit-learn (load_diabetes).",
    )


def build_doctor_visits(spec: BuiltinSpec, target_dir: Path) -> None:
    import statsmodels.api as sm

    frame = sm.datasets.randhie.load_pandas().data
    # a seeded sample of 6,000 of the 20,190 person-years keeps the build to seconds
    frame = frame.sample(n=6000, random_state=SEED).reset_index(drop=True)
    frame = frame[["lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp", "mdvis"]]
    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="mdvis",
        output="value",
        count_target=True,
        tags=["regression", "count", "health-economics"],
        about="People in the RAND Health Insurance Experiment (a sample of 6,000 of its person-years) were assigned insurance plans with different "
        "co-insurance rates. For each person-year we know the plan (`lncoins`: log co-insurance, `idp`: an individual "
        "deductible, `lpi`, `fmde`), physical limitations (`physlm`), chronic diseases (`disea`) and self-rated "
        "health (`hlthg`, `hlthf`, `hlthp`).",
        target_note="Predict `mdvis`, the number of outpatient visits to a doctor in the year (a count, 0 or more).",
        source="RAND Health Insurance Experiment data (Deb and Trivedi, 2002), from statsmodels.datasets.randhie.",
    )


def build_digits(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    data = load_digits()
    frame = pd.DataFrame(data.data, columns=[f"pixel_{i}" for i in range(data.data.shape[1])])
    frame["label"] = data.target

    def images(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
        files: dict[str, Any] = {
            "train.csv": train[["id", "label"]],
            "test.csv": test[["id"]],
        }
        for folder, part in (("train", train), ("test", test)):
            for row_id, pixels in zip(part["id"], part.filter(like="pixel_").to_numpy()):
                files[f"{folder}/{row_id}.png"] = _png(pixels.reshape(8, 8))
        return files

    _tabular(
        spec,
        target_dir,
        frame=frame,
        target="label",
        output="label",
        tags=["image", "multiclass", "png"],
        public_files_for=images,
        extra_hints={"image_dir_train": "train", "image_dir_test": "test", "image_file": "{id}.png"},
        extra_rungs=[(f"support vector machine (RBF) C={c:g}", SVC(C=c), "kernel") for c in (0.1, 1, 10)],
        file_notes=[
            (
                "train/<id>.png",
                "the training images: 8x8 grey-scale PNG files, dark ink on a white background (0 = black, 255 = white).",
            ),
            ("test/<id>.png", "the test images, same format."),
            ("train.csv", "`id` (the PNG file name without .png) and `label` (0..9) of each training image."),
            ("test.csv", "the `id` of each test image."),
        ],
        about="Handwritten digits, scanned and reduced to 8x8 pixel images with 17 grey levels, from 43 writers.",
        target_note="Predict the digit (0 to 9) shown in each test image.",
        source="Optical Recognition of Handwritten Digits (Alpaydin and Kaynak), UCI Machine Learning Repository, as bundled with scikit-learn (load_digits).",
    )


def _png(ink: np.ndarray) -> bytes:
    """An 8x8 image of ink levels 0..16 as PNG bytes (0 ink = white, full ink = black)."""
    from PIL import Image

    grey = (255 - np.clip(ink * 16, 0, 255)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- time-series forecasts

Forecaster = Callable[[pd.Series, pd.Index], np.ndarray]


def _harmonic_forecaster(period: float, harmonics: int, degree: int, window: float | None) -> Forecaster:
    """Least squares on a polynomial trend plus ``harmonics`` sine/cosine pairs of ``period``.

    Time is measured in the series' own units (years for both built-in series);
    ``window`` keeps only the last so many units of history.
    """

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        history = history.dropna()
        t_hist, t_new = _time(history.index), _time(horizon)
        if window is not None:
            keep = t_hist >= t_hist.max() - window
            history, t_hist = history[keep], t_hist[keep]
        origin = t_hist.mean()

        def design(t: np.ndarray) -> np.ndarray:
            columns = [(t - origin) ** d for d in range(degree + 1)]
            for k in range(1, harmonics + 1):
                columns += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
            return np.column_stack(columns)

        coefficients, *_ = np.linalg.lstsq(design(t_hist), history.to_numpy(dtype=float), rcond=None)
        return design(t_new) @ coefficients

    return forecast


def _time(index: pd.Index) -> np.ndarray:
    """Years as floats: a DatetimeIndex in fractional years, a numeric index as it is."""
    if isinstance(index, pd.DatetimeIndex):
        return np.asarray(index.year + (index.day_of_year - 1) / 365.25, dtype=float)
    return np.asarray(index, dtype=float)


def _last_value(history: pd.Series, horizon: pd.Index) -> np.ndarray:
    return np.full(len(horizon), history.dropna().iloc[-1])


def _mean_of_last(span: int | None) -> Forecaster:
    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.dropna()
        return np.full(len(horizon), (values if span is None else values.iloc[-span:]).mean())

    return forecast


def _drift(history: pd.Series, horizon: pd.Index) -> np.ndarray:
    values = history.dropna()
    slope = (values.iloc[-1] - values.iloc[0]) / (len(values) - 1)
    return values.iloc[-1] + slope * np.arange(1, len(horizon) + 1)


def _seasonal_naive(season: int) -> Forecaster:
    """Repeat the last observed season (interpolating gaps first)."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.interpolate(limit_direction="both").to_numpy()
        last = values[-season:]
        return np.resize(last, len(horizon))

    return forecast


def _seasonal_drift(season: int) -> Forecaster:
    """Repeat the last season, shifted up by its rise over the season before, once per season ahead."""

    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        values = history.interpolate(limit_direction="both").to_numpy()
        last, before = values[-season:], values[-2 * season : -season]
        rise = last.mean() - before.mean()
        steps = np.arange(len(horizon))
        return last[steps % season] + rise * (steps // season + 1)

    return forecast


def _autoregressive(lags: int, transform: str = "none") -> Forecaster:
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


def _holt_winters(season: int, damped: bool, window: int) -> Forecaster:
    def forecast(history: pd.Series, horizon: pd.Index) -> np.ndarray:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        values = history.interpolate(limit_direction="both").to_numpy(dtype=float)[-window:]
        model = ExponentialSmoothing(values, trend="add", damped_trend=damped, seasonal="add", seasonal_periods=season)
        return model.fit(use_brute=False).forecast(len(horizon))  # no brute-force start search: seconds saved

    return forecast


def _forecast_competition(
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
    _write(
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


def build_co2(spec: BuiltinSpec, target_dir: Path) -> None:
    import statsmodels.api as sm

    series = sm.datasets.co2.load_pandas().data["co2"]
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", _last_value),
        ("trivial: mean of the whole history", "trivial", _mean_of_last(None)),
        ("trivial: mean of the last year", "trivial", _mean_of_last(52)),
        ("seasonal naive: repeat the last year", "naive", _seasonal_naive(52)),
        ("drift: straight line through first and last value", "naive", _drift),
    ]
    for degree in (1, 2):
        for harmonics in (1, 2, 3):
            for window, label in ((None, "all years"), (10, "last 10 years"), (4, "last 4 years")):
                forecasters.append(
                    (
                        f"trend degree {degree} + {harmonics} yearly harmonic(s), {label}",
                        "linear",
                        _harmonic_forecaster(1.0, harmonics, degree, window),
                    )
                )
    forecasters += [  # Holt-Winters is the slowest rung (seconds each), so only two
        ("Holt-Winters, last 6 years", "exponential smoothing", _holt_winters(52, False, 52 * 6)),
        ("Holt-Winters damped, last 3 years", "exponential smoothing", _holt_winters(52, True, 52 * 3)),
    ]
    forecasters.append(("seasonal naive plus the last year's rise", "naive", _seasonal_drift(52)))
    _forecast_competition(
        spec,
        target_dir,
        series=series,
        id_column="week",
        target="co2",
        horizon=104,
        forecasters=forecasters,
        sample_forecaster="trivial: last observed value",
        format_id=lambda index: index.strftime("%Y-%m-%d"),
        about="Weekly mean concentration of carbon dioxide in the air at the Mauna Loa Observatory, Hawaii, in parts "
        "per million, from March 1958. The series has a steady upward trend and a yearly cycle; a few weeks have no "
        "measurement.",
        target_note="Forecast the weekly CO2 concentration for the two years (104 weeks) after the training data ends. "
        "Weeks without a measurement are left out of the test set.",
        source="Atmospheric CO2 from continuous air samples at Mauna Loa Observatory (Keeling et al.), from statsmodels.datasets.co2.",
        tags=["time-series", "forecast", "climate"],
    )


def build_sunspots(spec: BuiltinSpec, target_dir: Path) -> None:
    import statsmodels.api as sm

    data = sm.datasets.sunspots.load_pandas().data
    series = pd.Series(data["SUNACTIVITY"].to_numpy(), index=data["YEAR"].astype(int).to_numpy(), name="sunspots")
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", _last_value),
        ("trivial: mean of the whole history", "trivial", _mean_of_last(None)),
        ("trivial: mean of the last 11 years", "trivial", _mean_of_last(11)),
        ("cycle naive: repeat the last 11 years", "naive", _seasonal_naive(11)),
        ("drift: straight line through first and last value", "naive", _drift),
    ]
    forecasters += [
        (f"autoregression AR({p})", "autoregressive", _autoregressive(p)) for p in (1, 2, 3, 5, 8, 9, 10, 12, 16, 20)
    ]
    forecasters += [
        (f"autoregression AR({p}) on the square root", "autoregressive", _autoregressive(p, "sqrt")) for p in (3, 9, 12)
    ]
    for period in (10.5, 11.0):
        for harmonics in (1, 2):
            for window, label in ((None, "all years"), (100, "last 100 years")):
                forecasters.append(
                    (
                        f"{harmonics} harmonic(s) of a {period:g}-year cycle, {label}",
                        "linear",
                        _harmonic_forecaster(period, harmonics, 0, window),
                    )
                )
    _forecast_competition(
        spec,
        target_dir,
        series=series,
        id_column="year",
        target="sunspots",
        horizon=30,
        forecasters=forecasters,
        sample_forecaster="trivial: mean of the whole history",
        format_id=lambda index: [int(year) for year in index],
        about="The yearly mean number of sunspots, from 1700. Solar activity rises and falls in a cycle of roughly "
        "eleven years whose height varies from cycle to cycle.",
        target_note="Forecast the yearly sunspot number for the 30 years after the training data ends.",
        source="Yearly sunspot numbers 1700-2008 (Royal Observatory of Belgium, SIDC), from statsmodels.datasets.sunspots.",
        tags=["time-series", "forecast", "astronomy"],
    )


# ---------------------------------------------------------------- the registry of built-ins

_SPECS = [
    BuiltinSpec(
        "breast-cancer-diagnosis",
        "Breast cancer diagnosis from cell nuclei",
        "tabular",
        "binary",
        "roc_auc",
        "easy",
        "malignant or benign, 30 numeric features, AUC",
        build_breast_cancer,
    ),
    BuiltinSpec(
        "wine-cultivars",
        "Which cultivar made this wine?",
        "tabular",
        "multiclass",
        "f1_macro",
        "starter",
        "3 cultivars from 13 chemical measurements, macro F1",
        build_wine,
    ),
    BuiltinSpec(
        "iris-species",
        "Iris species from flower measurements",
        "tabular",
        "multiclass",
        "accuracy",
        "starter",
        "3 species from 4 measurements, accuracy",
        build_iris,
    ),
    BuiltinSpec(
        "penguin-species",
        "Palmer penguins: species probabilities",
        "tabular",
        "multiclass",
        "multiclass_log_loss",
        "easy",
        "3 species, missing values and text categories, log loss",
        build_penguins,
    ),
    BuiltinSpec(
        "diabetes-progression",
        "Diabetes progression after one year",
        "tabular",
        "regression",
        "rmse",
        "medium",
        "disease progression from 10 baseline measurements, RMSE",
        build_diabetes,
    ),
    BuiltinSpec(
        "doctor-visits",
        "Doctor visits under different insurance plans",
        "tabular",
        "count-regression",
        "rmsle",
        "medium",
        "yearly outpatient visits (a count) from insurance and health, RMSLE",
        build_doctor_visits,
    ),
    BuiltinSpec(
        "digits-images",
        "Handwritten digits as PNG images",
        "image",
        "multiclass",
        "accuracy",
        "easy",
        "8x8 PNG images of digits 0-9, accuracy",
        build_digits,
    ),
    BuiltinSpec(
        "co2-weekly-forecast",
        "Mauna Loa CO2: forecast two years of weeks",
        "time-series",
        "forecast",
        "rmse",
        "medium",
        "104-week horizon of weekly CO2, RMSE",
        build_co2,
    ),
    BuiltinSpec(
        "sunspots-yearly-forecast",
        "Sunspots: forecast thirty years",
        "time-series",
        "forecast",
        "mae",
        "hard",
        "30-year horizon of yearly sunspot numbers, MAE",
        build_sunspots,
    ),
]
BUILTINS: dict[str, BuiltinSpec] = {spec.name: spec for spec in _SPECS}
if tuple(BUILTINS) != BUILTIN_NAMES:  # names.py lists them for a cheap import; the two must agree
    raise ImportError(f"prepare/names.py lists the built-ins {BUILTIN_NAMES}, builtin.py defines {tuple(BUILTINS)}")


def is_current(path: Path) -> bool:
    """Whether ``path`` holds a complete built-in competition from this BUILD_VERSION."""
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return False
    return manifest.get("source", {}).get("build_version") == BUILD_VERSION


def build(name: str, *, root: Path | None = None, force: bool = False) -> Path:
    """Build the built-in competition ``name`` under ``root`` (default: the data root); return its path.

    A current build is reused unless ``force``; the directory appears atomically.
    """
    if name not in BUILTINS:
        raise KeyError(f"expected a built-in competition, one of {', '.join(BUILTIN_NAMES)}; got {name!r}")
    target = Path(root if root is not None else default_data_root()) / name
    if force or not is_current(target):
        if target.exists():
            retire(target)
        BUILTINS[name].build(BUILTINS[name], target)
    return target
