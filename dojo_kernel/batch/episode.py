"""One episode of a batch: playing it (in a worker process or a Ray task), its folder
(`<out>/<competition>/<agent>/seed-<n>`, the env's output dir, with the run dir inside),
whether it finished, and its result as read back from the run dir's summary."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, expected
from ..rundir import REWARDS_FILE, SUMMARY_FILE, atomic_write, read_summary
from .grid import EpisodeSpec
from .slots import Slot, episode_settings

ERROR_FILE = "error.txt"
SPEC_FILE = "episode.json"  # in each episode's folder, beside the env's run dir
FINISHED_FILE = "finished.json"  # the runner's record of a finished episode (see is_finished)
EpisodeStatus = Literal["ok", "failed", "skipped"]


def play_episode(spec: EpisodeSpec, slot: Slot, episode_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Play `spec` with `episode_dir` as the env's output dir (its run dir is made inside)
    and return `run_episode`'s summary. Raises whatever the env or the agent raised."""
    from .. import env as env_module
    from ..agents import get_agent, run_episode

    settings = episode_settings(spec.settings, slot)
    settings.setdefault("agent", spec.agent)  # recorded in the notebook and summary.json
    settings.setdefault("warm_pool", 0)  # one episode per env: a kernel started ahead would be wasted
    agent = get_agent(spec.agent, **dict(spec.agent_options))
    env = env_module.make(spec.competition, output_dir=episode_dir, **settings)
    try:
        return run_episode(env, agent, seed=spec.seed)
    finally:
        env.close()  # idempotent; run_episode leaves the env open when reset() itself fails


def _prepare_episode_dir(episode_dir: Path) -> None:
    # An earlier attempt that did not finish leaves a partial run dir: start afresh.
    if episode_dir.exists():
        shutil.rmtree(episode_dir)
    episode_dir.parent.mkdir(parents=True, exist_ok=True)


def find_run_dir(episode_dir: Path) -> Path:
    """The episode's run dir: `episode_dir` itself, or the one folder the env made inside it
    (the env names each run dir it starts under its output dir)."""
    if (episode_dir / SUMMARY_FILE).is_file() or (episode_dir / REWARDS_FILE).is_file():
        return episode_dir
    try:
        inner = sorted(path for path in episode_dir.iterdir() if path.is_dir() and (
            (path / SUMMARY_FILE).is_file() or (path / REWARDS_FILE).is_file()))
    except OSError:
        return episode_dir
    return inner[-1] if inner else episode_dir


