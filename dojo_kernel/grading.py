"""Submission checks, scoring, leaderboard position and medals.

(CONTRACT STUB: the Grade type below is fixed; grading itself is being written.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["public", "private", "full"]
Medal = Literal["gold", "silver", "bronze"]


@dataclass
class Grade:
    valid: bool
    error: str | None = None  # for an invalid submission: what is wrong and how to fix it
    score: float | None = None  # the metric's value
    position: float | None = None  # share of leaderboard entries beaten, 0..1
    rank: int | None = None
    teams: int | None = None
    medal: Medal | None = None
    above_median: bool | None = None
    split: Split = "private"
    metric: str | None = None
    higher_is_better: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
