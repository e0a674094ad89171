"""What reset() and step() hand back and record: the observation and info dicts and the step's
trajectory record, built from the env's state; kept apart from `DojoEnv` (env.py), which runs the actions.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .episode_state import Episode, Outcome, finite
from .errors import safe_repr
from .outputs import clip
from .printable import terminal_safe
from .spaces import CELL_STATUSES
from .trajectory import StepRecord
from .usage import add_usage

if TYPE_CHECKING:
    from .env import DojoEnv


def observation(env: DojoEnv, feedback: str, *, action: str, outcome: Outcome | None = None) -> dict[str, Any]:
    feedback = clip(terminal_safe(feedback), env.settings.max_feedback_chars)
    env._last_feedback = feedback
    episode = env._episode
    rewards = episode.rewards if episode else None
    grade = outcome.grade if outcome else None
    steps_left = env._steps_left()
    time_left = env._time_left()
    has_best = rewards is not None and rewards.best_position is not None
    return {
        "feedback": feedback,
        "action": np.int64(env._observation_actions.index(action)),
        "status": np.int64(CELL_STATUSES.index(outcome.status if outcome and outcome.status else "none")),
        "graded": np.int64(bool(outcome and outcome.graded)),
        "valid_submission": np.int64(bool(grade and grade.valid)),
        "score": np.array(finite(grade.score if grade and grade.valid else None), dtype=np.float64),
        "position": np.array(finite(grade.position if grade and grade.valid else None), dtype=np.float64),
        "has_best": np.int64(has_best),
        "best_score": np.array(finite(rewards.best_score if rewards else None), dtype=np.float64),
        "best_position": np.array(finite(rewards.best_position if rewards else None), dtype=np.float64),
        "step": np.array(episode.steps if episode else 0, dtype=np.int64),
        "steps_left": np.array(-1 if steps_left is None else steps_left, dtype=np.int64),
        "time_left_s": np.array(-1.0 if time_left is None else time_left, dtype=np.float64),
        "kernel_restarted": np.int64(bool(outcome and outcome.kernel_restarted)),
        "limit_exceeded": np.int64(bool(outcome and outcome.result and outcome.result.limit_event)),
        "images": tuple(outcome.figures) if outcome else (),
    }


def base_info(env: DojoEnv, *, action: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keys every info has (reset and step alike)."""
    episode = env._episode
    rewards = episode.rewards if episode else None
    return {
        "action": action,
        "status": None,
        "error": error,
        "message": None,
        "grade": None,
        "score": None,
        "position": None,
        "best_score": rewards.best_score if rewards else None,
        "best_position": rewards.best_position if rewards else None,
        "reward_mode": env._episode.rewards.mode if env._episode else env.settings.to_dict()["reward_mode"],
        "step": episode.steps if episode else 0,
        "budget": env._budget(),
        "timings": {},
        "peak_rss_bytes": None,
        "peak_gpu_bytes": None,
        "execution_count": None,
        "limit_event": None,
        "kernel_restarted": False,
        "final_grade": None,
        "final_public_grade": None,
        "end_reason": episode.end_reason if episode else None,
        "run_dir": str(episode.run_dir) if episode else None,
        "isolation": env.isolation_plan.mode,
        "isolation_warning": env.isolation_plan.warning,
        "competition": env.competition.name,
    }


def step_info(env: DojoEnv, outcome: Outcome, started: float) -> dict[str, Any]:
    episode = env._episode
    assert episode is not None
    info = base_info(env, action=outcome.action, error=outcome.error_info)
    grade = outcome.grade
    result = outcome.result
    info.update(
        status=outcome.status,
        message=outcome.message,
        grade=grade.to_dict() if grade else None,
        score=grade.score if grade and grade.valid else None,
        position=grade.position if grade and grade.valid else None,
        kernel_restarted=outcome.kernel_restarted,
        timings={**outcome.timings, "step_s": time.perf_counter() - started},
        action_info=outcome.action_info,
    )
    if result is not None:
        info.update(peak_rss_bytes=result.peak_rss_bytes, peak_gpu_bytes=result.peak_gpu_bytes,
                    execution_count=result.execution_count,
                    limit_event=dataclasses.asdict(result.limit_event) if result.limit_event else None)
    if episode.over:
        info.update(final_grade=episode.final_grade.to_dict() if episode.final_grade else None,
                    final_public_grade=(episode.final_public_grade.to_dict()
                                        if episode.final_public_grade else None))
    return info


def record_step(env: DojoEnv, episode: Episode, raw_action: Any, outcome: Outcome, obs: dict, info: dict) -> None:
    rewards = episode.rewards
    episode.history.append({
        "step": episode.steps, "action": outcome.action, "status": outcome.status,
        "score": info["score"], "valid": outcome.grade.valid if outcome.grade else None,
        "reward": outcome.reward, "error": outcome.error,
    })
    episode.recorder.record(StepRecord(
        step=episode.steps,
        action=outcome.action,
        code=outcome.code,
        message=outcome.message,
        result=outcome.result,
        grade=outcome.grade,
        reward=outcome.reward,
        scores={"score": info["score"], "position": info["position"], "split": env.settings.grade_split},
        best={"score": rewards.best_score, "position": rewards.best_position, "step": rewards.best_step},
        elapsed_s=episode.elapsed(),
        budget_left={"steps": env._steps_left(), "time_s": env._time_left()},
        limit_event=info["limit_event"],
        feedback=obs["feedback"],
        error=outcome.error_info,
        info_markdown=outcome.markdown,
        arguments=outcome.arguments if outcome.action != "invalid" else {"received": safe_repr(raw_action)[:300]},
        started_at=outcome.started_at,
        usage=episode.pending_usage or None,
    ))
    add_usage(episode.usage, episode.pending_usage)
    episode.pending_usage = {}
