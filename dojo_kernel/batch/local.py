"""The local backend: worker processes on this machine, one episode each at a time, each
episode in a slot (its CPU share, and its GPU with a share of that GPU's memory)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import wait as wait_for
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

from ..errors import ConfigError, expected
from .backend import Job, Outcome
from .episode import _format_error, _prepare_episode_dir, play_episode
from .slots import Slot

_Context = ForkServerContext | SpawnContext


def _worker_context() -> _Context:
    # forkserver: workers are forked from a server that has already imported the env, so a
    # new worker (the first ones, and one after each crash) starts in a fraction of a second.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # What every episode imports (grading's metrics pull in scikit-learn): imported once here.
        context.set_forkserver_preload(["dojo_kernel.batch.local", "dojo_kernel.env", "dojo_kernel.agents",
                                        "dojo_kernel.metrics", "dojo_kernel.prepare.builtin"])
        return context
    return multiprocessing.get_context("spawn")


def _worker_main(connection, environ: dict[str, str], import_path: list[str]) -> None:
    """A local worker process: plays the episodes the batch sends, one at a time, and answers
    ('ok', None) or ('error', (line, details)) for each, until it is sent None."""
    # The batch's Ctrl-C reaches the whole process group; the batch decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forkserver child starts with the server's environment and import path, fixed when the
    # server started: take the batch's current ones, as a spawned process would.
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = import_path
    while True:
        try:
            job = connection.recv()
        except EOFError:  # the batch is gone
            return
        if job is None:
            return
        try:
            play_episode(*job)
            connection.send(("ok", None))  # the results come from the run dir's summary.json
        except BaseException as error:  # every failure must reach the table, whatever its type
            connection.send(("error", _format_error(error)))


class _Worker:
    """One worker process of a local batch and the episode it is playing, if any.

    Workers are reused (imports and caches stay warm), each plays one episode at a time, so a
    worker that dies is blamed on exactly one episode; a worker whose episode failed is
    replaced, in case the failure left it in a bad state.
    """

    def __init__(self, context: _Context) -> None:
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker_main, name="dojo-batch-worker",
                                       args=(child_end, dict(os.environ), list(sys.path)))
        self.process.start()
        child_end.close()
        self.job: Job | None = None
        self.slot: Slot | None = None
        self.descendants: dict[int, Any] = {}  # pid -> psutil.Process, seen during the job

    def start(self, job: Job, slot: Slot) -> bool:
        """Hand the worker `job`, to play in `slot`; False if the worker is gone."""
        self.job, self.slot, self.descendants = job, slot, {}
        try:
            self.connection.send((job.spec, slot, str(job.episode_dir)))
        except OSError:
            return False
        return True

    def note_descendants(self) -> None:
        """Remember the worker's processes (its kernel, and what the kernel started), so that
        they can be ended if the worker dies and leaves them behind."""
        import psutil

        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.kill()
        self.connection.close()

    def kill(self) -> None:
        """End the worker and every process it was seen to start (a kernel runs in a session
        of its own, and what it starts may too: they would outlive the worker)."""
        self.note_descendants()
        self.process.kill()
        self.process.join()
        for process in self.descendants.values():
            try:
                if process.is_running():  # psutil checks the creation time: never a recycled PID
                    process.kill()
            except Exception:
                pass



class LocalBackend:
    """Worker processes on this machine, one per slot at most (see `slots.plan_slots`).

    Workers start when the first jobs come (from a forkserver that has the env imported) and
    are reused; a worker whose episode failed or died is replaced.
    """

    def __init__(self, slots: Sequence[Slot]) -> None:
        if not slots or not all(isinstance(slot, Slot) for slot in slots):
            raise ConfigError(expected("at least one Slot for the local backend", slots,
                                       "use plan_slots(parallel=N) to make them"))
        self._free = list(slots)
        self._capacity = len(self._free)
        self._context: _Context | None = None
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def submit(self, job: Job) -> None:
        if not self._free:
            raise ConfigError(expected(f"at most {self._capacity} episode(s) at once on the local backend",
                                       self._capacity + 1))
        if self._context is None:
            self._context = _worker_context()
        slot = self._free.pop(0)
        _prepare_episode_dir(job.episode_dir)
        worker = self._idle.pop() if self._idle else _Worker(self._context)
        if not worker.start(job, slot):  # it had died while idle: use a new one
            worker.kill()
            worker = _Worker(self._context)
            worker.start(job, slot)
        self._busy.append(worker)

    def collect(self, timeout: float) -> list[Outcome]:
        if not self._busy:
            return []
        # Wake for an answer, a worker's exit, or the timeout (to refresh the display).
        ready = wait_for([w.connection for w in self._busy] + [w.process.sentinel for w in self._busy], timeout)
        outcomes = []
        for worker in list(self._busy):
            if worker.connection not in ready and worker.process.sentinel not in ready:
                worker.note_descendants()
                continue
            try:
                message = worker.connection.recv() if worker.connection.poll() else None
            except (EOFError, OSError):  # the worker died: its end of the pipe closed
                message = None
            job, slot = worker.job, worker.slot
            assert job is not None and slot is not None  # a busy worker has both
            self._busy.remove(worker)
            self._free.append(slot)
            outcome = Outcome(job, slot, time.monotonic() - job.started)
            if message is not None and message[0] == "ok":
                self._idle.append(worker)  # the results come from the run dir's summary.json
            elif message is None:
                worker.process.join(timeout=5)  # its own exit code, before kill() could set one
                worker.kill()
                outcome.error = outcome.details = f"the worker process died (exit code {worker.process.exitcode})"
            else:
                worker.stop()
                outcome.error, outcome.details = message[1]
            outcomes.append(outcome)
        return outcomes

    def shutdown(self) -> None:
        """Idle workers are told to stop; busy ones (an interrupted batch) are killed with
        everything they started, so that no kernel is left behind."""
        idle, busy = self._idle, self._busy
        self._idle, self._busy = [], []
        try:
            for worker in idle:
                worker.stop()
        finally:
            for worker in busy + idle:
                if worker.process.is_alive():
                    worker.kill()
