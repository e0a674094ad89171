"""The baseline agent's cells: real Python files with a parameter block, run here without a kernel.

Whole episodes of the baseline run in test_agents.py and test_cli.py; these tests check the
cells themselves: they compile, their parameters are filled in exactly, and run in sequence
on a small table they score with the metric library and write a valid submission.
"""

from __future__ import annotations

import ast
import os

import numpy as np
import pandas as pd
import pytest

from dojo_kernel.agents.baseline_cells import cell, names, parameters
from dojo_kernel.metrics import get_metric


def defaults(name: str) -> dict:
    return {key: ast.literal_eval(text.split("#")[0].strip()) for key, text in parameters(name).items()}


def test_every_cell_is_valid_python_with_its_parameters_filled_in():
    assert {"load", "look", "tabular_features", "models", "fit_and_write", "timeseries_models"} <= set(names())
    for name in names():
        ast.parse(cell(name, **defaults(name)), filename=f"{name}.py")


def test_a_cell_takes_exactly_its_parameters():
    values = defaults("fit_and_write")
    text = cell("fit_and_write", **{**values, "SUBMISSION_PATH": "working/out'put.csv"})
    assert "SUBMISSION_PATH = \"working/out'put.csv\"" in text  # written with repr, quotes and all
    with pytest.raises(ValueError, match=r"expected the parameters .*SUBMISSION_PATH.* got \['CLIP_AT_ZERO'\]"):
        cell("fit_and_write", CLIP_AT_ZERO=True)
    with pytest.raises(ValueError, match="COLOUR"):
        cell("fit_and_write", **values, COLOUR="red")


def test_the_cells_score_with_the_metric_library_and_write_a_submission(tmp_path):
    """load -> look -> features -> models -> fit_and_write on a small binary table, in one namespace."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n)})
    frame["target"] = ((frame["x"] + (frame["colour"] == "red") + rng.normal(scale=0.5, size=n)) > 0.5).astype(int)
    (tmp_path / "input").mkdir()
    (tmp_path / "working").mkdir()
    frame.iloc[:200].to_csv(tmp_path / "input" / "train.csv", index=False)
    frame.iloc[200:].drop(columns="target").to_csv(tmp_path / "input" / "test.csv", index=False)
    frame.iloc[200:][["id"]].assign(target=0.5).to_csv(tmp_path / "input" / "sample_submission.csv", index=False)
    steps = [
        ("load", {}),
        ("look", {"ID_HINT": "id", "TARGET_HINT": ["target"], "CATEGORY": "tabular"}),
        ("tabular_features", {}),
        ("models", {**defaults("models"), "METRIC_NAME": "auc", "PREDICT": "probability", "N_ESTIMATORS": 10,
                    "FOLDS": 2}),
        ("fit_and_write", {"CLIP_AT_ZERO": False, "SUBMISSION_PATH": "working/submission.csv"}),
    ]
    namespace = run_cells(tmp_path, steps)
    assert namespace["METRIC"] == get_metric("roc_auc")
    scores = {model: s for (_, model), s in namespace["cv_scores"].items()}
    assert set(scores) == {"logistic regression", "random forest", "gradient boosting"}
    assert all(0.6 < s <= 1.0 for s in scores.values()), scores  # the signal is real: well above chance
    submission = pd.read_csv(tmp_path / "working" / "submission.csv")
    assert list(submission.columns) == ["id", "target"] and len(submission) == 100
    assert submission["target"].between(0, 1).all()
    truth = frame.iloc[200:]["target"].to_numpy()
    assert get_metric("roc_auc")(truth, submission["target"]) > 0.7


def run_cells(tmp_path, steps) -> dict:
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        for name, values in steps:
            exec(compile(cell(name, **values), f"{name}.py", "exec"), namespace)
    finally:
        os.chdir(here)
    return namespace


def write_tables(tmp_path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "working").mkdir()
    train.to_csv(tmp_path / "input" / "train.csv", index=False)
    test.to_csv(tmp_path / "input" / "test.csv", index=False)
    sample.to_csv(tmp_path / "input" / "sample_submission.csv", index=False)


def test_a_ranking_target_of_many_text_labels_gets_three_labels_per_row(tmp_path):
    """MAP@3 on 25 species codes: the look cell takes a text target of more than 20 values (it once
    crashed there, and the episode fell back to the sample), and both the full path and the
    fallback write the three likeliest labels, best first."""
    rng = np.random.default_rng(1)
    n = 500
    codes = np.array([f"S{i:02d}" for i in range(25)])
    x = rng.normal(size=n)
    label = codes[np.clip(((x + 3) / 6 * 25).astype(int), 0, 24)]
    frame = pd.DataFrame({"id": np.arange(n), "x": x, "noise": rng.normal(size=n), "species_id": label})
    write_tables(tmp_path, frame.iloc[:400], frame.iloc[400:].drop(columns="species_id"),
                 frame.iloc[400:][["id"]].assign(species_id="S12 S11 S13"))
    look = ("look", {"ID_HINT": "id", "TARGET_HINT": ["species_id"], "CATEGORY": "tabular"})
    namespace = run_cells(tmp_path, [
        ("load", {}), look, ("tabular_features", {}),
        ("models", {**defaults("models"), "METRIC_NAME": "map@3", "PREDICT": "ranking", "N_ESTIMATORS": 10, "FOLDS": 2}),
        ("fit_and_write", {"CLIP_AT_ZERO": False, "SUBMISSION_PATH": "working/submission.csv"}),
    ])
    assert namespace["layout"]["kind"] == "tabular" and namespace["layout"]["unique"]["species_id"] > 20
    truth = frame.iloc[400:]["species_id"].to_numpy()
    for path in ("submission.csv", "fallback.csv"):
        if path == "fallback.csv":
            namespace = run_cells(tmp_path, [("load", {}), look, ("fallback", {
                "CLASSIFY": True, "PROBABILITY": False, "TOP_K": 3, "SUBMISSION_PATH": "working/fallback.csv"})])
        submission = pd.read_csv(tmp_path / "working" / path)
        assert submission["species_id"].str.split().map(len).eq(3).all(), submission.head()
        # x decides the code up to a neighbour: far better than the sample's fixed three codes
        assert get_metric("map@3")(truth, submission["species_id"]) > 0.5


def test_a_half_hourly_series_has_daily_and_weekly_cycles(tmp_path):
    """The calendar's cycles are counted in steps of the series: 48 and 336 for half hours (a
    half-hourly forecast once got the daily series' 7 and 365.25 steps)."""
    times = pd.date_range("2014-01-01", periods=48 * 7 * 6, freq="30min")
    t = np.arange(len(times))
    demand = 5 + np.sin(2 * np.pi * t / 48) + 0.3 * np.sin(2 * np.pi * t / 336)
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M"), "demand": demand})
    write_tables(tmp_path, frame.iloc[:-336], frame.iloc[-336:][["time"]], frame.iloc[-336:][["time"]].assign(demand=5.0))
    namespace = run_cells(tmp_path, [
        ("load", {}), ("look", {"ID_HINT": "time", "TARGET_HINT": ["demand"], "CATEGORY": "time-series"}),
        ("timeseries_features", {}),
    ])
    assert namespace["layout"]["kind"] == "timeseries"
    assert namespace["periods"]["demand"][:2] == [48.0, 336.0]
    assert 365.25 * 48 not in namespace["periods"]["demand"]  # a year is longer than the history
