"""`--agent tree`: a search over notebook states, each node a branch of the episode (a kernel
forked copy-on-write from its parent's), each child a cell that an LLM proposed, evaluated by
running it in a fork; its value is the public score of the submission it leaves.

`policy="best_first"` (default) expands the best-scoring open node; `policy="mcts"` descends
by UCT (tree_policy.py). An expansion asks the model for `children` different cells from
the node's state, forks the node that many times and runs one cell in each. The budget:
`max_nodes` cells proposed, `time_limit_s` of search, and the env's own budget per branch
(max_steps, episode time). At most `max_open` kernels stay alive: a node is closed once
expanded (each node is expanded once), and the least promising open ones are pruned.

At the end the best node's submission is submitted as final (graded on the private split),
every other branch is closed (graded and summarised as any closed episode), and tree.json
beside the run dirs gets a `search` entry per node. The root episode is the one `run_episode`
drives; the agent names the chosen branch in `result_run_dir`, so the episode's summary is
the chosen branch's. Model calls reuse the llm agent (requests, retries, code extraction).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, DojoError, expected
from ..outputs import clip
from ..usage import stats_snapshot, usage_delta
from .base import Action, AgentError, Observation, StepEvent, StopEpisode
from .tree_policy import POLICIES, Node, backpropagate, best_node, priority, select_best_first, select_mcts

SYSTEM_PROMPT = """You are a data scientist improving a Kaggle-style competition notebook by tree search. \
The kernel is persistent: variables of the cells shown survive. The competition's files are in input/ \
(read-only); write predictions to working/submission.csv with the same columns and ids as \
input/sample_submission.csv. Each cell you write runs in its own copy of the kernel at the state shown, \
is graded on the public split, and the best-scoring state is continued. Answer with exactly one cell: \
one ```python fenced block (or an execute_code call). Keep it short and print what you need to see."""

TRIED = "A cell already tried from this state"  # the tests' scripted model counts these


