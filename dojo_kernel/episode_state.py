"""What DojoEnv keeps while it runs: the state of one episode and of one step, and the
helpers that turn them into Gymnasium's info and observation values."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .grading import Grade
from .kernel import CellResult, KernelSession
from .rewards import RewardTracker
from .rundir import RunDir
from .trajectory import TrajectoryRecorder


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is written, replaced or touched: inode, size, mtime."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass
class Episode:
    """The state of one episode; DojoEnv holds at most one at a time."""

    run_dir: Path
    session: KernelSession
    recorder: TrajectoryRecorder
    rewards: RewardTracker
    seed: int | None
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    steps: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    end_reason: str | None = None
    final_grade: Grade | None = None  # the private grade of the final submission
    final_public_grade: Grade | None = None
    kernel_restarts: int = 0
    limit_events: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # one line per step, for get_history
    last_grade: Grade | None = None
    last_traceback: str | None = None  # the whole traceback of the last failed cell, for request_info
    hints_seen: dict[str, Any] = field(default_factory=dict)  # what hints keep between steps
    pending_usage: dict[str, Any] = field(default_factory=dict)  # what the next step's action cost
    usage: dict[str, Any] = field(default_factory=dict)  # token and cost totals so far

    @property
    def over(self) -> bool:
        return self.terminated or self.truncated

    @property
    def files(self) -> RunDir:
        return RunDir(self.run_dir)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Outcome:
    """What one step did, gathered while it runs."""

    action: str = "invalid"
    feedback: str = ""
    message: str | None = None
    code: str | None = None
    result: CellResult | None = None
    status: str | None = None
    error: str | None = None  # one line, for get_history
    error_info: dict[str, Any] | None = None  # info["error"] and rewards.jsonl: category, type, message, line
    graded: bool = False
    grade: Grade | None = None
    reward: float = 0.0
    final: bool = False
    kernel_restarted: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)  # the action's other fields, for the record
    markdown: str | None = None  # the notebook's text for a registered action's step
    action_info: dict[str, Any] | None = None  # a registered action's extra info keys
    figures: list[dict[str, Any]] = field(default_factory=list)  # the PNGs the cell displayed, saved (figures.py)
    started_at: float = field(default_factory=time.time)


def compact(info: dict[str, Any]) -> dict[str, Any]:
    """`info` without the keys that have no value, at every depth.

    Gymnasium's vector envs batch info key by key into arrays typed by the first env's value,
    so a key that is a number in one env and None in another breaks them; an absent key is
    what they expect (they add a `_key` mask). Read info with `.get()`.
    """
    return {key: compact(value) if isinstance(value, dict) else value
            for key, value in info.items() if value is not None}


def finite(value: float | None) -> float:
    """A number an observation can hold: 0 for none, and no NaN or infinity."""
    if value is None or not np.isfinite(value):
        return 0.0
    return float(np.clip(value, -np.finfo(np.float64).max, np.finfo(np.float64).max))
