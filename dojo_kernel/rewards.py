"""Turning grades into rewards, and keeping the episode's best.

Modes (DESIGN.md, "Decisions"):
  improvement  the gain in the best position score so far, so the episode's return is its
               best position score (0..1). The default.
  position     the position score of every graded submission (MLE-Dojo's reward).
  raw          the metric value of every graded submission, sign as the metric gives it
               (for a lower-is-better metric such as RMSE, a smaller reward is better).
  final        0 on every step, then the private position score at the episode's end.

A reward function registered with `dojo_kernel.register_reward(name, function)` (or passed
as `reward_mode=function`) is called as `function(grade, tracker)` for each grade during the
episode, after the tracker counted it; it pays nothing for the private grade at the end.

Grades during the episode come from the public split; the end-of-episode grade is the
private one. Only `final` mode rewards the private grade: the others report it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from .errors import ConfigError, expected
from .extensions import reward_function, reward_names
from .grading import Grade
from .metrics import is_better

REWARD_MODES = ("improvement", "position", "raw", "final")


def check_reward_mode(mode: Any) -> Any:
    """A built-in mode's name, a registered reward's name, or a reward function."""
    if mode in REWARD_MODES or callable(mode) or (isinstance(mode, str) and reward_function(mode) is not None):
        return mode
    raise ConfigError(expected("reward_mode among " + ", ".join(REWARD_MODES + tuple(reward_names())) +
                               " (or a function registered with dojo_kernel.register_reward)", mode))


def reward_mode_name(mode: Any) -> str:
    """How summary.json names the reward: the mode's name, or the function's."""
    return mode if isinstance(mode, str) else getattr(mode, "__name__", type(mode).__name__)


@dataclass
class RewardTracker:
    """The reward of each grade in one episode, and the best grade seen so far."""

    mode: Any  # a REWARD_MODES name, a registered reward's name or a reward function
    higher_is_better: bool = True
    best_position: float | None = None
    best_score: float | None = None
    best_step: int | None = None
    graded: int = 0  # grades seen during the episode, valid or not
    valid: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # (step, score, position) of each valid grade

    def __post_init__(self) -> None:
        check_reward_mode(self.mode)
        self.function: Callable[..., float] | None = (cast("Callable[..., float]", self.mode) if callable(self.mode) else
                                                       None if self.mode in REWARD_MODES else reward_function(self.mode))
        self.mode = reward_mode_name(self.mode)

    def on_grade(self, grade: Grade, step: int) -> float:
        """The reward for a grade made during the episode (public split), and update the best."""
        self.graded += 1
        if not grade.valid:
            return float(self.function(grade, self)) if self.function is not None else 0.0
        self.valid += 1
        self.history.append({"step": step, "score": grade.score, "position": grade.position})
        previous = self.best_position if self.best_position is not None else 0.0
        if grade.position is not None and (self.best_position is None or grade.position > self.best_position):
            self.best_position = grade.position
        if grade.score is not None and is_better(grade.score, self.best_score, self.higher_is_better):
            self.best_score = grade.score
            self.best_step = step
        if self.function is not None:
            return float(self.function(grade, self))
        if self.mode == "improvement":
            return max(0.0, (self.best_position or 0.0) - previous)
        if self.mode == "position":
            return float(grade.position or 0.0)
        if self.mode == "raw":
            return float(grade.score) if grade.score is not None else 0.0
        return 0.0  # final: nothing until the end

    def on_final(self, grade: Grade | None) -> float:
        """The reward for the end-of-episode grade (private split): only `final` mode pays it."""
        if self.mode != "final" or grade is None or not grade.valid:
            return 0.0
        return float(grade.position or 0.0)
