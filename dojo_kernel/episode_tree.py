"""The episode tree (tree.json beside forked run dirs) read back for `dojo report`, and drawn:
in the terminal as a rich Tree, in the HTML page as nested lists, each node with its score.

tree.json sits in a folder that agent code and other people write beside, so it is untrusted:
- it is read only as a regular file, never through a link or from a FIFO, at most MAX_BYTES;
- JSON that does not parse or has the wrong shape raises TreeProblem ("expected X, got Y");
  a node of the wrong shape is left out, with a note;
- a parent that is missing makes the node a root, and a cycle of parents is cut, each with a
  note; at most MAX_DRAWN nodes and MAX_DEPTH levels are drawn, the rest are counted;
- names and fields are text: shown with control characters escaped (terminal) or HTML-escaped,
  never as markup; a node's name is joined to the tree's folder only to link a run dir that
  `dojo report` itself found there.
"""

from __future__ import annotations

import html
import json
import math
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .branching import TREE_FILE
from .errors import ConfigError
from .printable import printable

MAX_BYTES = 16 * 1024 * 1024
MAX_DRAWN = 400
MAX_DEPTH = 40
MAX_NAME = 120


class TreeProblem(ConfigError):
    """A tree.json that cannot be read as an episode tree; the message says what and how to fix it."""


@dataclass
class TreeNode:
    name: str
    fields: dict[str, Any]
    parent: str | None = None

    def label(self) -> str:
        """One line of plain text: the run dir's name, where it forked, its scores and how it ended."""
        f, search = self.fields, self.fields.get("search")
        search = search if isinstance(search, dict) else {}
        parts = [_clip(self.name)]
        if _int(search.get("node")) is not None:
            parts.append(f"node {_int(search.get('node'))}")
        if _int(f.get("fork_step")) is not None:
            parts.append(f"forked at step {_int(f.get('fork_step'))}")
        if _int(f.get("steps")) is not None:
            parts.append(f"{_int(f.get('steps'))} steps")
        if "score" in search:
            parts.append(f"score {_fmt(search.get('score'))}")
        parts.append(f"best {_fmt(f.get('best_score'))}")
        if f.get("final_score") is not None:
            parts.append(f"final {_fmt(f.get('final_score'))} (private)")
        if isinstance(f.get("end_reason"), str):
            parts.append(_clip(f["end_reason"], 40))
        if search.get("chosen") is True:
            parts.append("CHOSEN")
        return printable("  ".join(parts), newlines=False)

    @property
    def chosen(self) -> bool:
        search = self.fields.get("search")
        return isinstance(search, dict) and search.get("chosen") is True


