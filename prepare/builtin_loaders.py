"""Loaders of the first nine built-ins: scikit-learn's, statsmodels' and palmerpenguins' bundled data.

Nothing here downloads: every dataset is a file inside an installed package.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from .builtin_kit import SEED, BuiltinSpec, snake, tabular
from .forecasting import (
    Forecaster,
    autoregressive,
    drift,
    forecast_competition,
    harmonic_forecaster,
    holt_winters,
    last_value,
    mean_of_last,
    seasonal_drift,
    seasonal_naive,
)


def build_breast_cancer(spec: BuiltinSpec, target_dir: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.utils import Bunch

    data = cast(Bunch, load_breast_cancer(as_frame=True))
    frame = data.data.rename(columns=snake)
    frame["malignant"] = 1 - data.target  # scikit-learn codes benign as 1; we predict malignancy
    tabular(
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
    from sklearn.utils import Bunch

    data = cast(Bunch, load_wine(as_frame=True))
    frame = data.data.rename(columns=snake)
    frame["cultivar"] = data.target + 1
    tabular(
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
    from sklearn.utils import Bunch

    data = cast(Bunch, load_iris(as_frame=True))
    frame = data.data.rename(columns=lambda c: snake(c.replace(" (cm)", "_cm")))
    frame["species"] = np.asarray(data.target_names)[data.target]
    tabular(
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
    tabular(
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
    from sklearn.utils import Bunch

    data = cast(Bunch, load_diabetes(as_frame=True, scaled=False))
    frame = data.data.rename(columns={"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"})
    frame["progression"] = data.target
    tabular(
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

    frame = cast(pd.DataFrame, sm.datasets.randhie.load_pandas().data)  # load_pandas always fills .data
    # a seeded sample of 6,000 of the 20,190 person-years keeps the build to seconds
    frame = frame.sample(n=6000, random_state=SEED).reset_index(drop=True)
    frame = frame[["lncoins", "idp", "lpi", "fmde", "physlm", "disea", "hlthg", "hlthf", "hlthp", "mdvis"]]
    tabular(
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
    from sklearn.utils import Bunch

    data = cast(Bunch, load_digits())
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

    tabular(
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



def build_co2(spec: BuiltinSpec, target_dir: Path) -> None:
    import statsmodels.api as sm

    series = cast(pd.DataFrame, sm.datasets.co2.load_pandas().data)["co2"]  # load_pandas always fills .data
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", last_value),
        ("trivial: mean of the whole history", "trivial", mean_of_last(None)),
        ("trivial: mean of the last year", "trivial", mean_of_last(52)),
        ("seasonal naive: repeat the last year", "naive", seasonal_naive(52)),
        ("drift: straight line through first and last value", "naive", drift),
    ]
    for degree in (1, 2):
        for harmonics in (1, 2, 3):
            for window, label in ((None, "all years"), (10, "last 10 years"), (4, "last 4 years")):
                forecasters.append(
                    (
                        f"trend degree {degree} + {harmonics} yearly harmonic(s), {label}",
                        "linear",
                        harmonic_forecaster(1.0, harmonics, degree, window),
                    )
                )
    forecasters += [  # Holt-Winters is the slowest rung (seconds each), so only two
        ("Holt-Winters, last 6 years", "exponential smoothing", holt_winters(52, False, 52 * 6)),
        ("Holt-Winters damped, last 3 years", "exponential smoothing", holt_winters(52, True, 52 * 3)),
    ]
    forecasters.append(("seasonal naive plus the last year's rise", "naive", seasonal_drift(52)))
    forecast_competition(
        spec,
        target_dir,
        series=series,
        id_column="week",
        target="co2",
        horizon=104,
        forecasters=forecasters,
        sample_forecaster="trivial: last observed value",
        format_id=lambda index: list(cast(pd.DatetimeIndex, index).strftime("%Y-%m-%d")),  # a dated series
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

    data = cast(pd.DataFrame, sm.datasets.sunspots.load_pandas().data)  # load_pandas always fills .data
    series = pd.Series(data["SUNACTIVITY"].to_numpy(), index=data["YEAR"].astype(int).to_numpy(), name="sunspots")
    forecasters: list[tuple[str, str, Forecaster]] = [
        ("trivial: last observed value", "trivial", last_value),
        ("trivial: mean of the whole history", "trivial", mean_of_last(None)),
        ("trivial: mean of the last 11 years", "trivial", mean_of_last(11)),
        ("cycle naive: repeat the last 11 years", "naive", seasonal_naive(11)),
        ("drift: straight line through first and last value", "naive", drift),
    ]
    forecasters += [
        (f"autoregression AR({p})", "autoregressive", autoregressive(p)) for p in (1, 2, 3, 5, 8, 9, 10, 12, 16, 20)
    ]
    forecasters += [
        (f"autoregression AR({p}) on the square root", "autoregressive", autoregressive(p, "sqrt")) for p in (3, 9, 12)
    ]
    for period in (10.5, 11.0):
        for harmonics in (1, 2):
            for window, label in ((None, "all years"), (100, "last 100 years")):
                forecasters.append(
                    (
                        f"{harmonics} harmonic(s) of a {period:g}-year cycle, {label}",
                        "linear",
                        harmonic_forecaster(period, harmonics, 0, window),
                    )
                )
    forecast_competition(
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
