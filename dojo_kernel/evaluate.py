"""`KernelSession.evaluate`: the env's own cheap looks at a kernel's state, without a cell.

A silent execute request (no history, no execution count, no output) whose user_expressions
the kernel evaluates. Kept out of kernel.py, which holds the session's life cycle.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .kernel import _GRACE_S, _POLL_S
from .messages import Rejected

if TYPE_CHECKING:
    from .kernel import KernelSession

_HELD_MAX = 1_000  # messages kept for the next cell, as fork.py keeps them


def evaluate(session: KernelSession, expressions: dict[str, str], timeout: float = 2.0) -> dict[str, str | None]:
    """Each expression's text/plain repr, or None where it failed (or the kernel is gone).
    At most `timeout` seconds: then the evaluation is interrupted and what came back is returned."""
    values: dict[str, str | None] = dict.fromkeys(expressions)
    with session._run_lock:
        kernel = session._kernel
        if session._closed or kernel is None or not kernel.alive():
            return values
        msg_id = kernel.client.execute("", silent=True, store_history=False, allow_stdin=False,
                                       user_expressions=expressions)
        deadline = time.monotonic() + timeout
        interrupted = False
        while kernel.alive():
            for channel, message in kernel.receive(_POLL_S):
                if isinstance(message, Rejected):  # the next cell's run reports (and acts on) it
                    if len(kernel.held) < _HELD_MAX:
                        kernel.held.append((channel, message))
                    continue
                if channel == "iopub":
                    # A thread's output (ipykernel may file it under this request): the next cell
                    # reports it, as it reports what arrives between cells.
                    if len(kernel.held) < _HELD_MAX:
                        kernel.held.append((channel, message))
                elif (message["parent_header"].get("msg_id") == msg_id
                      and message["header"]["msg_type"] == "execute_reply"):
                    replies = message["content"].get("user_expressions") or {}
                    for name in values:
                        reply = replies.get(name)
                        if isinstance(reply, dict) and reply.get("status") == "ok":
                            plain = reply.get("data", {}).get("text/plain")
                            values[name] = plain if isinstance(plain, str) else None
                    return values
            if time.monotonic() > deadline:
                if interrupted:
                    break
                session.interrupt()
                interrupted, deadline = True, time.monotonic() + _GRACE_S
    return values
