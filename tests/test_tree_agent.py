"""`--agent tree`: best-first and MCTS search over forks of a real episode on the tiny
competition, with a scripted model that proposes better and worse cells depending on the
state it is shown; and the selection rules on their own."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("openai", reason="the tree agent asks its model through the 'llm' extra (pip install 'dojo-kernel[llm]')")

import dojo_kernel  # noqa: E402
from chat_server import ChatServer, completion  # noqa: E402
from conftest import assert_nothing_left  # noqa: E402
from dojo_kernel.agents import AgentError, get_agent, run_episode  # noqa: E402
from dojo_kernel.agents.tree import TRIED  # noqa: E402
from dojo_kernel.agents.tree_policy import Node, backpropagate, best_node, select_best_first, select_mcts  # noqa: E402
from dojo_kernel.branching import read_tree  # noqa: E402
from dojo_kernel.cli import main  # noqa: E402
from dojo_kernel.errors import ConfigError  # noqa: E402
from dojo_kernel.leaderboard import agent_table, read_runs  # noqa: E402
from dojo_kernel.rundir import read_summary  # noqa: E402
from tiny_competition import build  # noqa: E402

pytestmark = pytest.mark.timeout(240)

# Public accuracy of "label = x >= T" on the tiny competition: T=50 is perfect, and the score
# falls as T moves away (90: 0.65, 70: 0.85, 60: 0.9, 45: 0.95, 95: 0.6).
NEXT = {None: (90, 70), 90: (95, 101), 70: (60, "bug"), 60: (50, 45)}


def threshold_cell(threshold) -> str:
    if threshold == "bug":
        return "raise ValueError('a bad idea')"
    return ("import pandas as pd\ntest = pd.read_csv('input/test.csv')\n"
            f"threshold = {threshold}\ntest['label'] = (test.x >= threshold).astype(int)\n"
            "test[['id', 'label']].to_csv('working/submission.csv', index=False)\n")


def scripted_model(tool_calls: bool):
    """Answers as a model would: a threshold one step from the last one on the path it is
    shown, a different one for each cell already tried from that state."""
    def answer(body):
        messages = body["messages"]
        shown = [int(t) for m in messages if m["role"] == "assistant"
                 for t in re.findall(r"threshold = (\d+)", m.get("content") or "")]
        current = shown[-1] if shown else None
        tried = (messages[-1].get("content") or "").count(TRIED)
        options = NEXT.get(current, (current + 5 if current else 50, current + 7 if current else 55))
        code = threshold_cell(options[min(tried, len(options) - 1)])
        if tool_calls:
            return completion(content="Trying a threshold.", tool_call=("execute_code", {"code": code}))
        return completion(content=f"Trying a threshold.\n```python\n{code}```")
    return answer


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return build(tmp_path_factory.mktemp("competitions"), name="tiny-tree")


def _run(competition, tmp_path, server, *options, quiet=True, flags=()):
    out = tmp_path / "runs"
    summary_file = tmp_path / "summary.json"
    code = main(["run", competition.name, "--agent", "tree", "--base-url", server.base_url, "--model", "scripted",
                 "--out", str(out), "--isolation", "none", *(["--quiet"] if quiet else []), "--json", str(summary_file), *flags,
                 *[arg for option in options for arg in ("--agent-option", option)]])
    assert code == 0
    return out / competition.name, json.loads(summary_file.read_text())


def test_best_first_expands_the_best_node_and_ends_with_it(competition, tmp_path, capsys):
    with ChatServer(scripted_model(tool_calls=False)) as server:
        output_dir, summary = _run(competition, tmp_path, server, "max_nodes=6", "children=2")
    nodes = read_tree(output_dir)["nodes"]
    assert len(nodes) == 7, nodes  # the root and six branches, each its own run dir
    search = {name: node["search"] for name, node in nodes.items()}
    by_id = {entry["node"]: name for name, entry in search.items()}
    scores = {entry["node"]: entry["score"] for entry in search.values()}
    assert scores == {0: None, 1: 0.65, 2: 0.85, 3: 0.9, 4: 0.85, 5: 1.0, 6: 0.95}
    # Best-first: the root, then the better child (0.85, not 0.65), then its best child.
    expanded = sorted(entry["node"] for entry in search.values() if entry["expanded"])
    assert expanded == [0, 2, 3]
    parents = {entry["node"]: nodes[name]["parent"] for name, entry in search.items()}
    assert parents[5] == by_id[3] and parents[3] == by_id[2] and parents[2] == by_id[0]
    assert search[by_id[4]]["status"] == "error"
    assert [entry["node"] for entry in search.values() if entry["chosen"]] == [5]

    # The episode's result is the chosen branch, submitted as final and graded on the private split.
    chosen = output_dir / by_id[5]
    assert summary["run_dir"] == str(chosen) and summary["stopped_by"] == "final_submit"
    assert summary["final_score"] == 1.0 and summary["best_score"] == 1.0
    assert read_summary(chosen)["end_reason"] == "final_submit"
    assert summary["agent_stats"]["nodes"] == 6 and summary["agent_stats"]["llm"]["requests"] == 6
    for name in nodes:  # every node left a finished record, the root (forked at step 0) too
        assert read_summary(output_dir / name).get("end_reason") in ("final_submit", "close"), name
    assert nodes[by_id[5]]["final_score"] == 1.0
    # Each proposal's tokens are recorded on the branch that ran it, once.
    assert read_summary(chosen)["usage"]["total_tokens"] == 18
    assert read_summary(output_dir / by_id[0])["usage"] == {}
    assert_nothing_left(tmp_path)

    # dojo report draws the tree: every node under its parent, with its score; the chosen one marked.
    capsys.readouterr()
    assert main(["report", str(output_dir), "--out", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    rows = {int(re.search(r"node (\d+)", line).group(1)): line for line in out.splitlines() if "  node " in line}
    assert sorted(rows) == list(range(7))
    indent = {node: len(line) - len(line.lstrip(" │├└─")) for node, line in rows.items()}
    assert indent[1] == indent[2] > indent[0] and indent[5] == indent[6] > indent[3] > indent[2]
    assert "score 1  " in rows[5] and "final 1 (private)" in rows[5] and "CHOSEN" in rows[5]
    assert "score 0.65" in rows[1] and "CHOSEN" not in rows[1] and "score -" in rows[0]
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<li") == 7 and page.count("<li class='chosen'><a href='#run-") == 1
    # In per-agent totals the search is one run, whose result is the chosen branch's; its tokens all count.
    [row] = agent_table(read_runs([output_dir]))
    assert (row["runs"], row["valid_rate"], row["tokens"]) == (1, 1.0, sum(
        read_summary(output_dir / name)["usage"].get("total_tokens", 0) for name in nodes))

    # The chosen branch, three forks deep, replays from the root: its inherited cells, then its own.
    assert main(["replay", str(chosen), "--isolation", "none"]) == 0
    assert "3 of 3 cells agree; replay AGREES" in capsys.readouterr().out


def test_mcts_with_tool_calls_few_kernels_and_a_step_budget(competition, tmp_path, capsys):
    with ChatServer(scripted_model(tool_calls=True)) as server:
        output_dir, summary = _run(competition, tmp_path, server, "policy='mcts'", "max_nodes=4", "children=2",
                                   "max_open=2", "exploration=0.5", quiet=False, flags=("--max-steps", "2"))
    # dojo run's live table shows each branch's cell as it runs, by node number.
    rows = [line for line in capsys.readouterr().out.splitlines() if "execute_code" in line]
    assert [int(line.strip("│ ").split()[0]) for line in rows] == [1, 2, 3, 4], rows
    stats = summary["agent_stats"]
    nodes = read_tree(output_dir)["nodes"]
    assert stats["policy"] == "mcts" and stats["nodes"] == 4 and stats["pruned"] >= 1
    chosen = [node for node in nodes.values() if node["search"]["chosen"]]
    assert len(chosen) == 1 and chosen[0]["search"]["score"] == summary["best_score"] == stats["best_score"]
    assert summary["best_score"] == max(node["search"]["score"] or 0 for node in nodes.values()) == 0.9
    # The best branch reached the env's step budget (its second cell): it ended there and was graded then.
    assert summary["stopped_by"] == "max_steps" and summary["final_score"] == 0.9
    assert nodes[next(iter(n for n in nodes if nodes[n]["parent"] is None))]["search"]["visits"] == 5
    assert_nothing_left(tmp_path)


def test_a_model_that_fails_mid_search_leaves_a_record_and_no_kernel(competition, tmp_path):
    good = [(200, completion(content=f"```python\n{threshold_cell(t)}```")) for t in (90, 70)]
    with ChatServer([*good, (400, {"error": {"message": "no such model"}})]) as server:
        env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
        agent = get_agent("tree", model="m", base_url=server.base_url, max_retries=0)
        with pytest.raises(AgentError, match="HTTP 400"):
            run_episode(env, agent)
    nodes = read_tree(tmp_path / "runs")["nodes"]
    assert len(nodes) == 3 and sorted(node["search"]["score"] or 0 for node in nodes.values()) == [0, 0.65, 0.85]
    assert all(read_summary(tmp_path / "runs" / name).get("end_reason") == "close" for name in nodes)
    assert_nothing_left(tmp_path)


def test_without_time_left_the_root_is_the_result(competition, tmp_path):
    with ChatServer([]) as server:
        env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
        summary = run_episode(env, get_agent("tree", model="m", base_url=server.base_url, time_limit_s=1e-9))
    assert server.requests == [] and summary["agent_stats"]["proposals"] == 0
    assert summary["run_dir"] == str(env.run_dir) and summary["stopped_by"] == "final_submit"
    assert not (tmp_path / "runs" / "tree.json").exists()
    assert_nothing_left(tmp_path)


def test_options_are_checked():
    for bad in ({"policy": "random"}, {"max_nodes": 0}, {"children": 1.5}, {"time_limit_s": -1},
                {"exploration": -0.1}, {"max_open": True}):
        with pytest.raises(ConfigError, match="expected"):
            get_agent("tree", model="m", base_url="http://127.0.0.1:9/v1", **bad)


def _tree(scores: dict[int, tuple[int | None, float | None]]) -> list[Node]:
    nodes: dict[int, Node] = {}
    for node_id, (parent, score) in sorted(scores.items()):
        node = Node(node_id, parent=nodes.get(parent), score=score, env=object(), status="ok")
        if node.parent is not None:
            node.parent.children.append(node)
            node.parent.expanded = True
        nodes[node_id] = node
        backpropagate(node, score)
    return list(nodes.values())


def test_selection_rules_follow_the_score_direction():
    nodes = _tree({0: (None, None), 1: (0, 0.3), 2: (0, 0.7), 3: (1, 0.9)})
    assert select_best_first(nodes, True).id == 3 and select_best_first(nodes, False).id == 2
    assert best_node(nodes, True).id == 3 and best_node(nodes, False).id == 1
    nodes[3].env = None  # a pruned node is not expanded again
    assert select_best_first(nodes, True).id == 2
    # UCT without exploration follows the mean score below each child of the root.
    nodes = _tree({0: (None, None), 1: (0, 0.2), 2: (0, 0.6), 3: (1, 0.3), 4: (2, 0.5)})
    assert select_mcts(nodes[0], True, exploration=0.0).id == 4
    assert select_mcts(nodes[0], False, exploration=0.0).id == 3
    for node in nodes:
        node.expanded = True
    assert select_mcts(nodes[0], True, exploration=1.0) is None  # nothing left to expand


def test_a_root_that_cannot_fork_is_a_clear_agent_error(competition, tmp_path):
    with ChatServer(scripted_model(tool_calls=False)) as server:
        env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
        try:
            observation, _ = env.reset()
            # What torch reports once it has made a CUDA context: such a kernel refuses to fork.
            env.step("import sys, types\nsys.modules['torch'] = "
                     "types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))")
            agent = get_agent("tree", model="m", base_url=server.base_url)
            agent.bind_env(env)
            agent.reset(observation)
            with pytest.raises(AgentError, match="its kernel cannot fork: .*CUDA"):
                agent.act(observation)
            assert "still fine" in env.step("print('still fine')")[0]["feedback"]
        finally:
            env.close()
    assert_nothing_left(tmp_path)
