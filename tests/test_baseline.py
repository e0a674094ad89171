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
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        for name, values in steps:
            exec(compile(cell(name, **values), f"{name}.py", "exec"), namespace)
    finally:
        os.chdir(here)
    assert namespace["METRIC"] == get_metric("roc_auc")
    scores = {model: s for (_, model), s in namespace["cv_scores"].items()}
    assert set(scores) == {"logistic regression", "random forest", "gradient boosting"}
    assert all(0.6 < s <= 1.0 for s in scores.values()), scores  # the signal is real: well above chance
    submission = pd.read_csv(tmp_path / "working" / "submission.csv")
    assert list(submission.columns) == ["id", "target"] and len(submission) == 100
    assert submission["target"].between(0, 1).all()
    truth = frame.iloc[200:]["target"].to_numpy()
    assert get_metric("roc_auc")(truth, submission["target"]) > 0.7
