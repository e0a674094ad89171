"""The record of an episode: `trajectory.ipynb`, `rewards.jsonl`, `summary.json`.

The env builds one `StepRecord` per step and hands it to `TrajectoryRecorder.record`, which
returns only once both files hold the step:

- `trajectory.ipynb` (nbformat v4.5) is rewritten atomically after every step: a temporary
  file in the same folder, fsync, `os.replace`, fsync of the folder. A kill at any moment
  leaves either the previous or the new notebook, never a torn one. Each cell's JSON is
  serialized once and cached, so a step costs one cell's serialization plus one write of
  the bytes, not a re-serialization of the whole episode.
- `rewards.jsonl` gets one line per step, written with a single `write` on an `O_APPEND`
  descriptor and fsynced.
- `summary.json` is written atomically by `close(summary)`, which also puts the summary
  into the notebook's metadata.

The notebook, cell by cell:

- a title cell (competition, agent, limits, dojo-kernel version, start time);
- per step: the agent's message as a markdown cell when it gave one (`dojo.kind: "message"`);
  then the step's own cell (`dojo.kind: "step"`): a code cell with the real outputs and
  execution count for `execute_code` / `validate_code`, a markdown cell for the other actions
  (`request_info` answers, history, kernel restarts, submissions, invalid actions); then a
  short markdown cell with the grading result when a submission was graded (`dojo.kind: "grade"`);
- at close, a summary cell.

Code cell metadata uses the layouts Jupyter tools already read: `execution` (nbclient's
`iopub.execute_input` / `iopub.status.busy` / `shell.execute_reply` / `iopub.status.idle`
ISO timestamps) and `papermill` (`start_time`, `end_time`, `duration`, `status`,
`exception`); everything else is under `dojo` (step, action, status, reward, scores, best,
elapsed and budget, duration, memory and GPU peaks, limit event, grade, the observation text).
Notebook metadata: `kernelspec`, `language_info` and `dojo` (format version, dojo-kernel
version, competition, agent, limits, settings, run dir, start time, and `summary` at close).

The recorder writes only what the env hands it, as plain values: it imports neither the
kernel nor the sandbox (replay, which reruns a record, is replay.py; the file names and the
atomic write are rundir.py's).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import nbformat

from . import __version__
from .errors import ConfigError, RecorderError, expected
from .grading import Grade
from .rundir import NOTEBOOK_FILE, REWARDS_FILE, SUMMARY_FILE, atomic_write, json_bytes, json_line, notebook_path_of, read_rewards

FORMAT_VERSION = 1

ACTIONS = ("execute_code", "validate_code", "submit", "request_info", "restart_kernel", "get_history", "invalid")
CODE_ACTIONS = ("execute_code", "validate_code")

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class CellOutcome(Protocol):
    """What the recorder reads of a cell's result (kernel.CellResult has these fields); the
    recorder takes any such value, so it needs no kernel to be imported or running. Read-only
    properties, so that a narrower field (a Literal status, a list of outputs) still matches."""

    @property
    def status(self) -> str: ...
    @property
    def outputs(self) -> Sequence[dict[str, Any]]: ...
    @property
    def execution_count(self) -> int | None: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def peak_rss_bytes(self) -> int | None: ...
    @property
    def peak_gpu_bytes(self) -> int | None: ...
    @property
    def restarted(self) -> bool: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def truncated_chars(self) -> int: ...
    @property
    def warnings(self) -> Sequence[str]: ...
    @property
    def limit_event(self) -> Any: ...


@dataclass
class StepRecord:
    """One step as the env saw it; the recorder writes exactly this, nothing else.

    step:          1-based step number.
    action:        one of ACTIONS.
    code:          the code the agent sent (execute_code / validate_code), else None.
    message:       the agent's reasoning or message text, when it gave one.
    result:        the kernel's CellResult for code actions, else None.
    grade:         the Grade of a submission graded at this step, else None.
    reward:        the step's reward.
    scores:        the numbers the reward came from, e.g. {"public": 0.81, "position": 0.64}.
    best:          the best scores so far, e.g. {"score": 0.83, "position": 0.7, "step": 4}.
    elapsed_s:     seconds since the episode started.
    budget_left:   what is left of each budget, e.g. {"steps": 12, "time_s": 1800.0}.
    limit_event:   the limit that stopped this step (LimitEvent as a dict), else None.
    feedback:      the observation text the agent got back.
    info_markdown: the request_info answer as markdown, where it differs from `feedback`.
    arguments:     the action's other arguments, e.g. {"info_type": "overview"} or {"final": True}.
    started_at:    when the step began (epoch seconds); default: its end minus the cell's duration.
    usage:         tokens and cost of producing the action (see dojo_kernel.usage), where known.
    error:         what went wrong, as data: {"category", "type", "message", "line"}, else None.
    """

    step: int
    action: str
    code: str | None = None
    message: str | None = None
    result: CellOutcome | None = None
    grade: Grade | None = None
    reward: float = 0.0
    scores: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    budget_left: dict[str, Any] = field(default_factory=dict)
    limit_event: dict[str, Any] | None = None
    feedback: str = ""
    info_markdown: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        """The step's status: the cell's for code actions, else "ok" (or "invalid")."""
        if self.result is not None:
            return self.result.status
        return "invalid" if self.action == "invalid" else "ok"


# ---------------------------------------------------------------------------------------------
# JSON helpers


def _jsonable(value: Any) -> Any:
    """Plain JSON data: dataclasses and paths converted, NaN and infinities as None (JSON has none)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
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
        return _jsonable(tolist())
    return str(value)


