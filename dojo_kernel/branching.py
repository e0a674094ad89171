"""`DojoEnv.fork()`: independent envs at the same step of the same episode, and `tree.json`.

A branch is a new env holding a new episode that starts where its parent stands: the same
history, step count, budget (steps and the episode clock), reward state and best score, a
kernel forked from the parent's (every variable carried, copy-on-write), and a run dir of
its own:

    <output_dir>/<branch run dir>/
        trajectory.ipynb   the parent's cells, each marked `dojo.inherited: true`, then its own
        rewards.jsonl      the parent's lines, each marked `"inherited": true`, then its own
        working/           a copy of the parent's working/ at the fork
        input/             the public data, as in every run dir
    <output_dir>/tree.json every episode of this output dir that forked or was forked: its
                           parent, the step it was forked at, and its scores (at the fork, then
                           at its end)

Under the sandbox a forked kernel keeps its parent's view of the files, fixed when the
sandbox started, in which the branch's run dir does not exist. Its working directory is then
a folder of the sandbox's own (fork.sandbox_scratch) with `working/` and `input/`, and the
branch's `working` is a link to that folder's `working/` until the episode ends, when the
files are moved into the run dir. The env grades what the branch's kernel writes, as always.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, expected
from .kernel_user import hand_over_tree
from .rundir import atomic_write, new_run_dir
from .spawn import link_input
from .trajectory import TrajectoryRecorder

if TYPE_CHECKING:
    from .env import DojoEnv
    from .episode_state import Episode

TREE_FILE = "tree.json"
_LINKED_WORKING: set[Path] = set()  # branch run dirs whose working/ is a link into a sandbox
_TREE_FORMAT = 1


def fork_env(env: DojoEnv, n: int | None = None) -> DojoEnv | list[DojoEnv]:
    """`n` None: one branch; an int: a list of `n` branches (for group rollouts)."""
    count = 1 if n is None else n
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(expected("n as an int >= 1 (how many branches), or None for one", n))
    episode = env._episode
    if episode is None or episode.over:
        raise ConfigError(expected("an episode in progress to fork (call reset(), then step())",
                                   "no episode" if episode is None else f"an episode that ended "
                                   f"({episode.end_reason})"))
    branches: list[DojoEnv] = []
    try:
        for _ in range(count):
            branches.append(_branch(env, episode))
    except BaseException:
        for branch in branches:
            branch.close()
        raise
    _note_fork(env, episode, branches)
    return branches[0] if n is None else branches


def _branch(env: DojoEnv, episode: Episode) -> DojoEnv:
    from .env import DojoEnv
    from .episode_state import Episode
    from .fork import fork_session, sandbox_scratch
    from .settings import EnvSettings

    settings = {f.name: getattr(env.settings, f.name) for f in dataclasses.fields(EnvSettings)}
    branch = DojoEnv(env.competition, output_dir=env.output_dir, render_mode=env.render_mode, **settings)
    _carry_extensions(env, branch)
    run_dir = new_run_dir(env.output_dir)
    session = scratch = None
    try:
        link_input(run_dir, env.launch.input_source)
        scratch = sandbox_scratch(episode.session)  # released when the branch's files are copied out
        kernel_dir = run_dir if scratch is None else scratch / "run"
        kernel_dir.mkdir(exist_ok=True)
        # The parent's files as they are now; links stay links (never followed out of working/).
        shutil.copytree(episode.session.cwd / "working", kernel_dir / "working", symlinks=True)
        # Under the sandbox, with the env as root, the copy must belong to the kernel's host uid.
        plan = episode.session.isolation
        hand_over_tree(kernel_dir / "working", plan.kernel_user if plan.mode == "namespaces" else None)
        if scratch is not None:
            link_input(kernel_dir, env.launch.input_source)
            (run_dir / "working").symlink_to(kernel_dir / "working", target_is_directory=True)
            _LINKED_WORKING.add(run_dir)
        session = fork_session(episode.session, cwd=kernel_dir)
        parent_record = episode.recorder._metadata["dojo"]
        recorder = TrajectoryRecorder(run_dir, competition=env.competition.name, agent=env.settings.agent,
                                      limits=env.settings.limits, settings=parent_record["settings"],
                                      initial_observation=parent_record.get("initial_observation"),
                                      extra_actions=tuple(env.action_set.custom))
        recorder.inherit(episode.recorder, {"parent_run_dir": str(episode.run_dir), "fork_step": episode.steps})
    except BaseException:
        if session is not None:
            session.close()
        branch.close()
        _LINKED_WORKING.discard(run_dir)
        if scratch is not None:
            from .fork import release_scratch
            release_scratch(scratch)
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    branch._episode = Episode(
        run_dir, session, recorder, copy.deepcopy(episode.rewards), episode.seed, started=episode.started,
        started_at=episode.started_at, steps=episode.steps, total_reward=episode.total_reward,
        kernel_restarts=episode.kernel_restarts, limit_events=copy.deepcopy(episode.limit_events),
        history=copy.deepcopy(episode.history), last_grade=episode.last_grade,
        last_traceback=episode.last_traceback, hints_seen=copy.deepcopy(episode.hints_seen))
    branch.run_dir = run_dir
    branch._last_feedback = env._last_feedback
    branch._np_random = copy.deepcopy(env._np_random)
    branch._np_random_seed = getattr(env, "_np_random_seed", None)
    branch._write_kernel_pointer(branch._episode)
    return branch


def _carry_extensions(env: DojoEnv, branch: DojoEnv) -> None:
    """The actions, info types and feedback formatter passed to the parent's constructor (they
    may be callables, not names a new env could look up), with spaces of the branch's own."""
    from .spaces import ActionSpace, observation_space

    branch.action_set = env.action_set
    branch.feedback_name, branch._formatter = env.feedback_name, env._formatter
    branch._observation_actions = env._observation_actions
    branch.action_space = ActionSpace(env.settings.max_code_chars, action_set=env.action_set)
    branch.observation_space = observation_space(env.settings.max_feedback_chars, env.action_set.names)


