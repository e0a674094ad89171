"""The warm pool: kernels started ahead of need, so `reset()` need not wait.

A kernel's working directory is its episode's run dir, and a kernel cannot move once
started, so the pool prepares whole workspaces: a fresh run dir (`input/`, `working/`) with
a ready kernel in it. `take()` hands out the oldest and starts the next one in a background
thread; `close()` ends every kernel it still holds and removes their unused run dirs.

The pool adapts between `size` and `max_size`: a `take()` that finds no ready workspace
(resets coming faster than kernels start) doubles the target, and the starts run side
by side up to the target, so a burst of back-to-back resets soon finds kernels ready; a run
of takes that each leave a spare one lowers it again, so an env that resets rarely holds no
more kernels than it needs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from .errors import ConfigError, expected
from .rundir import Workspace

__all__ = ["WarmPool", "Workspace"]  # Workspace lives in rundir.py; imported here for the pool's users


SHRINK_AFTER = 8  # takes in a row that left a spare workspace before the target drops by one


class WarmPool:
    """Up to `size` workspaces started ahead of need by `start()` in background threads, or
    up to `max_size` while resets outpace kernel starts (see the module docstring). With
    `size=0` and no max_size, `take()` starts a workspace itself and waits for it."""

    def __init__(self, start: Callable[[], Workspace], size: int, max_size: int | None = None):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(expected("warm_pool as an int >= 0 (kernels kept ready; 0 = none)", size))
        if max_size is None:
            max_size = size
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < size:
            raise ConfigError(expected(f"warm_pool_max as an int >= warm_pool ({size}), or None", max_size))
        self._start = start
        self.min_size = size
        self.max_size = max_size
        self.size = size  # the current target, between min_size and max_size
        self.misses = 0  # takes that found nothing ready
        self._spare_streak = 0
        self._pending: deque[Future[Workspace]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        # One start at a time unless the pool grows: kernels starting side by side slow each
        # other on a small machine, and only pay when resets come faster than one start.
        self._executor = (ThreadPoolExecutor(max_workers=max_size, thread_name_prefix="dojo-warm-pool")
                          if max_size else None)

    def take(self) -> Workspace:
        """A ready workspace; then the pool starts refilling in the background."""
        if self._closed:
            raise RuntimeError("the warm pool is closed")
        workspace = None
        with self._lock:
            future = self._pending.popleft() if self._pending else None
            self._adapt(hit=future is not None and future.done())
        if future is not None:
            try:
                workspace = future.result()
            except CancelledError:
                workspace = None
            if workspace is not None and not workspace.session.is_alive:
                # It died while it waited (e.g. the OOM killer): start another rather than hand out a corpse.
                workspace.discard()
                workspace = None
        if workspace is None:
            workspace = self._start()
        self.fill()
        return workspace

    def _adapt(self, *, hit: bool) -> None:
        """Grow the target on a miss; shrink it after a run of takes that left a spare ready."""
        if not hit:
            self.misses += 1
            self._spare_streak = 0
            self.size = min(self.max_size, max(self.size + 1, 2 * self.size))  # doubling: catch up fast
            return
        spare = any(future.done() for future in self._pending)
        self._spare_streak = self._spare_streak + 1 if spare else 0
        if self._spare_streak >= SHRINK_AFTER and self.size > self.min_size:
            self.size -= 1
            self._spare_streak = 0

    def fill(self) -> None:
        """Start workspaces in the background until `size` are ready or starting."""
        if self._executor is None:
            return
        with self._lock:
            while not self._closed and len(self._pending) < self.size:
                self._pending.append(self._executor.submit(self._start))

    @property
    def ready(self) -> int:
        """How many workspaces are started and waiting."""
        with self._lock:
            return sum(1 for future in self._pending if future.done() and future.exception() is None)

    def close(self) -> None:
        """Stop starting kernels, end every kernel the pool holds and remove their run dirs.
        Safe to call twice; returns once nothing the pool started is running."""
        with self._lock:
            self._closed = True
            pending, self._pending = list(self._pending), deque()
        for future in pending:
            future.cancel()
        for future in pending:
            if future.cancelled():
                continue
            try:
                workspace = future.result()
            except Exception:  # a start that failed left nothing running to end
                continue
            workspace.discard()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
