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

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nbformat

from . import __version__
from .errors import ConfigError, RecorderError, expected
from .grading import Grade
from .notebook_cells import (
    cells_of_step,
    iso_time,
    jsonable,
    language_info,
    notebook_json,
    repair_outputs,
    summary_cell,
    title_cell,
    validation_error,
)
from .rundir import NOTEBOOK_FILE, REWARDS_FILE, SUMMARY_FILE, atomic_write, json_bytes, json_line, notebook_path_of, read_rewards

FORMAT_VERSION = 1

ACTIONS = ("execute_code", "validate_code", "submit", "request_info", "restart_kernel", "get_history", "invalid")

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

        self._metadata: dict[str, Any] = jsonable({
            "kernelspec": kernelspec or KERNELSPEC,
            "language_info": language_info(),
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
        self._add_cell(title_cell(competition, agent, limits, None))
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
        dojo.update(started_at=iso_time(self.started_at), initial_observation=jsonable(initial_observation))
        self._body = bytearray()  # the title cell, now with its start time, is the only cell so far
        self._add_cell(title_cell(self.competition, self.agent, dojo["limits"], self.started_at))

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
            for cell in cells_of_step(step, finished_at):
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
        self._metadata["dojo"]["branch"] = jsonable(branch)
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

    @property
    def branch(self) -> dict[str, Any] | None:
        """{"parent_run_dir": the parent's run dir NAME, "fork_step": N} where this trajectory
        inherited another's (a fork of its episode); None for a root episode. The notebook's
        metadata keeps the parent's full path; the summary gets the name, which stays true
        when the runs folder moves."""
        branch = self._metadata["dojo"].get("branch")
        if not isinstance(branch, dict):
            return None
        parent = branch.get("parent_run_dir")
        return {"parent_run_dir": Path(parent).name if isinstance(parent, str) else None,
                "fork_step": branch.get("fork_step")}

    def close(self, summary: dict[str, Any]) -> None:
        """Finish the episode: the summary goes into the notebook metadata and summary.json."""
        if self._closed:
            return
        if not isinstance(summary, dict):
            raise ConfigError(expected("a dict summary", summary))
        rewards_fd = self._check_begun("close()")
        summary = jsonable(summary)
        self._metadata["dojo"]["summary"] = summary
        self._add_cell(summary_cell(summary))
        self._write_notebook()
        atomic_write(self.summary_path, json_bytes(notebook_json(summary) + "\n"))
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
        problem = validation_error(cell)
        if problem is not None and cell.get("outputs"):
            cell["outputs"] = repair_outputs(cell["outputs"], cell.get("execution_count"))
            problem = validation_error(cell)
        if problem is not None:  # our own bug, never the agent's: outputs were made valid above
            raise RecorderError(f"cell {cell.get('id')} would make {self.notebook_path.name} invalid: {problem}")
        # indented one level, as it sits inside the "cells" list
        text = "  " + notebook_json(cell).replace("\n", "\n  ")
        if self._body:
            self._body += b",\n"
        self._body += json_bytes(text)  # a lone surrogate from the kernel must not raise here

    def _write_notebook(self) -> None:
        tail = ('\n ],\n "metadata": ' + notebook_json(self._metadata).replace("\n", "\n ")
                + ',\n "nbformat": 4,\n "nbformat_minor": 5\n}\n').encode("utf-8", "backslashreplace")
        atomic_write(self.notebook_path, b'{\n "cells": [\n', self._body, tail)

    def _append_reward(self, step: StepRecord, finished_at: float) -> None:
        grade = step.grade.to_dict() if step.grade is not None else None
        if grade is not None:
            grade.pop("details", None)
        line = jsonable({
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
            "time": iso_time(finished_at),
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