def real_working(run_dir: Path) -> Path:
    """An episode's working/ folder. For a sandboxed branch it is a link this module made
    into the sandbox's folder (the grader opens nothing through links): its target, which
    this module wrote, is returned instead."""
    link = Path(run_dir) / "working"
    if Path(run_dir) in _LINKED_WORKING:
        return Path(os.readlink(link))
    return link


def close_session(session: Any, run_dir: Path) -> None:
    """End an episode's kernel; for a branch under the sandbox, then copy its kernel's
    working/ into the run dir in place of the link, so that the run dir keeps its files
    after the sandbox is gone. (Only links this module made are followed.)"""
    try:
        session.close()
    finally:
        if run_dir in _LINKED_WORKING:
            _LINKED_WORKING.discard(run_dir)
            _settle_working(run_dir)


def _settle_working(run_dir: Path) -> None:
    from .fork import release_scratch

    link = run_dir / "working"
    if not link.is_symlink():
        return
    target = Path(os.readlink(link))
    try:
        _replace_link(link, target)
    finally:
        release_scratch(target.parent.parent)  # the scratch folder: <folder>/run/working


def _replace_link(link: Path, target: Path) -> None:
    run_dir = link.parent
    staging = run_dir / ".working.settling"
    shutil.rmtree(staging, ignore_errors=True)
    if target.is_dir():
        shutil.copytree(target, staging, symlinks=True)
    else:
        staging.mkdir()
    link.unlink()
    staging.rename(link)


# ---------------------------------------------------------------------------------------------
# tree.json
# ---------------------------------------------------------------------------------------------

def _node(episode: Episode) -> dict[str, Any]:
    rewards = episode.rewards
    return {"steps": episode.steps, "best_score": rewards.best_score, "best_position": rewards.best_position,
            "best_step": rewards.best_step}


def _note_fork(env: DojoEnv, episode: Episode, branches: list[DojoEnv]) -> None:
    def change(nodes: dict[str, Any]) -> None:
        parent = nodes.setdefault(episode.run_dir.name, {"parent": None, "fork_step": None})
        parent.update(_node(episode))
        for branch in branches:
            assert branch._episode is not None
            nodes[branch._episode.run_dir.name] = {
                "parent": episode.run_dir.name, "fork_step": episode.steps,
                "forked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **_node(branch._episode)}
    update_tree(env.output_dir, change)


def note_closed(output_dir: Path, run_dir: Path, summary: dict[str, Any]) -> None:
    """At an episode's end: its final numbers into tree.json, if the episode is in a tree."""
    if not (output_dir / TREE_FILE).exists():
        return

    def change(nodes: dict[str, Any]) -> None:
        node = nodes.get(run_dir.name)
        if node is not None:
            node.update({key: summary.get(key) for key in (
                "steps", "best_score", "best_position", "best_step", "final_score", "final_position",
                "end_reason")})
    update_tree(output_dir, change)


def was_forked(output_dir: Path, run_dir: Path) -> bool:
    """Whether tree.json names the episode in `run_dir` as a branch's parent (a root forked
    before its first step keeps its run dir at close: its branches name it)."""
    nodes = read_tree(output_dir)["nodes"]
    return any(isinstance(node, dict) and node.get("parent") == run_dir.name for node in nodes.values())


def update_tree(output_dir: Path, change) -> None:
    """Read, change and rewrite tree.json atomically, one writer at a time (processes too)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / TREE_FILE
    with open(output_dir / ".tree.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            tree = read_tree(output_dir)
            change(tree["nodes"])
            atomic_write(path, (json.dumps(tree, indent=1, sort_keys=True) + "\n").encode())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_tree(output_dir: Path) -> dict[str, Any]:
    """tree.json of an output dir: {"format": 1, "nodes": {run dir name: {parent, fork_step, ...}}}."""
    with contextlib.suppress(OSError, ValueError):
        tree = json.loads((Path(output_dir) / TREE_FILE).read_text())
        if isinstance(tree, dict) and isinstance(tree.get("nodes"), dict):
            return tree
    return {"format": _TREE_FORMAT, "nodes": {}}
