"""A person plays the episode: they read each observation and type the next cell at a prompt."""

from __future__ import annotations

import codeop
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..actions import INFO_TYPES
from ..printable import terminal_safe
from .base import Action, Observation, StopEpisode

HELP = """Type a cell of Python; an empty line ends it once the code is complete, as at the
Python prompt (a line with only '.' always ends it). Commands:
  :cell          a long cell: blank lines are kept, a line with only '.' ends it
  :info [TYPE]   show the task's details; TYPE among {info_types} (default overview)
  :validate      the next cell runs without being graded
  :submit        grade working/submission.csv
  :final         submit it as final and end the episode
  :restart       restart the kernel (every variable is lost)
  :history       show the steps so far
  :why TEXT      attach a note to the next cell (kept in the notebook)
  :quit          end the episode without a final submission
  :help          this text
Ctrl-C interrupts a running cell (the kernel keeps its variables); a second Ctrl-C within
2 seconds ends the episode.""".format(info_types=", ".join(INFO_TYPES))


class HumanAgent:
    """Reads cells from a terminal. `input_fn` and `output` can be replaced (tests, other UIs);
    `header()`, where given, is shown after the help at the start (e.g. the run dir)."""

    name = "human"

    def __init__(self, *, input_fn: Callable[[str], str] | None = None, output: TextIO | None = None,
                 end_marker: str = ".", header: Callable[[], str | None] | None = None) -> None:
        self._input = input_fn or input
        self._output = output or sys.stdout
        self.end_marker = end_marker
        self.header = header
        self._note: str | None = None
        self.stats: dict[str, int] = {"cells": 0, "commands": 0}

    def _show(self, text: str) -> None:
        print(terminal_safe(text), file=self._output, flush=True)

    def reset(self, observation: Observation) -> None:
        self._note = None
        self.stats = {"cells": 0, "commands": 0}
        self._show(HELP)
        text = self.header() if self.header is not None else None
        if text:
            self._show(text)

    def act(self, observation: Observation) -> Action:
        self._show("\n" + str(observation.get("feedback", observation) if isinstance(observation, dict) else observation))
        validate = False
        while True:
            try:
                first = self._input("dojo> " if not validate else "dojo (validate)> ")
            except EOFError:
                raise StopEpisode("end of input") from None
            if first.strip().startswith(":"):
                self.stats["commands"] += 1
                command, _, argument = first.strip()[1:].partition(" ")
                argument = argument.strip()
                if command == "validate":
                    validate = True
                    continue
                if command == "cell":
                    code = self._read_cell(None)
                    self.stats["cells"] += 1
                    return self._with_note({"action": "validate_code" if validate else "execute_code", "code": code})
                if command == "why":
                    self._note = argument or None
                    continue
                if command == "help":
                    self._show(HELP)
                    continue
                action = self._command(command, argument)
                if action is None:
                    self._show(f"unknown command ':{command}'; type :help for the list")
                    continue
                return self._with_note(action)
            if not first.strip():
                continue
            code = self._read_cell(first)
            self.stats["cells"] += 1
            return self._with_note({"action": "validate_code" if validate else "execute_code", "code": code})

    def _command(self, command: str, argument: str) -> dict[str, Any] | None:
        if command == "info":
            return {"action": "request_info", "info_type": argument or "overview"}
        if command == "submit":
            return {"action": "submit", "final": False}
        if command == "final":
            return {"action": "submit", "final": True}
        if command == "restart":
            return {"action": "restart_kernel"}
        if command == "history":
            return {"action": "get_history"}
        if command in ("quit", "exit", "q"):
            raise StopEpisode("the player quit")
        return None

    def _read_cell(self, first: str | None) -> str:
        """Lines up to the end marker, or up to an empty line where the code is complete as the
        interactive interpreter decides (an open bracket or string keeps the cell going).
        With `first=None` (a :cell), only the end marker ends it."""
        lines = [] if first is None else [first]
        while True:
            source = "\n".join(lines)
            try:
                line = self._input("...   ")
            except EOFError:
                return source
            if line.strip() == self.end_marker:
                return source
            if first is not None and not line.strip() and _complete(source):
                return source
            lines.append(line)

    def _with_note(self, action: dict[str, Any]) -> dict[str, Any]:
        if self._note:
            action["message"] = self._note
            self._note = None
        return action


class CtrlC:
    """While installed (a context manager, in the main thread), Ctrl-C interrupts the running
    cell rather than ending the episode; a second Ctrl-C within `window_s` ends it
    (KeyboardInterrupt). `on_action` / `on_step` are `run_episode`'s hooks: they say when a
    cell runs. `env` is the DojoEnv, whose `session` is interrupted."""

    def __init__(self, env: Any, *, window_s: float = 2.0, output: TextIO | None = None) -> None:
        self.env, self.window_s = env, window_s
        self._output = output or sys.stderr
        self._last: float | None = None
        self._running = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        self._previous = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)

    def on_action(self, step: int, action: Any) -> None:
        self._running = True

    def on_step(self, event: Any) -> None:
        self._running = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last <= self.window_s:
            raise KeyboardInterrupt
        self._last = now
        session = getattr(self.env, "session", None)
        if self._running and session is not None:
            # From a thread: the handler runs inside whatever the main thread was doing, which
            # may hold the session's locks; the interrupt waits for them, the handler does not.
            threading.Thread(target=session.interrupt, name="dojo-ctrl-c", daemon=True).start()
            what = "interrupting the running cell"
        else:
            what = "no cell is running"
        print(f"\nCtrl-C: {what}; press Ctrl-C again within {self.window_s:.0f} s to end the episode.",
              file=self._output, flush=True)


def _complete(source: str) -> bool:
    """Whether `source` is a complete block, the way the interactive interpreter decides."""
    try:
        return codeop.compile_command(source + "\n\n", symbol="exec") is not None
    except (SyntaxError, ValueError, OverflowError):
        return True  # a syntax error is complete: let the kernel report it
