"""The warm pool: kernels started ahead of need, so `reset()` need not wait.

A kernel's working directory is its episode's run dir, and a kernel cannot move once
started, so the pool prepares whole workspaces: a fresh run dir (`input/`, `working/`) with
a ready kernel in it. `take()` hands out the oldest and starts the next one in a background
thread; `close()` ends every kernel it still holds and removes their unused run dirs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from .errors import ConfigError, expected
from .rundir import Workspace

__all__ = ["WarmPool", "Workspace"]  # Workspace lives in rundir.py; imported here for the pool's users


class WarmPool:
    """Up to `size` workspaces started ahead of need by `start()`, one at a time, in a
    background thread. With `size=0`, `take()` starts a workspace itself and waits for it."""

    def __init__(self, start: Callable[[], Workspace], size: int):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(expected("warm_pool as an int >= 0 (kernels kept ready; 0 = none)", size))
        self._start = start
        self.size = size
        self._pending: deque[Future[Workspace]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        # One worker: kernels starting side by side only slow each other on a small machine.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dojo-warm-pool") if size else None

    def take(self) -> Workspace:
        """A ready workspace; then the pool starts refilling in the background."""
        if self._closed:
            raise RuntimeError("the warm pool is closed")
        workspace = None
        with self._lock:
            future = self._pending.popleft() if self._pending else None
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
