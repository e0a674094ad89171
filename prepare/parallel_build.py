"""Build several built-in competitions at once, each in its own process.

A ladder fits single-threaded (``ladder.fit_tabular_ladder``), so one build keeps one core
busy; building N at a time in N processes is what fills N cores. Each build runs in a
worker process started fresh ("spawn": no threads or open files of the caller are copied),
and a build that fails is reported by name while the others still finish.

    from dojo_kernel.prepare.parallel_build import build_many
    for outcome in build_many(["iris-species", "wine-cultivars"], parallel=2):
        print(outcome.name, outcome.ok, outcome.cpu_s)
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildOutcome", "build_many", "default_parallel"]


@dataclass(frozen=True)
class BuildOutcome:
    """One built-in's build: its path, or the error that stopped it (``"KeyError: ..."``)."""

    name: str
    path: Path | None
    error: str | None
    wall_s: float
    cpu_s: float  # CPU time of the build: its process, all threads, and its ladder's worker processes

    @property
    def ok(self) -> bool:
        return self.error is None


def default_parallel() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _build_one(name: str, root: str | None, force: bool, quick: bool, jobs: int | None) -> BuildOutcome:
    """One build, timed; any exception becomes the outcome's error text."""
    from .builtin import build

    started_wall, started_cpu = time.monotonic(), _cpu_seconds()
    try:
        path, error = build(name, root=None if root is None else Path(root), force=force, quick=quick, jobs=jobs), None
    except Exception as exc:  # noqa: BLE001 - reported by name; the other builds go on
        path, error = None, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return BuildOutcome(name, path, error, time.monotonic() - started_wall, _cpu_seconds() - started_cpu)


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (a ladder's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def build_many(names: Sequence[str], *, root: Path | None = None, force: bool = False, quick: bool = False,
               parallel: int | None = None) -> Iterator[BuildOutcome]:
    """Build every built-in in ``names``, ``parallel`` at a time (default: the CPU count).

    Yields one outcome per name as each finishes (so a caller can print progress). With
    ``parallel`` 1, or a single name, builds run here one after another, with no worker; a
    single name's ladder then fits ``parallel`` rungs at a time instead.
    """
    names = list(dict.fromkeys(names))  # a name given twice is built once
    workers = default_parallel() if parallel is None else parallel
    if workers < 1:
        raise ValueError(f"expected parallel >= 1, got {parallel}")
    root_text = None if root is None else str(root)
    if workers == 1 or len(names) <= 1:  # one build at a time: its ladder may use the CPUs itself
        for name in names:
            yield _build_one(name, root_text, force, quick, workers)
        return
    context = multiprocessing.get_context("spawn")
    # max_tasks_per_child=1 (Python 3.11+): each build gets a fresh process, so one build's
    # memory goes back to the machine before the next starts.
    fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    with ProcessPoolExecutor(min(workers, len(names)), mp_context=context, **fresh) as pool:
        pending: dict[Future[BuildOutcome], str] = {
            pool.submit(_build_one, name, root_text, force, quick, 1): name for name in names  # builds fill the CPUs
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                name = pending.pop(future)
                try:
                    yield future.result()
                except Exception as exc:  # noqa: BLE001 - the worker itself died (killed, out of memory)
                    yield BuildOutcome(name, None, f"{type(exc).__name__}: {' '.join(str(exc).split())}", 0.0, 0.0)
