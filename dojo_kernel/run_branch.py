"""Whether a run dir holds a branch: an episode `DojoEnv.fork()` made inside another one.

A tree search makes many branches of one episode, and the root holds the agent's answer, so
per-agent totals (leaderboard, report) count roots only and list branches beside them.

A run is a branch when its summary.json has a valid `"branch": {"parent_run_dir": NAME,
"fork_step": N}`; else (a run from before summaries said so, or one still running) when a
line of its rewards.jsonl is marked `"inherited": true` (the parent's steps, copied at the
fork), its parent then named by tree.json beside it where that says. A branch that tree.json
marks `"search": {"chosen": true}` is the one a tree search (agents/tree.py) ended with: its
result is the episode's (run_episode reports it), so it stands for its root in the totals.
The files are untrusted: a field of the wrong type reads as absent, and nothing here raises.
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .rundir import RunLog

if TYPE_CHECKING:
    from .episode_tree import TreeNode


@dataclass(frozen=True)
class BranchOf:
    """Where a branch run came from."""

    parent: str | None  # the parent's run dir name; None where no file of the run says it
    fork_step: int | None  # the parent's step count at the fork
    chosen: bool = False  # the tree search's result (tree.json): it stands for its root in totals

    def label(self) -> str:
        """'branch of NAME at step N', for a table cell."""
        where = f" at step {self.fork_step}" if self.fork_step is not None else ""
        chosen = " (the search's result: counted for its episode)" if self.chosen else ""
        return f"branch of {self.parent or '?'}{where}{chosen}"


def branch_of(run: RunLog) -> BranchOf | None:
    """The branch a run dir holds, or None for a root run (see the module docstring)."""
    declared = _declared(run.summary.get("branch"))
    inherited = None if declared else [entry for _, entry in run.lines if entry.get("inherited") is True]
    if not declared and not inherited:
        return None
    node = _tree_node(run.path)
    search = node.fields.get("search") if node is not None else None
    chosen = isinstance(search, dict) and search.get("chosen") is True
    if declared:
        return BranchOf(declared[0], declared[1], chosen)
    steps = [step for step in (_step(entry.get("step")) for entry in inherited or ()) if step is not None]
    parent = node.parent if node is not None and _is_name(node.parent) else None
    return BranchOf(parent, max(steps) if steps else None, chosen)


def _declared(value: Any) -> tuple[str, int] | None:
    if not isinstance(value, dict):
        return None
    parent, fork_step = value.get("parent_run_dir"), _step(value.get("fork_step"))
    if not _is_name(parent) or fork_step is None:
        return None
    return parent, fork_step


def _is_name(value: Any) -> TypeGuard[str]:
    """A run dir's name: one path component (summary.json is written with the name, never a path)."""
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and "\0" not in value


def _step(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tree_node(run_dir: Path) -> TreeNode | None:
    """The run's node in tree.json beside it; None where there is none or it does not read."""
    from .branching import TREE_FILE  # imported here: branching brings the recorder and nbformat

    path = run_dir.parent / TREE_FILE
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):  # no links, no FIFOs
        return None
    nodes = _tree_nodes(str(path), info.st_mtime_ns, info.st_size)
    return nodes.get(run_dir.name) if nodes is not None else None


@functools.lru_cache(maxsize=8)
def _tree_nodes(path: str, _mtime_ns: int, _size: int) -> dict[str, TreeNode] | None:
    """tree.json's nodes, read once per version of the file (every branch beside it asks)."""
    from .episode_tree import read_tree_file

    try:
        return read_tree_file(Path(path)).nodes  # read as untrusted: no links, bounded size
    except Exception:  # noqa: BLE001 - a tree.json that does not read names nothing
        return None
