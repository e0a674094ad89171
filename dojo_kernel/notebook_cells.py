"""How a step of an episode looks in `trajectory.ipynb`: the cells the recorder writes (title,
the agent's message, the step's code or markdown cell, the grade, the summary) and their
metadata, as plain nbformat dicts. The cell layout is described in trajectory.py's docstring."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import nbformat

from . import __version__
from .grading import Grade

if TYPE_CHECKING:
    from .trajectory import StepRecord

CODE_ACTIONS = ("execute_code", "validate_code")


# ---------------------------------------------------------------------------------------------
# JSON helpers


def jsonable(value: Any) -> Any:
    """Plain JSON data: dataclasses and paths converted, NaN and infinities as None (JSON has none)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy scalars and arrays
        return jsonable(tolist())
    return str(value)


def notebook_json(value: Any) -> str:
    # The layout nbformat itself writes (indent 1, sorted keys, UTF-8), so diffs stay small.
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Cells

_OUTPUT_KEYS = {
    "stream": ("name", "text"),
    "display_data": ("data", "metadata"),
    "execute_result": ("data", "metadata", "execution_count"),
    "error": ("ename", "evalue", "traceback"),
}


def _clean_output(output: dict[str, Any]) -> dict[str, Any]:
    """Keep the keys nbformat allows (kernel messages also carry e.g. `transient`)."""
    kind = output.get("output_type")
    keys = _OUTPUT_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        return output
    cleaned = {"output_type": kind, **{key: output[key] for key in keys if key in output}}
    if kind in ("display_data", "execute_result"):
        cleaned.setdefault("metadata", {})
        cleaned.setdefault("data", {})
    if kind == "execute_result":
        cleaned.setdefault("execution_count", None)
    return cleaned


def validation_error(cell: dict[str, Any]) -> str | None:
    """Why a cell would make the notebook invalid, or None. Validates the cell alone: O(cell)."""
    probe = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    try:
        nbformat.validate(probe)
    except nbformat.ValidationError as error:
        return str(error.message)
    return None


def repair_outputs(outputs: list[dict[str, Any]], execution_count: int | None) -> list[dict[str, Any]]:
    """The outputs, each one that a notebook cannot hold replaced by a short note."""
    kept = []
    for output in outputs:
        probe = nbformat.v4.new_code_cell(id="probe", execution_count=execution_count)
        probe["outputs"] = [output]
        problem = validation_error(probe)
        if problem is None:
            kept.append(output)
        else:
            note = f"[dojo-kernel: an output of type {output.get('output_type')!r} could not be recorded: {problem[:200]}]\n"
            kept.append({"output_type": "stream", "name": "stderr", "text": note})
    return kept


def _grade_line(grade: Grade) -> str:
    if not grade.valid:
        return f"**Submission invalid** ({grade.split} split): {grade.error or 'no reason given'}"
    parts = []
    if grade.score is not None:
        directions: dict[bool | None, str] = {True: ", higher is better", False: ", lower is better"}
        direction = directions.get(grade.higher_is_better, "")
        metric = f" ({grade.metric}{direction})" if grade.metric else ""
        parts.append(f"score **{grade.score:.6g}**{metric}")
    if grade.position is not None:
        rank = f", rank {grade.rank} of {grade.teams}" if grade.rank is not None and grade.teams else ""
        parts.append(f"position {grade.position:.4f}{rank}")
    if grade.medal:
        parts.append(f"medal: {grade.medal}")
    elif grade.above_median is not None:
        parts.append("above median" if grade.above_median else "below median")
    return f"**Graded** ({grade.split} split): " + " · ".join(parts)


def _grade_markdown(record: StepRecord) -> str:
    assert record.grade is not None
    lines = [f"Step {record.step}: {_grade_line(record.grade)}", "", f"reward {record.reward:+.6g}"]
    if record.best:
        best = ", ".join(f"{key} {_short(value)}" for key, value in record.best.items())
        lines[-1] += f" · best so far: {best}"
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _step_markdown(record: StepRecord) -> str:
    """The source of a non-code step's cell."""
    title = f"**Step {record.step}: {record.action.replace('_', ' ')}**"
    if record.action == "request_info":
        what = record.arguments.get("info_type")
        heading = f"**Step {record.step}: competition info" + (f" ({what})**" if what else "**")
        return f"{heading}\n\n{record.info_markdown or record.feedback}"
    if record.action == "restart_kernel":
        return f"{title}: the kernel was restarted and every variable was lost. Rerun the cells above to get them back."
    if record.action == "submit":
        final = " (final)" if record.arguments.get("final") else ""
        return f"**Step {record.step}: submitted the current submission{final}**" + (
            "" if record.grade is not None else f"\n\n{record.feedback}")
    if record.action == "invalid":
        return f"**Step {record.step}: invalid action**\n\n{record.feedback}"
    return f"{title}\n\n{record.info_markdown or record.feedback}"


