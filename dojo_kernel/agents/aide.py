"""`--agent aide`: AIDE's tree search (the `aideml` package) with dojo-kernel's kernels as its interpreter.

Each AIDE step proposes a node (a draft, a debug of a buggy leaf, or an improvement of the best
node: aide's own search policy and prompts, see aide_search.py), runs its code, and scores it
from what the env observed. Two ways to run a node:

- fresh (the default, what AIDE does): the episode's kernel is restarted and the node's whole
  script runs from scratch, as steps of this episode (`restart_kernel`, `execute_code`).
- fork (`fork=True`): a debug or improve node runs in a fork of its parent node's kernel
  (`DojoEnv.fork`: a branch episode whose kernel holds the parent's variables, copy-on-write),
  and the model is told to write only the code that comes next, reusing what is in memory.
  Drafts still start fresh, in this episode. A node's state stays alive (as a branch) while
  aide's policy can still pick it: the best node, and buggy leaves it may debug; at most
  `max_live_kernels` at once. Where a parent's state is gone, or a fork fails, the child runs
  fresh: its parent's cells, then its own, in this episode's kernel. Branches are recorded
  as usual (their own run dirs, tree.json) and end when they are no longer needed.

Either way the episode ends as any other: the best node's submission is made this episode's
(re-run from scratch here if another node ran last, or ran in a branch), then `submit(final=True)`.
LLM usage is counted in `stats` and recorded in this episode's steps (not in the branches').

Needs aideml without its pinned dependencies: pip install --no-deps aideml==0.2.2 && pip install 'dojo-kernel[aide]'.
"""

from __future__ import annotations

import random
import time
from collections.abc import Generator
from typing import Any

from ..errors import ConfigError, DojoError, expected
from ..spaces import CELL_STATUSES
from .base import Action, Observation
from .llm import LLMAgent

NEXT_CELL = "\n\n# %% next cell: runs in the kernel the cell above left (where it failed too)\n"

Steps = Generator[Action, Observation, Any]  # yields this episode's actions, receives their observations