def _dumps(value: Any) -> str:
    # The layout nbformat itself writes (indent 1, sorted keys, UTF-8), so diffs stay small.
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def _iso(epoch: float) -> str:
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


def _validation_error(cell: dict[str, Any]) -> str | None:
    """Why a cell would make the notebook invalid, or None. Validates the cell alone: O(cell)."""
    probe = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    try:
        nbformat.validate(probe)
    except nbformat.ValidationError as error:
        return str(error.message)
    return None


def _repair_outputs(outputs: list[dict[str, Any]], execution_count: int | None) -> list[dict[str, Any]]:
    """The outputs, each one that a notebook cannot hold replaced by a short note."""
    kept = []
    for output in outputs:
        probe = nbformat.v4.new_code_cell(id="probe", execution_count=execution_count)
        probe["outputs"] = [output]
        problem = _validation_error(probe)
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
        "time": _iso(finished_at),
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
    return _jsonable(dojo)


def _step_cells(record: StepRecord, finished_at: float) -> list[dict[str, Any]]:
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
                "iopub.status.busy": _iso(started),
                "iopub.execute_input": _iso(started),
                "shell.execute_reply": _iso(ended),
                "iopub.status.idle": _iso(ended),
            }
            metadata["papermill"] = {
                "start_time": _iso(started),
                "end_time": _iso(ended),
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


def _title_cell(competition: str, agent: str | None, limits: dict[str, Any], started_at: float | None) -> dict[str, Any]:
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
        f"| started | {_iso(started_at) if started_at is not None else 'not yet (a prepared run dir)'} |",
        "",
        "Open this notebook in its run dir to rerun it: the code reads `input/` and writes"
        " `working/submission.csv`, both relative to the run dir.",
    ])
    cell = nbformat.v4.new_markdown_cell(source, id="title")
    cell["metadata"] = {"dojo": {"kind": "title"}}
    return cell


def _summary_cell(summary: dict[str, Any]) -> dict[str, Any]:
    rows = [f"| {key} | {_short(value)} |" for key, value in summary.items()
            if isinstance(value, (str, int, float, bool)) or value is None]
    source = "\n".join(["## Summary", "", "| | |", "|---|---|", *rows])
    cell = nbformat.v4.new_markdown_cell(source, id="summary")
    cell["metadata"] = {"dojo": {"kind": "summary"}}
    return cell


def _language_info() -> dict[str, Any]:
    return {
        "name": "python",
        "version": platform.python_version(),
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
    }


