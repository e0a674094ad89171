"""The tree search's nodes, and its two ways of choosing which node to expand next.

- best-first: the open node whose submission scores best on the public split (aira-dojo's
  greedy search); among nodes with no score yet, one whose cell ran cleanly, deepest first.
- MCTS: from the root down, the child with the highest UCT value (mean normalised score of
  its subtree plus an exploration bonus), until a node that can still be expanded.

Pure bookkeeping, no kernels: tree.py owns the envs. Every node is expanded at most once
(all its children at once), so only unexpanded nodes, and the best one, need a kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..metrics.registry import is_better

POLICIES = ("best_first", "mcts")


@dataclass(eq=False)
class Node:
    """One notebook state: the root episode, or a branch that ran one proposed cell."""

    id: int
    parent: Node | None = None
    code: str | None = None  # the cell that made this node from its parent (None for the root)
    feedback: str = ""  # what the env answered that cell
    status: str | None = None  # the cell's status (ok, error, timeout, ...); None for the root
    score: float | None = None  # public score of the submission in this node's working/ (None: none valid)
    env: Any = None  # its DojoEnv while the kernel is open
    run_dir: str | None = None
    expanded: bool = False
    terminal: bool = False  # its episode ended (a budget ran out): it cannot be forked
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    score_sum: float = 0.0  # raw scores backed up through this node (MCTS)
    scored: int = 0  # how many backed-up evaluations had a score

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def path(self) -> list[Node]:
        """The nodes from the root down to this one."""
        nodes, node = [], self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    @property
    def expandable(self) -> bool:
        return self.env is not None and not self.expanded and not self.terminal


def subtree(node: Node) -> Iterable[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def priority(node: Node, higher_is_better: bool | None) -> tuple:
    """Best-first order (larger first): scored before unscored, then the better score; a
    clean cell before a failed one; deeper first (progress along a line); older first."""
    score = node.score
    oriented = 0.0 if score is None else (-score if higher_is_better is False else score)
    return (score is not None, oriented, node.status in (None, "ok"), node.depth, -node.id)


def best_node(nodes: Iterable[Node], higher_is_better: bool | None) -> Node | None:
    """The node with the best score (the first to reach it on ties); None if none has one."""
    best: Node | None = None
    for node in sorted(nodes, key=lambda n: n.id):
        if node.score is not None and (best is None or is_better(node.score, best.score, higher_is_better)):
            best = node
    return best


def select_best_first(nodes: Iterable[Node], higher_is_better: bool | None) -> Node | None:
    candidates = [node for node in nodes if node.expandable]
    return max(candidates, key=lambda n: priority(n, higher_is_better)) if candidates else None


def backpropagate(node: Node, score: float | None) -> None:
    for ancestor in node.path():
        ancestor.visits += 1
        if score is not None:
            ancestor.score_sum += score
            ancestor.scored += 1


def _has_expandable(node: Node) -> bool:
    return any(n.expandable for n in subtree(node))


def mean_value(node: Node, low: float, high: float, higher_is_better: bool | None) -> float:
    """The node's mean backed-up score, scaled so the worst score seen is 0 and the best 1;
    an evaluation without a score (a failed cell) counts 0."""
    if node.visits == 0:
        return 0.0
    if high <= low:
        return node.scored / node.visits
    total = node.score_sum - node.scored * low
    if higher_is_better is False:
        total = node.scored * high - node.score_sum
    return total / (high - low) / node.visits


def select_mcts(root: Node, higher_is_better: bool | None, exploration: float) -> Node | None:
    """Descend from the root by UCT through subtrees that still hold an expandable node."""
    scores = [n.score for n in subtree(root) if n.score is not None]
    low, high = (min(scores), max(scores)) if scores else (0.0, 0.0)
    node = root
    while not node.expandable:
        alive = [child for child in node.children if _has_expandable(child)]
        if not alive:
            return None
        log_visits = math.log(max(node.visits, 1))
        node = max(alive, key=lambda child: (
            mean_value(child, low, high, higher_is_better)
            + exploration * math.sqrt(log_visits / max(child.visits, 1)), -child.id))  # noqa: B023 (used at once)
    return node