def is_finished(episode_dir: Path) -> bool:
    """Finished: the batch recorded the episode as played to its end (finished.json, which the
    runner writes beside episode.json) and its run dir's summary.json is the one it recorded.
    A summary.json that anyone else put into --out (copied, forged, or an older batch that
    kept no record) is not trusted: that episode is played again."""
    if (episode_dir / ERROR_FILE).exists():
        return False
    try:
        record = json.loads((episode_dir / FINISHED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    run_dir = find_run_dir(episode_dir)
    return (isinstance(record, dict) and record.get("run_dir") == _relative_to(run_dir, episode_dir)
            and record.get("summary_sha256") == _summary_digest(run_dir))


def _summary_digest(run_dir: Path) -> str | None:
    """The SHA-256 of the run dir's summary.json; None where there is no regular file to read."""
    summary = run_dir / SUMMARY_FILE
    if summary.is_symlink() or not summary.is_file():
        return None
    try:
        return hashlib.sha256(summary.read_bytes()).hexdigest()
    except OSError:
        return None


def _record_finished(episode_dir: Path) -> None:
    """finished.json: the runner's own record that the episode ended, and of its summary."""
    run_dir = find_run_dir(episode_dir)
    digest = _summary_digest(run_dir)
    if digest is not None:
        _atomic_write(episode_dir / FINISHED_FILE, json.dumps(
            {"run_dir": _relative_to(run_dir, episode_dir), "summary_sha256": digest}, indent=1))


def _record_spec(spec: EpisodeSpec, episode_dir: Path) -> None:
    """episode.json: what the episode was run with, so that a rerun can tell it apart."""
    episode_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(episode_dir / SPEC_FILE, json.dumps(spec.to_dict(), indent=1, sort_keys=True))


def _check_same_spec(finished: Sequence[EpisodeSpec], out: Path) -> None:
    """A rerun skips finished episodes, so they must be the episodes asked for now."""
    changed = []
    for spec in finished:
        try:
            recorded = json.loads((out / spec.key / SPEC_FILE).read_text())
        except (OSError, ValueError):
            continue  # no record: nothing to compare with
        if recorded != spec.to_dict():
            differing = sorted(k for k in recorded.keys() | spec.to_dict().keys()
                               if recorded.get(k) != spec.to_dict().get(k))
            changed.append(f"{spec.key} ({', '.join(differing)})")
    if changed:
        raise ConfigError(expected(f"the settings and agent options the episodes in {out} were run with",
                                   f"changes for {len(changed)} finished episode(s): {'; '.join(changed[:5])}",
                                   "use a new --out, or delete those episode folders to run them again"))


def _format_error(error: BaseException) -> tuple[str, str]:
    """A one-line message for the table and the full traceback for error.txt."""
    first_line = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return first_line[:300], details


@dataclass
class EpisodeResult:
    spec: EpisodeSpec
    episode_dir: Path  # <out>/<competition>/<agent>/seed-<n>
    status: EpisodeStatus
    attempts: int = 0
    error: str | None = None
    slot: Slot | None = None
    duration_s: float | None = None  # wall time of the last attempt, kernel start included (None: skipped)
    summary: dict[str, Any] = field(default_factory=dict)  # the env's summary.json

    @property
    def run_dir(self) -> Path:
        """The run dir the env wrote (trajectory.ipynb, rewards.jsonl, summary.json)."""
        return find_run_dir(self.episode_dir)

    def row(self, out: Path) -> dict[str, Any]:
        """This episode's line in results.csv / results.md."""
        summary = self.summary
        events = summary.get("limit_events")
        event_kinds = [str(e.get("kind", "?")) if isinstance(e, dict) else str(e) for e in events] \
            if isinstance(events, list) else []
        slot = self.slot or Slot()
        usage = summary.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        return {
            "competition": self.spec.competition, "agent": self.spec.agent, "seed": self.spec.seed,
            "status": self.status, "attempts": self.attempts,
            "best_score": _number(summary.get("best_score")),
            "final_score": _number(summary.get("final_score")),  # graded on the private split
            "position": _number(summary.get("final_position")),
            "medal": summary.get("medal") or "",
            "steps": _number(summary.get("steps")),
            "episode_s": _number(summary.get("elapsed_s")),  # the env's clock, kernel start excluded
            "wall_s": self.duration_s,
            "tokens": _number(usage.get("total_tokens")),
            "cost_usd": _number(usage.get("cost_usd")),
            # "none" is an unisolated kernel: agent code could read the answers (README, Isolation)
            "isolation": summary.get("isolation") or "",
            "limit_events": ";".join(event_kinds),
            "cpus": slot.cpus, "gpu_device": slot.gpu_device, "gpu_memory_gb": slot.gpu_memory_gb,
            "error": self.error or "",
            "run_dir": _relative_to(self.run_dir, out),
        }


def _relative_to(path: Path, start: Path) -> str:
    return path.relative_to(start).as_posix() if path.is_relative_to(start) else str(path)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return value


def _read_summary(episode_dir: Path) -> dict[str, Any]:
    return read_summary(find_run_dir(episode_dir))


def _finished(spec: EpisodeSpec, episode_dir: Path, attempts: int, slot: Slot | None,
              duration_s: float | None) -> EpisodeResult:
    _record_spec(spec, episode_dir)
    _record_finished(episode_dir)
    return EpisodeResult(spec, episode_dir, "ok", attempts, None, slot, duration_s, _read_summary(episode_dir))


def _failed(spec: EpisodeSpec, episode_dir: Path, attempts: int, slot: Slot | None, error: str, details: str,
            duration_s: float | None) -> EpisodeResult:
    _record_spec(spec, episode_dir)
    (episode_dir / ERROR_FILE).write_text(f"{spec.key}: failed after {attempts} attempt(s)\n\n{details}\n",
                                          encoding="utf-8")
    return EpisodeResult(spec, episode_dir, "failed", attempts, error, slot, duration_s, _read_summary(episode_dir))




def _atomic_write(path: Path, text: str) -> None:
    atomic_write(path, text)  # rundir's: fsynced, and a crash leaves the old file or the new one