class AideAgent:
    """AIDE (aideml) driving a dojo episode. model / base_url / api_key as for the llm agent;
    steps: AIDE nodes; num_drafts, debug_prob, max_debug_depth, k_fold_validation: aide's
    settings (None: aide's defaults); fork: run improve and debug nodes in forks of their
    parents' kernels; seed: aide's random choices from a generator of their own."""

    name = "aide"

    def __init__(self, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 fork: bool = False, steps: int = 20, num_drafts: int | None = None, debug_prob: float | None = None,
                 max_debug_depth: int | None = None, k_fold_validation: int | None = None, data_preview: bool = True,
                 temperature: float | None = None, seed: int | None = None, max_live_kernels: int = 4,
                 max_retries: int = 5, backoff_s: float = 1.0, request_timeout_s: float = 300.0, client: Any = None,
                 prompt_usd_per_mtok: float | None = None, completion_usd_per_mtok: float | None = None) -> None:
        try:
            from . import aide_search
        except ImportError as error:
            raise ConfigError(f"the aide agent needs the 'aideml' package and its light dependencies ({error}): "
                              "pip install --no-deps aideml==0.2.2 && pip install 'dojo-kernel[aide]'") from None
        self._aide = aide_search
        for label, value, low in (("steps", steps, 1), ("max_live_kernels", max_live_kernels, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(expected(f"an int >= {low} for {label}", value))
        if not isinstance(fork, bool):
            raise ConfigError(expected("fork as true or false", fork))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(expected("an int seed or None", seed))
        if debug_prob is not None and not (isinstance(debug_prob, (int, float)) and 0 <= debug_prob <= 1):
            raise ConfigError(expected("debug_prob between 0 and 1", debug_prob))
        # The llm agent's client: the same endpoint options, retries with backoff, and usage counters.
        self._llm = LLMAgent(model=model, base_url=base_url, api_key=api_key, temperature=temperature,
                             max_retries=max_retries, backoff_s=backoff_s, request_timeout_s=request_timeout_s,
                             client=client, prompt_usd_per_mtok=prompt_usd_per_mtok,
                             completion_usd_per_mtok=completion_usd_per_mtok)
        self.model: str = self._llm.model or ""
        self.fork = fork
        self.steps = steps
        self.max_live_kernels = max_live_kernels
        self.seed = seed
        self.data_preview = data_preview
        self.settings = {"num_drafts": num_drafts, "debug_prob": debug_prob, "max_debug_depth": max_debug_depth,
                         "k_fold_validation": k_fold_validation}
        self.temperature = temperature
        self.search: Any = None  # aide_search.AideSearch, made at reset
        self._env: Any = None
        self._plan: Steps | None = None
        self._started = False
        self._reset_state()

    def _reset_state(self) -> None:
        self._cells: dict[str, list[str]] = {}  # node id -> the cells that rebuild its state from scratch
        self._scratch_s: dict[str, float] = {}  # node id -> about how long those cells take
        self._branches: dict[str, Any] = {}  # node id -> a live branch env holding its kernel state
        self._root_node: str | None = None  # the node whose state this episode's kernel holds
        self._root_dirty = False  # whether this episode's kernel ran code since it started
        self._last: Observation = {}
        self._counts: dict[str, Any] = {"nodes": 0, "drafts": 0, "improves": 0, "debugs": 0, "buggy_nodes": 0,
                                        "nodes_in_forks": 0, "nodes_fresh": 0, "fork_fallbacks": 0,
                                        "best_node": None, "best_metric": None, "fork_mode": self.fork}

    # -- the agent protocol ----------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        return {**self._llm.stats, **self._counts}

    @property
    def journal(self) -> Any:
        """aide's Journal of this episode's nodes (None before reset)."""
        return self.search.journal if self.search is not None else None

    def bind_env(self, env: Any) -> None:
        """run_episode hands the env over: forks are made from it, the task is read from it."""
        self._env = getattr(env, "unwrapped", env)

    def reset(self, observation: Observation) -> None:
        self.end_episode()
        self._llm._reset_stats()
        self._reset_state()
        env = self._env
        competition = getattr(env, "competition", None)
        limits = getattr(getattr(env, "settings", None), "limits", None)
        timeout_s = getattr(limits, "cell_timeout_s", None) or 3600
        cfg = self._aide.make_config(steps=self.steps, timeout_s=timeout_s, model=self.model,
                                     temperature=self.temperature, data_preview=self.data_preview, **self.settings)
        maximize = bool(getattr(competition, "higher_is_better", True))
        rng = random.Random(self.seed) if self.seed is not None else None
        self.search = self._aide.AideSearch(self._task(competition, observation), cfg, self._chat,
                                            maximize=maximize, rng=rng)
        preview = self._aide.data_overview(getattr(competition, "public_dir", None)) if self.data_preview else None
        self.search.data_preview = preview
        cfg.agent.data_preview = preview is not None
        self._last = observation
        self._plan = self._episode()
        self._started = False

    def act(self, observation: Observation) -> Action:
        if self._plan is None:
            self.reset(observation)
        assert self._plan is not None
        self._last = observation
        try:
            if not self._started:
                self._started = True
                return next(self._plan)
            return self._plan.send(observation)
        except StopIteration:
            return {"action": "submit", "final": True}

    def end_episode(self) -> None:
        """End every branch this agent started (run_episode calls it when the episode ends)."""
        for node_id in list(self._branches):
            self._drop(node_id)
        if self._plan is not None:
            self._plan.close()
            self._plan = None

    # -- the search ----------------------------------------------------------------------

    def _episode(self) -> Steps:
        search = self.search
        while len(search.journal) < self.steps and self._time_for_more():
            node, parent, in_fork = search.propose(self._can_fork)
            cells = (self._cells[parent.id] if in_fork else []) + [node.code]
            if not self._steps_for(node, cells, in_fork):
                break
            if in_fork:
                node.code = NEXT_CELL.join(cells)  # what the next prompts show as this node's code
            outcome = self._in_fork(node, parent, cells) if in_fork else None
            where = f"in a fork of node {parent.step}'s kernel" if outcome is not None else "in a fresh kernel"
            if outcome is None:
                self._counts["fork_fallbacks"] += int(in_fork)
                outcome = yield from self._fresh(node, parent, cells)
            search.absorb(node, outcome, where)
            self._note(node, parent)
            self._prune()
        yield from self._finish()

    def _can_fork(self, node: Any) -> bool:
        return (self.fork and self._env is not None and node.id in self._cells
                and (node.id in self._branches or node.id == self._root_node))

    def _fresh(self, node: Any, parent: Any, cells: list[str]) -> Steps:
        """Run `cells` from scratch in this episode's kernel (restarted first if it ran code)."""
        label = self._label(node, parent, "in a fresh kernel")
        if self._root_dirty:
            self._save_root()
            yield {"action": "restart_kernel", "message": label}
        started = time.monotonic()
        feedback: list[str] = []
        observation: Observation = {}
        for index, cell in enumerate(cells):
            message = label if index < len(cells) - 1 else f"{label}: {node.plan}"
            observation = yield {"action": "execute_code", "code": cell, "message": message}
            feedback.append(str(observation.get("feedback", "")))
        self._root_dirty = True
        self._root_node = node.id
        seconds = time.monotonic() - started
        self._cells[node.id], self._scratch_s[node.id] = cells, seconds
        self._counts["nodes_fresh"] += 1
        return self._outcome(observation, feedback, seconds)

    def _in_fork(self, node: Any, parent: Any, cells: list[str]) -> Any:
        """Run the node's own cell in a fork of its parent's kernel; None if no fork could be made."""
        holder = self._branches[parent.id] if parent.id in self._branches else self._env
        try:
            branch = holder.fork()
        except (DojoError, OSError):
            return None
        started = time.monotonic()
        label = self._label(node, parent, f"in a fork of node {parent.step}'s kernel")
        observation, _, terminated, truncated, _ = branch.step(
            {"action": "execute_code", "code": cells[-1], "message": f"{label}: {node.plan}"})
        seconds = time.monotonic() - started
        self._cells[node.id] = cells
        self._scratch_s[node.id] = self._scratch_s.get(parent.id, 0.0) + seconds
        if terminated or truncated:
            branch.close()  # its budget ran out: the state cannot be forked again
        else:
            self._branches[node.id] = branch
        self._counts["nodes_in_forks"] += 1
        return self._outcome(observation, [str(observation.get("feedback", ""))], seconds)

    def _save_root(self) -> None:
        """Before this episode's kernel restarts: keep its node's state in a branch if aide may
        still build on it (fork mode only)."""
        node_id = self._root_node
        self._root_node = None
        if not self.fork or self._env is None or node_id is None or node_id in self._branches:
            return
        node = next(n for n in self.search.journal.nodes if n.id == node_id)
        if self.search.wanted(node):
            try:
                self._branches[node_id] = self._env.fork()
            except (DojoError, OSError):
                self._counts["fork_fallbacks"] += 1

    def _prune(self) -> None:
        """End the branches aide can no longer pick; past max_live_kernels, the oldest buggy ones."""
        nodes = {n.id: n for n in self.search.journal.nodes}
        for node_id in list(self._branches):
            if not self.search.wanted(nodes[node_id]):
                self._drop(node_id)
        best = self.search.journal.get_best_node()
        for node_id in list(self._branches):  # in the order they were made: oldest first
            if len(self._branches) <= self.max_live_kernels:
                break
            if best is None or node_id != best.id:
                self._drop(node_id)

    def _drop(self, node_id: str) -> None:
        branch = self._branches.pop(node_id, None)
        if branch is not None:
            branch.close()

    def _finish(self) -> Steps:
        """The best node's submission becomes this episode's, then the final submit."""
        for node_id in list(self._branches):
            self._drop(node_id)
        best = self.search.journal.get_best_node()
        if best is not None and best.id != self._root_node:
            label = f"AIDE: the best node ({best.step}, {best.metric}) again, from scratch, for the final submission"
            if self._root_dirty:
                yield {"action": "restart_kernel", "message": label}
            for cell in self._cells[best.id]:
                yield {"action": "execute_code", "code": cell, "message": label}
            self._root_dirty, self._root_node = True, best.id
        message = (f"AIDE's best node: {best.step} ({best.metric})" if best is not None
                   else "AIDE found no node without a bug; submitting what there is")
        yield {"action": "submit", "final": True, "message": message}

    # -- budget, bookkeeping, text ----------------------------------------------------------

    def _steps_for(self, node: Any, cells: list[str], in_fork: bool) -> bool:
        """Whether this episode has the steps to run the node here (when it will) and still
        re-run the best node from scratch and submit."""
        left = int(self._last.get("steps_left", -1))
        if left < 0:
            return True
        here = 0 if in_fork else len(cells) + 1
        best = self.search.journal.get_best_node()
        final = 2 + max(len(cells), len(self._cells[best.id]) if best is not None else 0)
        return left >= here + final

    def _time_for_more(self) -> bool:
        left = float(self._last.get("time_left_s", -1.0))
        if left < 0:
            return True
        best = self.search.journal.get_best_node()
        return left > 2 * (self._scratch_s.get(best.id, 0.0) if best is not None else 0.0) + 10.0

    def _note(self, node: Any, parent: Any) -> None:
        stage = "drafts" if parent is None else "debugs" if parent.is_buggy else "improves"
        self._counts[stage] += 1
        self._counts["nodes"] += 1
        self._counts["buggy_nodes"] += int(node.is_buggy)
        best = self.search.journal.get_best_node()
        self._counts["best_node"] = best.step if best is not None else None
        self._counts["best_metric"] = best.metric.value if best is not None else None

    def _outcome(self, observation: Observation, feedback: list[str], seconds: float) -> Any:
        status = CELL_STATUSES[int(observation.get("status", 0))] if observation else "died"
        valid = bool(int(observation.get("graded", 0))) and bool(int(observation.get("valid_submission", 0)))
        score = float(observation["score"]) if valid else None
        return self._aide.Outcome(status=status, feedback=feedback, graded=bool(int(observation.get("graded", 0))),
                                  score=score, seconds=seconds)

    def _label(self, node: Any, parent: Any, where: str) -> str:
        step = len(self.search.journal)
        stage = "draft" if parent is None else (f"debug of node {parent.step}" if parent.is_buggy
                                                else f"improvement of node {parent.step}")
        return f"AIDE node {step} ({stage}), {where}"

    def _task(self, competition: Any, observation: Observation) -> str:
        if competition is None:
            return str(observation.get("feedback", ""))
        from ..feedback import competition_info

        return "\n\n".join(competition_info(competition, kind, "working/submission.csv")
                           for kind in ("overview", "metadata", "output_path"))

    def _chat(self, text: str) -> str:
        """One prompt to the endpoint (aide sends each stage's prompt alone), counted in stats."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": text}],
                                  "temperature": self.search.acfg.code.temp}
        response = self._llm._with_retries(kwargs)
        usage = getattr(response, "usage", None)
        counts = {key: int(getattr(usage, key, 0) or 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
        for key, count in counts.items():
            self._llm.stats[key] += count
        self._llm.stats["cost_usd"] += self._llm._cost(usage, counts)
        choices = getattr(response, "choices", None) or []
        return str(choices[0].message.content or "") if choices else ""