class TreeAgent:
    """Best-first or MCTS search over forks of the episode; see the module docstring.

    LLM options (model, base_url, api_key, use_tools, temperature, max_tokens, max_retries,
    request_timeout_s, client) are the llm agent's.
    """

    name = "tree"

    def __init__(self, *, policy: str = "best_first", max_nodes: int = 12, children: int = 2,
                 time_limit_s: float | None = None, max_open: int = 6, exploration: float = 1.0,
                 max_observation_chars: int = 4_000, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, use_tools: bool = True, temperature: float | None = None,
                 max_tokens: int | None = None, max_retries: int = 5, request_timeout_s: float = 300.0,
                 system_prompt: str | None = None, client: Any = None) -> None:
        from .llm import LLMAgent

        policy = policy.replace("-", "_") if isinstance(policy, str) else policy
        if policy not in POLICIES:
            raise ConfigError(expected(f"policy among {list(POLICIES)}", policy))
        for label, value, least in (("max_nodes", max_nodes, 1), ("children", children, 1), ("max_open", max_open, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(expected(f"an int >= {least} for {label}", value))
        if time_limit_s is not None and (isinstance(time_limit_s, bool) or not isinstance(time_limit_s, (int, float))
                                         or not time_limit_s > 0):
            raise ConfigError(expected("time_limit_s as a number of seconds > 0, or None", time_limit_s))
        if isinstance(exploration, bool) or not isinstance(exploration, (int, float)) or exploration < 0:
            raise ConfigError(expected("exploration (UCT's constant) as a number >= 0", exploration))
        self.policy, self.max_nodes, self.children, self.max_open = policy, max_nodes, children, max_open
        self.time_limit_s, self.exploration = time_limit_s, float(exploration)
        self.max_observation_chars = max_observation_chars
        self.llm = LLMAgent(model=model, base_url=base_url, api_key=api_key, use_tools=use_tools,
                            temperature=temperature, max_tokens=max_tokens, max_retries=max_retries,
                            request_timeout_s=request_timeout_s, max_nudges=1,
                            system_prompt=system_prompt or SYSTEM_PROMPT, client=client,
                            max_observation_chars=max(256, max_observation_chars))
        self.env: Any = None
        self.nodes: list[Node] = []
        self.result_run_dir: str | None = None  # the chosen branch: run_episode reports it
        # run_episode's on_step / on_action, to show each branch's cell as it runs (dojo run's live table)
        self.on_branch_step: Callable[[StepEvent], None] | None = None
        self.on_branch_action: Callable[[int, Action], None] | None = None
        self.task = ""
        self._started = time.monotonic()
        self.stats: dict[str, Any] = {}
        self._reset_stats()

    def _reset_stats(self) -> None:
        # LLM usage is nested under "llm": each proposal's usage is recorded on the branch that
        # ran it, so run_episode must not count it again on the root.
        self.stats = {"policy": self.policy, "nodes": 0, "proposals": 0, "replies_without_code": 0,
                      "expansions": 0, "pruned": 0, "fork_failures": 0, "best_node": None, "best_score": None,
                      "search_s": 0.0, "llm": self.llm.stats}

    # -- the protocol ---------------------------------------------------------------

    def bind_env(self, env: Any) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.llm.bind_env(env)

    def reset(self, observation: Observation) -> None:
        self.task = self._text(observation)
        self.nodes, self.result_run_dir = [], None
        self.llm._reset_stats()
        self._reset_stats()

    def act(self, observation: Observation) -> Action:
        if self.env is None or not callable(getattr(self.env, "fork", None)):
            raise AgentError("the tree agent searches over forks of the env: run it with run_episode "
                             "(dojo run NAME --agent tree), which hands it the env (bind_env)")
        if self.nodes:  # the search ran, and its root was the best node: end with its submission
            return {"action": "submit", "final": True}
        if not self.task:
            self.reset(observation)
        chosen = self.search()
        if chosen.parent is None:
            return {"action": "submit", "final": True,
                    "message": f"tree search ({self.policy}): no branch beat the root"}
        raise StopEpisode  # the chosen branch is submitted and closed; run_episode closes the root

    # -- the search -----------------------------------------------------------------

    def search(self) -> Node:
        env = self.env
        episode = getattr(env, "_episode", None)
        root = Node(0, env=env, run_dir=str(env.run_dir),
                    score=None if episode is None else episode.rewards.best_score)
        root.visits = 1
        self.nodes = [root]
        started = self._started = time.monotonic()
        higher = env.competition.higher_is_better
        chosen = root
        try:
            while self._budget_left(started):
                node = (select_mcts(root, higher, self.exploration) if self.policy == "mcts"
                        else select_best_first(self.nodes, higher))
                if node is None:
                    break
                self._expand(node, started)
                self._close_unneeded(higher)
            chosen = best_node(self.nodes, higher) or root
            self.stats.update(best_node=chosen.id, best_score=chosen.score)
            if chosen is not root and chosen.env is not None and not chosen.terminal:  # a terminal one was graded
                chosen.env.step({"action": "submit", "final": True,
                                 "message": f"tree search ({self.policy}): the best of {len(self.nodes)} nodes"})
            self.result_run_dir = chosen.run_dir if chosen is not root else None
        finally:
            failures = []
            for node in self.nodes[1:]:  # every branch, whatever happened; the root is run_episode's
                try:
                    self._close(node)
                except Exception as error:  # one that fails to close must not leave the others running
                    failures.append(error)
            self.stats["search_s"] = round(time.monotonic() - started, 3)
            self._note_tree(chosen)
            if failures and sys.exc_info()[1] is None:  # never hide the error that ended the search
                raise failures[0]
        return chosen

    def _budget_left(self, started: float) -> bool:
        if self.stats["proposals"] >= self.max_nodes:
            return False
        return self.time_limit_s is None or time.monotonic() - started < self.time_limit_s

    def _expand(self, node: Node, started: float) -> None:
        node.expanded = True
        self.stats["expansions"] += 1
        proposals: list[tuple[str, str | None, dict[str, Any]]] = []
        for _ in range(self.children):
            if not self._budget_left(started):
                break
            proposal = self._propose(node, [code for code, _, _ in proposals])
            if proposal is not None:
                proposals.append(proposal)
        if not proposals:
            return
        try:
            forks = node.env.fork(len(proposals))
        except DojoError as error:  # e.g. a kernel holding a GPU: this node cannot branch
            if node.parent is None:
                raise AgentError(f"the tree agent forks the episode, and its kernel cannot fork: {error}") from None
            self.stats["fork_failures"] += 1
            self.stats["last_fork_error"] = str(error)[:300]
            node.terminal = True
            return
        for (code, message, usage), branch in zip(proposals, forks):
            self._evaluate(node, branch, code, message, usage)

    def _evaluate(self, parent: Node, branch: Any, code: str, message: str | None, usage: dict[str, Any]) -> None:
        child = Node(len(self.nodes), parent=parent, code=code, env=branch, run_dir=str(branch.run_dir),
                     score=parent.score)
        parent.children.append(child)
        self.nodes.append(child)
        self.stats["nodes"] += 1
        if usage:
            branch.record_usage(**usage)
        action: dict[str, Any] = {"action": "execute_code", "code": code}
        if message:
            action["message"] = message
        if self.on_branch_action is not None:
            self.on_branch_action(child.id, action)
        observation, reward, terminated, truncated, info = branch.step(action)
        if self.on_branch_step is not None:
            self.on_branch_step(StepEvent(child.id, action, observation, float(reward or 0.0), bool(terminated),
                                          bool(truncated), info, float(reward or 0.0), time.monotonic() - self._started))
        child.feedback = self._text(observation)
        child.status = info.get("status")
        if info.get("grade") is not None:  # the cell wrote a submission: its grade is the node's
            child.score = info.get("score")
        elif terminated or truncated:  # the budget ended the branch: its files are being settled
            pass
        elif not branch._submission_path().exists():  # the cell removed the inherited one
            child.score = None
        child.terminal = bool(terminated or truncated)
        backpropagate(child, child.score)

    def _propose(self, node: Node, tried: list[str]) -> tuple[str, str | None, dict[str, Any]] | None:
        """A cell from the model for `node`'s state: (code, its prose, the usage it cost)."""
        self.stats["proposals"] += 1
        history: list[dict[str, Any]] = [{"role": "user", "content": self.task}]
        for step in node.path()[1:]:
            history.append({"role": "assistant", "content": f"```python\n{step.code}\n```"})
            history.append({"role": "user", "content": clip(step.feedback, self.max_observation_chars)})
        ask = self._ask(node, tried)
        if len(history) > 1:
            history[-1] = {"role": "user", "content": history[-1]["content"] + "\n\n" + ask}
        else:
            history.append({"role": "user", "content": ask})
        self.llm.history = history
        self.llm._pending_tool_call = None
        before = stats_snapshot(self.llm.stats)
        action = self.llm.act({})
        usage = usage_delta(before, stats_snapshot(self.llm.stats))
        code = action.get("code") if isinstance(action, dict) else action
        if not isinstance(code, str) or not code.strip() or (
                isinstance(action, dict) and action.get("action") not in ("execute_code", "validate_code")):
            self.stats["replies_without_code"] += 1
            return None
        message = action.get("message") if isinstance(action, dict) else None
        return code, message if isinstance(message, str) else None, usage

    def _ask(self, node: Node, tried: list[str]) -> str:
        best = best_node(self.nodes, self.env.competition.higher_is_better)
        lines = [f"Search node {node.id} (depth {node.depth}). The submission in working/ here scores "
                 f"{'nothing yet' if node.score is None else f'{node.score:.6g}'} on the public split"
                 + (f"; the best node so far scores {best.score:.6g}." if best is not None else ".")
                 + " Write the next cell: one ```python block that improves the public score."]
        for index, code in enumerate(tried, start=1):
            lines.append(f"{TRIED} ({index}); write a different one:\n```python\n{code}\n```")
        return "\n\n".join(lines)

    # -- kernels --------------------------------------------------------------------

    def _close_unneeded(self, higher: bool | None) -> None:
        """Close what can no longer be expanded; then, past max_open, prune the least promising."""
        best = best_node(self.nodes, higher)
        for node in self.nodes[1:]:
            if node.env is not None and not node.expandable and node is not best:
                self._close(node)
        open_nodes = [n for n in self.nodes[1:] if n.env is not None and n is not best]
        excess = len(open_nodes) + 1 + (best is not None and best.parent is not None) - self.max_open
        for node in sorted(open_nodes, key=lambda n: priority(n, higher))[:max(0, excess)]:
            self._close(node)
            self.stats["pruned"] += 1

    def _close(self, node: Node) -> None:
        if node.env is not None:
            env, node.env = node.env, None
            env.close()

    def _note_tree(self, chosen: Node) -> None:
        """Each node's place in the search, into tree.json beside the run dirs."""
        from pathlib import Path

        from ..branching import update_tree

        by_name = {Path(n.run_dir).name: n for n in self.nodes if n.run_dir}

        def change(nodes: dict[str, Any]) -> None:
            for name, node in by_name.items():
                if name in nodes:
                    nodes[name]["search"] = {"policy": self.policy, "node": node.id, "score": node.score,
                                             "status": node.status, "visits": node.visits,
                                             "expanded": node.expanded, "chosen": node is chosen}
        if len(self.nodes) > 1:
            update_tree(self.env.output_dir, change)

    def _text(self, observation: Any) -> str:
        text = observation.get("feedback") if isinstance(observation, dict) else observation
        return clip(str(text if text is not None else ""), self.max_observation_chars)
