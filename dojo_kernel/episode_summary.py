"""What `summary.json` says of a finished episode: one flat dict that reports, leaderboards and
batch results read (its keys are part of the run-dir format, see DESIGN.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .cgroups import mode as enforcement_mode

if TYPE_CHECKING:
    from .env import DojoEnv
    from .episode_state import Episode


def episode_summary(env: DojoEnv, episode: Episode) -> dict[str, Any]:
    final = episode.final_grade
    public = episode.final_public_grade
    rewards = episode.rewards
    limits = env.settings.limits
    return {
        "competition": env.competition.name,
        "agent": env.settings.agent,
        "metric": env.competition.metric,
        "higher_is_better": env.competition.higher_is_better,
        "reward_mode": rewards.mode,
        "feedback": env.feedback_name,
        "actions": list(env.action_set.names),
        "custom_actions": env.action_set.custom,
        "info_types": list(env.action_set.info_types),
        "grade_split": env.settings.grade_split,
        "end_reason": episode.end_reason,
        "terminated": episode.terminated,
        "truncated": episode.truncated,
        "steps": episode.steps,
        "total_reward": episode.total_reward,
        "best_score": rewards.best_score,
        "best_position": rewards.best_position,
        "best_step": rewards.best_step,
        "submissions_graded": rewards.graded,
        "submissions_valid": rewards.valid,
        "final_score": final.score if final else None,
        "final_position": final.position if final else None,
        "medal": final.medal if final else None,
        "above_median": final.above_median if final else None,
        "final_valid": final.valid if final else None,
        "final_public_score": public.score if public else None,
        "final_public_position": public.position if public else None,
        "final_grade": final.to_dict() if final else None,
        "final_public_grade": public.to_dict() if public else None,
        "steps_used": episode.steps,
        "max_steps": env.settings.max_steps,
        "elapsed_s": episode.elapsed(),
        "episode_time_s": limits.episode_time_s,
        "limit_events": list(episode.limit_events),
        "kernel_restarts": episode.kernel_restarts,
        "usage": dict(episode.usage),
        "isolation": env.isolation_plan.mode,
        "isolation_warning": env.isolation_plan.warning,
        "limits_enforced_by": enforcement_mode(),  # "cgroup v1" | "cgroup v2" | "watchdog"
        "limits": limits.to_dict(),
        "seed": episode.seed,
        "started_at": episode.started_at,
        "ended_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_dir": str(episode.run_dir),
        # a fork inside an episode (DojoEnv.fork): {"parent_run_dir": NAME, "fork_step": N}; null for a
        # root. Leaderboards count roots only (a tree search's branches are not runs of their own).
        "branch": episode.recorder.branch,
    }