@dataclass
class EpisodeTree:
    path: Path  # the tree.json
    nodes: dict[str, TreeNode]
    children: dict[str, list[str]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.path.parent


def find_trees(runs_root: Path, run_dirs: Iterable[Path]) -> list[Path]:
    """The tree.json files of `runs_root` and of the folders holding its run dirs (found by
    `find_run_dirs`, which follows no links), sorted; a link named tree.json is not one."""
    folders = {Path(runs_root), *(Path(run).parent for run in run_dirs)}
    return sorted(folder / TREE_FILE for folder in folders if (folder / TREE_FILE).exists()
                  or (folder / TREE_FILE).is_symlink())


def read_tree_file(path: Path) -> EpisodeTree:
    """tree.json read as untrusted input (see the module docstring); raises TreeProblem."""
    data = _read_bytes(path)
    try:
        tree = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise TreeProblem(_expected(f"{path} to be tree.json as the env writes it", "JSON nested too deeply")) from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TreeProblem(_expected(f"valid JSON in {path}", f"{type(error).__name__}: {_clip(str(error), 200)}",
                                   "it is rewritten at the next fork; delete it to drop the tree")) from None
    nodes = tree.get("nodes") if isinstance(tree, dict) else None
    if not isinstance(nodes, dict):
        raise TreeProblem(_expected(f"{path} to hold an object with \"nodes\": {{run dir name: {{parent, ...}}}}",
                                   _kind(nodes if isinstance(tree, dict) else tree)))
    episode_tree = EpisodeTree(path, {})
    bad = 0
    for name, fields in nodes.items():
        parent = fields.get("parent") if isinstance(fields, dict) else None
        if not isinstance(fields, dict) or not isinstance(parent, (str, type(None))):
            bad += 1
            continue
        episode_tree.nodes[name] = TreeNode(name, fields, parent)
    if bad:
        episode_tree.notes.append(f"{bad} node(s) left out: expected an object with \"parent\" a run dir name or null")
    _link(episode_tree)
    return episode_tree


def _read_bytes(path: Path) -> bytes:
    if path.is_symlink():
        raise TreeProblem(_expected(f"{path} to be a regular file", "a link (links are not followed)"))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise TreeProblem(_expected(f"{path} to be a readable file (not a link)", error.strerror or str(error))) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise TreeProblem(_expected(f"{path} to be a regular file", "something else (a FIFO, a device, a folder)"))
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise TreeProblem(_expected(f"{path} of at most {MAX_BYTES // 2**20} MiB", "a larger file"))
    return data


def _link(tree: EpisodeTree) -> None:
    """Children lists and roots; a missing parent makes a root, a cycle is cut (noted)."""
    nodes = tree.nodes
    for name in sorted(nodes):
        parent = nodes[name].parent
        if parent is not None and parent in nodes and parent != name:
            tree.children.setdefault(parent, []).append(name)
        else:
            if parent is not None:
                tree.notes.append(f"{_clip(name)}: its parent {_clip(parent)} is "
                                  f"{'itself' if parent == name else 'not in the tree'}; drawn as a root")
            tree.roots.append(name)
    reached = set(_walk_names(tree, tree.roots))
    for name in sorted(nodes):  # what no root reaches hangs in a cycle of parents: cut it there
        if name not in reached:
            tree.notes.append(f"{_clip(name)}: its parents form a cycle; drawn as a root")
            tree.roots.append(name)
            reached.update(_walk_names(tree, [name]))


def _walk_names(tree: EpisodeTree, starts: list[str]) -> list[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(tree.children.get(name, ()))
    return list(seen)


def walk(tree: EpisodeTree) -> tuple[list[tuple[int, str]], int]:
    """(depth, name) in drawing order, each node once, capped; and how many were not drawn."""
    drawn: list[tuple[int, str]] = []
    seen: set[str] = set()
    stack = [(0, name) for name in reversed(tree.roots)]
    while stack:
        depth, name = stack.pop()
        if name in seen or len(drawn) >= MAX_DRAWN or depth >= MAX_DEPTH:
            continue
        seen.add(name)
        drawn.append((depth, name))
        stack.extend((depth + 1, child) for child in reversed(tree.children.get(name, [])))
    return drawn, len(tree.nodes) - len(drawn)


def rich_tree(tree: EpisodeTree) -> Any:
    """A rich Tree of `tree`: labels are Text, never read as markup."""
    from rich.text import Text
    from rich.tree import Tree

    top = Tree(Text(f"episode tree: {printable(tree.path, newlines=False)} ({len(tree.nodes)} episodes)"))
    branches: dict[int, Any] = {-1: top}
    drawn, hidden = walk(tree)
    for depth, name in drawn:
        node = tree.nodes[name]
        branches[depth] = branches[depth - 1].add(Text(node.label(), style="bold green" if node.chosen else ""))
    if hidden:
        top.add(Text(f"... {hidden} more episode(s) not drawn (at most {MAX_DRAWN}, {MAX_DEPTH} levels deep)"))
    for note in tree.notes[:20]:
        top.add(Text(f"note: {printable(note, newlines=False)}", style="yellow"))
    return top


def html_tree(tree: EpisodeTree, links: dict[str, str]) -> str:
    """Nested lists, everything escaped; `links` maps a node's name to an anchor on the page."""
    parts = [f"<p class='muted'>{_e(str(tree.path))}: {len(tree.nodes)} episode(s)</p>", "<ul class='tree'>"]
    drawn, hidden = walk(tree)
    depth_now = 0
    for index, (depth, name) in enumerate(drawn):  # depth grows by at most one from node to node
        if index and depth <= depth_now:
            parts.append("</li>")
        while depth < depth_now:
            parts.append("</ul></li>")
            depth_now -= 1
        if depth > depth_now:
            parts.append("<ul>")
            depth_now = depth
        node = tree.nodes[name]
        label = _e(node.label())
        if name in links:
            label = f"<a href='#{_e(links[name])}'>{label}</a>"
        parts.append(f"<li class='{'chosen' if node.chosen else ''}'>{label}")
    if drawn:
        parts.append("</li>" + "</ul></li>" * depth_now)
    parts.append("</ul>")
    if hidden:
        parts.append(f"<p class='muted'>... {hidden} more episode(s) not drawn (at most {MAX_DRAWN}, "
                     f"{MAX_DEPTH} levels deep)</p>")
    parts += [f"<p class='muted'>note: {_e(printable(note))}</p>" for note in tree.notes[:20]]
    return "\n".join(parts)


# -- helpers -------------------------------------------------------------------------------------

def _expected(what: str, got: str, fix: str | None = None) -> str:
    """The house style ("expected X, got Y. FIX"), with Y given in words rather than as a value."""
    return f"expected {what}, got {got}" + (f". {fix}" if fix else "")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _clip(text: str, limit: int = MAX_NAME) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return "-"
    return f"{number:.4g}" if math.isfinite(number) else "-"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", type(None): "nothing"}.get(type(value), type(value).__name__)