def _step_metadata(record: StepRecord, finished_at: float) -> dict[str, Any]:
    result = record.result
    dojo: dict[str, Any] = {
        "kind": "step",
        "step": record.step,
        "time": iso_time(finished_at),
        "action": record.action,
        "status": record.status,
        "reward": record.reward,
        "scores": record.scores,
        "best": record.best,
        "elapsed_s": record.elapsed_s,
        "budget_left": record.budget_left,
        "limit_event": record.limit_event,
        "grade": record.grade.to_dict() if record.grade is not None else None,
        "arguments": record.arguments,
        "feedback": record.feedback,
    }
    if result is not None:
        dojo.update(
            duration_s=result.duration_s,
            peak_rss_bytes=result.peak_rss_bytes,
            peak_gpu_bytes=result.peak_gpu_bytes,
            restarted=result.restarted,
            exit_code=result.exit_code,
            truncated_chars=result.truncated_chars,
            warnings=result.warnings,
        )
        if record.limit_event is None and result.limit_event is not None:
            dojo["limit_event"] = result.limit_event
    return jsonable(dojo)


def cells_of_step(record: StepRecord, finished_at: float) -> list[dict[str, Any]]:
    """The cells of one step, in order: message, the step's own cell, grading result."""
    step = record.step
    cells = []
    if record.message:
        cell = nbformat.v4.new_markdown_cell(record.message, id=f"step-{step}-message")
        cell["metadata"] = {"dojo": {"kind": "message", "step": step}}
        cells.append(cell)
    metadata: dict[str, Any] = {"dojo": _step_metadata(record, finished_at)}
    # A registered action that ran code in the kernel is recorded as that code cell too.
    if record.action in CODE_ACTIONS or (record.code is not None and record.result is not None):
        result = record.result
        duration = result.duration_s if result is not None else 0.0
        started = record.started_at if record.started_at is not None else finished_at - duration
        ended = started + duration
        cell = nbformat.v4.new_code_cell(record.code or "", id=f"step-{step}")
        if result is not None:
            cell["execution_count"] = result.execution_count
            cell["outputs"] = [_clean_output(dict(output)) for output in result.outputs]
            metadata["execution"] = {
                "iopub.status.busy": iso_time(started),
                "iopub.execute_input": iso_time(started),
                "shell.execute_reply": iso_time(ended),
                "iopub.status.idle": iso_time(ended),
            }
            metadata["papermill"] = {
                "start_time": iso_time(started),
                "end_time": iso_time(ended),
                "duration": duration,
                "status": "completed" if result.status == "ok" else "failed",
                "exception": result.status != "ok",
            }
    else:
        cell = nbformat.v4.new_markdown_cell(_step_markdown(record), id=f"step-{step}")
    cell["metadata"] = metadata
    cells.append(cell)
    if record.grade is not None:
        grade_cell = nbformat.v4.new_markdown_cell(_grade_markdown(record), id=f"step-{step}-grade")
        grade_cell["metadata"] = {"dojo": {"kind": "grade", "step": step}}
        cells.append(grade_cell)
    return cells


def _limits_line(limits: dict[str, Any]) -> str:
    shown = {
        "memory_gb": "memory {} GB", "cell_timeout_s": "cell timeout {} s", "episode_time_s": "episode {} s",
        "gpu_memory_gb": "GPU memory {} GB", "cpus": "{} CPUs", "disk_gb": "disk {} GB",
    }
    parts = [text.format(limits[key]) for key, text in shown.items() if limits.get(key) is not None]
    return " · ".join(parts) or "none"


def title_cell(competition: str, agent: str | None, limits: dict[str, Any], started_at: float | None) -> dict[str, Any]:
    source = "\n".join([
        f"# {competition}",
        "",
        "An episode recorded by dojo-kernel: one persistent kernel, one cell per step.",
        "",
        "| | |",
        "|---|---|",
        f"| competition | `{competition}` |",
        f"| agent | {agent or 'unknown'} |",
        f"| limits | {_limits_line(limits)} |",
        f"| dojo-kernel | {__version__} |",
        f"| started | {iso_time(started_at) if started_at is not None else 'not yet (a prepared run dir)'} |",
        "",
        "Open this notebook in its run dir to rerun it: the code reads `input/` and writes"
        " `working/submission.csv`, both relative to the run dir.",
    ])
    cell = nbformat.v4.new_markdown_cell(source, id="title")
    cell["metadata"] = {"dojo": {"kind": "title"}}
    return cell


def summary_cell(summary: dict[str, Any]) -> dict[str, Any]:
    rows = [f"| {key} | {_short(value)} |" for key, value in summary.items()
            if isinstance(value, (str, int, float, bool)) or value is None]
    source = "\n".join(["## Summary", "", "| | |", "|---|---|", *rows])
    cell = nbformat.v4.new_markdown_cell(source, id="summary")
    cell["metadata"] = {"dojo": {"kind": "summary"}}
    return cell


def language_info() -> dict[str, Any]:
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
    }
