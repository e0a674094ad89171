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
from typing import Any

from ..errors import ConfigError, expected
from ..spaces import CELL_STATUSES
from .base import Action, Observation
from .baseline_cells import cell

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
# Each cell is a real Python file in baseline_cells/, with its episode values (metric, target
# columns, ...) written into its parameter block by `cell`.

_FALLBACK_METRIC = {"classification": "accuracy", "regression": "rmse"}


def _usable_metric(metric: str | None) -> str | None:
    """The metric as named, if the metric library can score the models' predictions with it."""
    if not metric:
        return None
    try:
        from ..metrics import get_metric

        return metric if get_metric(metric).kind != "text" else None
    except Exception:  # an unknown or custom metric: the cells score with a stand-in
        return None


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
        return _code(cell("last_resort", SUBMISSION_PATH=self._submission_path),
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
        obs = yield _code(cell("load"), "Load the data once; the frames stay in the kernel for every later cell.")
        if not _ok(obs):
            yield from self._rescue(task, submission_path, None)
            return
        obs = yield _code(cell("look", ID_HINT=task.id_column or "", TARGET_HINT=list(task.target_columns),
                               CATEGORY=task.category),
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
        features = cell("image_features" if layout["kind"] == "image" else "tabular_features")
        obs = yield _code(features, "Build the features: " + (
            "each image's pixels, grey and at most 32x32." if layout["kind"] == "image" else
            "impute missing numbers (with a was-missing flag), one-hot the categories, TF-IDF any free text."))
        if not _ok(obs):
            return False
        problem, predict = self._problem(task, layout)
        usable = _usable_metric(task.metric)
        metric = usable or _FALLBACK_METRIC[problem]
        lower = task.lower_is_better if usable else metric == "rmse"
        key = _metric_key(metric)
        code = cell("models", PROBLEM=problem, METRIC_NAME=metric, LOWER_IS_BETTER=bool(lower), PREDICT=predict,
                    MULTICLASS_COLUMNS=bool(layout.get("label_column")) and predict == "probability",
                    K=_k_of(task.metric), N_ESTIMATORS=self.n_estimators,
                    LOG_TARGET=key in ("rmsle", "mean_columnwise_rmsle"),
                    POISSON=key == "poisson_deviance" or (task.task or "").startswith("count"),
                    MAX_ROWS=self.max_cv_rows, FOLDS=self.folds)
        obs = yield _code(code,
                          f"Cross-validate a linear model, a random forest and gradient boosting ({self.folds} folds, "
                          f"scored with {metric}) and keep the best for each target.")
        if not _ok(obs):
            return False
        clip = problem == "regression" and all(layout.get("non_negative", {}).values())
        obs = yield _code(cell("fit_and_write", CLIP_AT_ZERO=clip, SUBMISSION_PATH=submission_path),
                          "Refit the best model on all the training rows, predict the test rows and write the "
                          "submission in the sample's format; the env grades it.")
        return _ok(obs) and _valid(obs)

    def _forecast(self, task: Task, layout: dict[str, Any], submission_path: str) -> Generator[Action, Observation, bool]:
        obs = yield _code(cell("timeseries_features"), "The test rows come after the training rows in time: a forecast. "
                                               "Measure the time step, the horizon and the strongest cycles.")
        if not _ok(obs):
            return False
        usable = _usable_metric(task.metric)
        metric = usable or "rmse"
        lower = task.lower_is_better if usable else True
        obs = yield _code(cell("timeseries_models", METRIC_NAME=metric, LOWER_IS_BETTER=bool(lower)),
                          f"Backtest five forecasters on the last part of the history (scored with {metric}): "
                          "last value, trend + cycles (all of it, and recent), autoregression, Holt-Winters.")
        if not _ok(obs):
            return False
        clip = all(layout.get("non_negative", {}).values())
        obs = yield _code(cell("timeseries_write", CLIP_AT_ZERO=clip, SUBMISSION_PATH=submission_path),
                          "Refit the best forecaster on the whole history and forecast the test dates.")
        return _ok(obs) and _valid(obs)

    def _rescue(self, task: Task, submission_path: str, layout: dict[str, Any] | None) -> Generator[Action, Observation, None]:
        """A step failed: a simpler model, else the sample submission, then submit."""
        self.stats["fallbacks"] += 1
        problem, predict = self._problem(task, layout) if layout else (
            ("classification", task.prediction) if task.prediction in ("label", "probability", "ranking")
            else ("regression", "value"))
        obs = yield _code(cell("fallback", CLASSIFY=problem == "classification",
                               PROBABILITY=predict == "probability",
                               TOP_K=_k_of(task.metric) if predict == "ranking" else 0,
                               SUBMISSION_PATH=submission_path),
                          "That step failed; fall back to gradient boosting on the numeric columns.")
        if not (_ok(obs) and _valid(obs)):
            self.stats["fallbacks"] += 1
            yield _code(cell("last_resort", SUBMISSION_PATH=submission_path),
                        "The fallback failed too; submit the sample submission so the episode ends valid.")
        yield {"action": "submit", "final": True, "message": "Submit the best submission written so far."}


# -- reading observations ---------------------------------------------------------------------

def _feedback(observation: Observation) -> str:
    return str(observation.get("feedback", "")) if isinstance(observation, dict) else str(observation)


def _ok(observation: Observation) -> bool:
    """Whether the last cell ran to the end without an error."""
    status = observation.get("status") if isinstance(observation, dict) else None
    try:
        return CELL_STATUSES[int(status)] == "ok"  # pyright: ignore[reportArgumentType]  (None raises TypeError: caught)
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
