"""What running one cell gives back: `CellResult`, with the error a cell raised and the limit
that stopped it. Plain dataclasses; `KernelSession.run` builds them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

CellStatus = Literal["ok", "error", "timeout", "killed", "died"]


@dataclass
class CellError:
    """The exception a cell raised, as the kernel reported it (traceback without ANSI colour)."""

    name: str
    value: str
    traceback: list[str] = field(default_factory=list)


@dataclass
class LimitEvent:
    """A limit that stopped a cell: which one, the limit, and the peak that crossed it."""

    kind: Literal["memory", "gpu_memory", "processes", "disk", "timeout", "died"]
    limit: float | None
    peak: float | None
    message: str


@dataclass
class CellResult:
    status: CellStatus
    outputs: list[dict[str, Any]] = field(default_factory=list)  # nbformat v4 output dicts
    text: str = ""  # the plain text an LLM reads: streams, results, error, limit messages
    error: CellError | None = None
    duration_s: float = 0.0
    peak_rss_bytes: int = 0  # peak PSS/RSS of the kernel's whole process tree during the cell
    peak_gpu_bytes: int | None = None  # None where NVML could not measure
    restarted: bool = False  # the kernel was restarted: every variable was lost
    execution_count: int | None = None
    limit_event: LimitEvent | None = None
    exit_code: int | None = None  # for status "died": the exit code, or -signal
    truncated_chars: int = 0  # how many characters of output the cap cut
    warnings: list[str] = field(default_factory=list)  # e.g. "GPU limit unenforceable: ..."
    cwd: str | None = None  # the kernel's working directory after the cell, where it could tell
    # Output that threads of earlier cells printed after their cell had finished; it is also
    # at the start of `text`, marked as such, but not in `outputs` (it is not this cell's).
    background_outputs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
