"""Whether a run dir holds a branch: an episode `DojoEnv.fork()` made inside another one.

A tree search makes many branches of one episode, and the root holds the agent's answer, so
per-agent totals (leaderboard, report) count roots only and list branches beside them.

A run is a branch when its summary.json has a valid `"branch": {"parent_run_dir": NAME,
"fork_step": N}`; else (a run from before summaries said so, or one still running) when a
line of its rewards.jsonl is marked `"inherited": true` (the parent's steps, copied at the
fork), its parent then named by tree.json beside it where that says. The files are
untrusted: a field of the wrong type reads as absent, and nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rundir import RunLog


@dataclass(frozen=True)
class BranchOf:
    """Where a branch run came from."""

    parent: str | None  # the parent's run dir name; None where no file of the run says it
    fork_step: int | None  # the parent's step count at the fork

    def label(self) -> str:
        """'branch of NAME at step N', for a table cell."""
        where = f" at step {self.fork_step}" if self.fork_step is not None else ""
        return f"branch of {self.parent or '?'}{where}"


def branch_of(run: RunLog) -> BranchOf | None:
    """The branch a run dir holds, or None for a root run (see the module docstring)."""
    declared = _declared(run.summary.get("branch"))
    if declared is not None:
        return declared
    inherited = [entry for _, entry in run.lines if entry.get("inherited") is True]
    if not inherited:
        return None
    steps = [step for step in (_step(entry.get("step")) for entry in inherited) if step is not None]
    return BranchOf(_parent_in_tree(run.path), max(steps) if steps else None)


def _declared(value: Any) -> BranchOf | None:
    if not isinstance(value, dict):
        return None
    parent, fork_step = value.get("parent_run_dir"), _step(value.get("fork_step"))
    if not _is_name(parent) or fork_step is None:
        return None
    return BranchOf(parent, fork_step)


def _is_name(value: Any) -> bool:
    """A run dir's name: one path component (summary.json is written with the name, never a path)."""
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and "\0" not in value


def _step(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _parent_in_tree(run_dir: Path) -> str | None:
    """The parent tree.json (beside the run dir) names for it; None where it names none."""
    from .branching import TREE_FILE
    from .episode_tree import read_tree_file

    path = run_dir.parent / TREE_FILE
    if not path.is_file():
        return None
    try:
        node = read_tree_file(path).nodes.get(run_dir.name)  # read as untrusted: no links, bounded size
    except Exception:  # noqa: BLE001 - a tree.json that does not read names no parent
        return None
    parent = node.parent if node is not None else None
    return parent if _is_name(parent) else None
