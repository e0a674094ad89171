"""The threads that `DojoEnv.astep` / `areset` wait in, shared by every env of a process."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .errors import ConfigError, expected

_ASYNC_EXECUTOR: ThreadPoolExecutor | None = None
_ASYNC_EXECUTOR_LOCK = threading.Lock()


def async_executor() -> ThreadPoolExecutor:
    """The threads that `astep`/`areset` wait in, shared by every env of the process.

    A step mostly waits (on its kernel's messages), so threads, not cores, bound how many
    episodes step at once: asyncio's default executor (a few threads per core) would queue
    the 200th episode behind the first few. Threads start only as needed; the cap is
    DOJO_ASYNC_THREADS (default 512).
    """
    global _ASYNC_EXECUTOR
    with _ASYNC_EXECUTOR_LOCK:
        if _ASYNC_EXECUTOR is None:
            raw = os.environ.get("DOJO_ASYNC_THREADS", "512")
            if not raw.isdigit() or int(raw) < 1:
                raise ConfigError(expected("DOJO_ASYNC_THREADS as an int >= 1", raw))
            _ASYNC_EXECUTOR = ThreadPoolExecutor(max_workers=int(raw), thread_name_prefix="dojo-async")
        return _ASYNC_EXECUTOR