# ---------------------------------------------------------------------------------------------
# The recorder


class TrajectoryRecorder:
    """Writes an episode's `trajectory.ipynb`, `rewards.jsonl` and `summary.json` into `run_dir`.

    TrajectoryRecorder(run_dir, *, competition, agent, limits, settings, kernelspec=None,
                       initial_observation=None)
    .record(step: StepRecord) -> None   both files hold the step when it returns
    .close(summary: dict) -> None       summary into the notebook metadata + summary.json; idempotent

    The title cell is written by the constructor. A run dir that already holds a trajectory
    is refused (RecorderError): one recorder, one episode, one run dir.

    With `begin=False` the recorder is only prepared (the warm pool does this ahead of need,
    off reset()'s path): the notebook on disk is a valid, fsynced one whose start time and
    initial observation are null, and rewards.jsonl does not exist yet. `begin()` starts the
    episode in memory and creates rewards.jsonl without writing the notebook: the first
    `record()` writes it whole, fsynced, as every record does. So a crash between begin()
    and the first step leaves the prepared notebook (valid, no steps, no start time).
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, competition: str, agent: str | None,
                 limits: dict[str, Any] | Any, settings: dict[str, Any],
                 kernelspec: dict[str, Any] | None = None, initial_observation: str | None = None,
                 extra_actions: tuple[str, ...] = (), begin: bool = True) -> None:
        if not isinstance(competition, str) or not competition:
            raise ConfigError(expected("a competition name (str)", competition))
        if not isinstance(limits, dict) and callable(getattr(limits, "to_dict", None)):
            limits = limits.to_dict()  # a Limits
        if not isinstance(limits, dict):
            raise ConfigError(expected("Limits or a dict of limits", limits))
        if not isinstance(settings, dict):
            raise ConfigError(expected("a dict of settings", settings))
        self.run_dir = Path(run_dir).resolve()
        self.notebook_path = self.run_dir / NOTEBOOK_FILE
        self.rewards_path = self.run_dir / REWARDS_FILE
        self.summary_path = self.run_dir / SUMMARY_FILE
        self.competition = competition
        self.agent = agent
        self.actions = ACTIONS + tuple(extra_actions)  # the built-ins and the env's registered ones
        self.started_at: float | None = None  # set by begin()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RecorderError(f"could not create the run dir {self.run_dir}: {error}") from error
        existing = [path.name for path in (self.notebook_path, self.rewards_path) if path.exists()]
        if existing:
            raise RecorderError(expected(f"a run dir without a trajectory ({self.run_dir})", existing,
                                         "give each episode a new run dir"))
        for stale in self.run_dir.glob(f".{NOTEBOOK_FILE}.*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)

        self._metadata: dict[str, Any] = _jsonable({
            "kernelspec": kernelspec or KERNELSPEC,
            "language_info": _language_info(),
            "dojo": {
                "format_version": FORMAT_VERSION,
                "version": __version__,
                "competition": competition,
                "agent": agent,
                "limits": limits,
                "settings": settings,
                "run_dir": str(self.run_dir),
                "started_at": None,
                "initial_observation": None,
                "summary": None,
            },
        })
        # The notebook's "cells" list as serialized JSON, grown one cell at a time: a step
        # serializes only its own cells, and a write never re-serializes the episode.
        self._body = bytearray()
        self._add_cell(_title_cell(competition, agent, limits, None))
        self._steps = 0
        self._last_step = 0
        self._closed = False
        self._rewards_fd: int | None = None
        if begin:
            self._start(initial_observation)
        self._write_notebook()
        if begin:
            self._open_rewards()

    def begin(self, initial_observation: str | None = None) -> None:
        """Start the episode of a prepared recorder (`begin=False`): its start time is now.
        Writes no notebook (see the class docstring); rewards.jsonl is created empty."""
        if self.started_at is not None:
            raise RecorderError(f"begin() twice: the trajectory in {self.run_dir} has begun")
        self._start(initial_observation)
        self._open_rewards()

    def _start(self, initial_observation: str | None) -> None:
        self.started_at = time.time()
        dojo = self._metadata["dojo"]
        dojo.update(started_at=_iso(self.started_at), initial_observation=_jsonable(initial_observation))
        self._body = bytearray()  # the title cell, now with its start time, is the only cell so far
        self._add_cell(_title_cell(self.competition, self.agent, dojo["limits"], self.started_at))

    def _open_rewards(self) -> None:
        try:
            self._rewards_fd = os.open(self.rewards_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as error:
            raise RecorderError(f"could not open {self.rewards_path}: {error}") from error

    def _check_begun(self, call: str) -> int:
        """The rewards descriptor; raises where the episode has not begun."""
        if self._rewards_fd is None:
            raise RecorderError(f"{call} before begin(): the trajectory in {self.run_dir} is only prepared")
        return self._rewards_fd

    @property
    def steps_recorded(self) -> int:
        return self._steps

    @property
    def closed(self) -> bool:
        return self._closed

    def record(self, step: StepRecord) -> None:
        """Add one step to the notebook (atomic rewrite) and one line to rewards.jsonl (fsynced)."""
        if self._closed:
            raise RecorderError(f"record() after close(): the trajectory in {self.run_dir} is finished")
        self._check_begun("record()")
        if not isinstance(step, StepRecord):
            raise ConfigError(expected("a StepRecord", type(step).__name__))
        if step.action not in self.actions:
            raise ConfigError(expected(f"an action among {self.actions}", step.action))
        if isinstance(step.step, bool) or not isinstance(step.step, int) or step.step <= self._last_step:
            # cell ids derive from the step number, and nbformat requires them unique
            raise ConfigError(expected(f"a step number above the last one recorded ({self._last_step})", step.step))
        finished_at = time.time()
        mark = len(self._body)
        try:
            for cell in _step_cells(step, finished_at):
                self._add_cell(cell)
            self._write_notebook()
        except BaseException:
            del self._body[mark:]  # the file still holds the previous steps: so must the cache
            raise
        self._append_reward(step, finished_at)
        self._steps += 1
        self._last_step = step.step

    def inherit(self, parent: TrajectoryRecorder, branch: dict[str, Any]) -> None:
        """Begin this new trajectory with every step `parent` recorded (a fork of its episode):
        its cells, each marked `dojo.inherited: true`, and its reward lines, each marked
        `"inherited": true`; `branch` (parent run dir, fork step) goes into the metadata.
        The branch's own steps then continue the parent's numbering."""
        if self._steps or self._closed:
            raise RecorderError(f"inherit() on a trajectory that already has steps ({self.run_dir})")
        rewards_fd = self._check_begun("inherit()")
        cells = json.loads(b"[" + bytes(parent._body) + b"]")[1:]  # the env's own copy, not the file
        for cell in cells:
            if cell.get("metadata", {}).get("dojo", {}).get("kind") == "summary":
                continue
            cell.setdefault("metadata", {}).setdefault("dojo", {})["inherited"] = True
            self._add_cell(cell)
        self._metadata["dojo"]["branch"] = _jsonable(branch)
        self._write_notebook()
        lines = []
        for entry in read_rewards(parent.rewards_path) if parent.rewards_path.exists() else []:
            entry["inherited"] = True
            lines.append(json_line(entry))  # escaped as every line of the log is
        if lines:
            os.write(rewards_fd, b"".join(lines))
            os.fsync(rewards_fd)
        self._steps = parent._steps
        self._last_step = parent._last_step

    def close(self, summary: dict[str, Any]) -> None:
        """Finish the episode: the summary goes into the notebook metadata and summary.json."""
        if self._closed:
            return
        if not isinstance(summary, dict):
            raise ConfigError(expected("a dict summary", summary))
        rewards_fd = self._check_begun("close()")
        summary = _jsonable(summary)
        self._metadata["dojo"]["summary"] = summary
        self._add_cell(_summary_cell(summary))
        self._write_notebook()
        atomic_write(self.summary_path, json_bytes(_dumps(summary) + "\n"))
        os.close(rewards_fd)
        self._closed = True

    def __enter__(self) -> TrajectoryRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._closed and self._rewards_fd is not None:  # a prepared one has no episode to close
            self.close({"end_reason": "error" if exc_info[0] is not None else "closed", "steps": self._steps})

    # -- internals

    def _add_cell(self, cell: dict[str, Any]) -> None:
        """Validate and serialize one cell, once, onto the cached body of the cells list."""
        problem = _validation_error(cell)
        if problem is not None and cell.get("outputs"):
            cell["outputs"] = _repair_outputs(cell["outputs"], cell.get("execution_count"))
            problem = _validation_error(cell)
        if problem is not None:  # our own bug, never the agent's: outputs were made valid above
            raise RecorderError(f"cell {cell.get('id')} would make {self.notebook_path.name} invalid: {problem}")
        # indented one level, as it sits inside the "cells" list
        text = "  " + _dumps(cell).replace("\n", "\n  ")
        if self._body:
            self._body += b",\n"
        self._body += json_bytes(text)  # a lone surrogate from the kernel must not raise here

    def _write_notebook(self) -> None:
        tail = ('\n ],\n "metadata": ' + _dumps(self._metadata).replace("\n", "\n ")
                + ',\n "nbformat": 4,\n "nbformat_minor": 5\n}\n').encode("utf-8", "backslashreplace")
        atomic_write(self.notebook_path, b'{\n "cells": [\n', self._body, tail)

    def _append_reward(self, step: StepRecord, finished_at: float) -> None:
        grade = step.grade.to_dict() if step.grade is not None else None
        if grade is not None:
            grade.pop("details", None)
        line = _jsonable({
            "step": step.step,
            "action": step.action,
            "status": step.status,
            "reward": step.reward,
            "score": step.grade.score if step.grade is not None and step.grade.valid else None,
            "scores": step.scores,
            "best": step.best,
            "elapsed_s": step.elapsed_s,
            "budget_left": step.budget_left,
            "limit_event": step.limit_event or (step.result.limit_event if step.result is not None else None),
            "duration_s": step.result.duration_s if step.result is not None else None,
            "peak_rss_bytes": step.result.peak_rss_bytes if step.result is not None else None,
            "grade": grade,
            "usage": step.usage,
            "error": step.error,
            "competition": self.competition,
            "agent": self.agent,
            "time": _iso(finished_at),
        })
        data = json_line(line)  # read back whole by readers that split on any line separator
        try:
            # One write on an O_APPEND descriptor: a line is in the file whole or not at all.
            written = os.write(rewards_fd := self._check_begun("record()"), data)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
            os.fsync(rewards_fd)
        except OSError as error:
            raise RecorderError(f"could not append to {self.rewards_path}: {error}") from error


# ---------------------------------------------------------------------------------------------
# Reading a trajectory back


def load_trajectory(source: str | os.PathLike[str]) -> nbformat.NotebookNode:
    """Read (and validate) a recorded notebook from a run dir or a path."""
    path = notebook_path_of(source)
    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except (OSError, ValueError, UnicodeDecodeError, nbformat.ValidationError) as error:
        # A file that is not a notebook is a user's mistake: one line, not a traceback.
        reason = " ".join(str(error).split())[:200]
        raise ConfigError(expected("a Jupyter notebook (trajectory.ipynb of a run dir)", str(path),
                                   f"it cannot be read as one: {reason}")) from None
    return notebook


def step_cells(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The cells that carry a step (`dojo.kind == "step"`), in order."""
    return [cell for cell in notebook.cells if cell.get("metadata", {}).get("dojo", {}).get("kind") == "step"]


def message_of(notebook: nbformat.NotebookNode, step: int) -> str | None:
    """The agent's message at `step`, if it gave one."""
    for cell in notebook.cells:
        dojo = cell.get("metadata", {}).get("dojo", {})
        if dojo.get("kind") == "message" and dojo.get("step") == step:
            return cell.source
    return None
