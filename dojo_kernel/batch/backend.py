"""The one small protocol between the batch's scheduling loop (`runner.run_batch`) and the
places episodes run: worker processes on this machine (`local`) or Ray tasks (`ray`).

A backend plays the jobs it is handed and says how each ended; it never retries and never
writes results: the loop decides what is retried, what is reported and when the batch is
done, the same way for every backend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from .grid import EpisodeSpec
from .slots import Slot


@dataclass
class Job:
    """One attempt at one episode."""

    spec: EpisodeSpec
    attempt: int  # 1 for the first try
    episode_dir: Path  # <out>/<competition>/<agent>/seed-<n>: where the result must end up
    started: float = field(default_factory=time.monotonic)  # set again when the job is submitted


@dataclass
class Outcome:
    """How an attempt ended: played to its end (`error` None), or failed (its code raised,
    or whatever ran it died)."""

    job: Job
    slot: Slot | None = None  # the resources the episode was given
    duration_s: float | None = None  # the attempt's wall time, kernel start included
    error: str | None = None  # one line for the results table
    details: str | None = None  # the traceback (or what is known) for error.txt

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Backend(Protocol):
    """Where a batch's episodes run.

    The loop hands a backend at most `capacity` jobs at a time (None: every job it has), calls
    `collect` until each submitted job has come back as exactly one Outcome, and calls
    `shutdown` once when the batch ends or is interrupted; `shutdown` must end every episode
    still running and leave no process behind.
    """

    @property
    def capacity(self) -> int | None: ...

    def submit(self, job: Job) -> None:
        """Start playing `job.spec` with `job.episode_dir` as the env's output dir."""
        ...

    def collect(self, timeout: float) -> list[Outcome]:
        """The jobs that ended since the last call, waiting up to `timeout` seconds for one."""
        ...

    def shutdown(self) -> None:
        """Stop: end what still runs and release what the backend holds."""
        ...
