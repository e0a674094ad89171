"""Branch runs (DojoEnv.fork) in results: listed per run with their parent, never counted in
per-agent totals; told apart by summary.json, else by inherited reward lines; files untrusted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import dojo_kernel
from dojo_kernel.cli import main
from dojo_kernel.leaderboard import agent_table, read_run, read_runs, run_rows, uncounted_note
from dojo_kernel.report import load_run, summary_rows, write_report
from test_report import make_run
from tiny_competition import build, submission_code

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def forked_runs(tmp_path_factory):
    """A real episode of agent 'searcher' forked after its first step; the branch steps and
    submits; both closed. Returns (runs dir, root run dir, branch run dir)."""
    root = tmp_path_factory.mktemp("forked")
    competition = build(root / "data", name="tiny-branch-runs")
    env = dojo_kernel.make(competition.name, output_dir=root / "runs", agent="searcher", isolation="none",
                           warm_pool=0, max_steps=6)
    branch = None
    try:
        env.reset(seed=1)
        env.step("import pandas as pd\ntest = pd.read_csv('input/test.csv')")
        branch = env.fork()
        _, reward, *_ = branch.step(submission_code("perfect"))
        assert reward > 0
        branch.step({"action": "submit", "final": True})
    finally:
        if branch is not None:
            branch.close()
        env.close()
    assert branch is not None and env.run_dir is not None and branch.run_dir is not None
    return root / "runs", env.run_dir, branch.run_dir


def test_a_branch_summary_names_its_parent_and_the_leaderboard_counts_the_root_only(forked_runs, tmp_path, capsys):
    runs_dir, root, branch = forked_runs
    branch_summary = json.loads((branch / "summary.json").read_text())
    assert branch_summary["branch"] == {"parent_run_dir": root.name, "fork_step": 1}  # a name, not a host path
    assert json.loads((root / "summary.json").read_text())["branch"] is None

    agents_csv, runs_csv = tmp_path / "agents.csv", tmp_path / "runs.csv"
    assert main(["leaderboard", str(runs_dir), "--csv", str(agents_csv), "--runs-csv", str(runs_csv)]) == 0
    printed = capsys.readouterr().out
    assert "1 branch run(s) (forks inside an episode)" in printed and "not counted" in printed
    with open(runs_csv, newline="") as file:
        rows = {Path(row["run"]).name: row for row in csv.DictReader(file)}
    assert set(rows) == {root.name, branch.name}  # both runs listed...
    assert rows[branch.name]["branch_of"] == root.name and rows[root.name]["branch_of"] == ""
    assert (rows[root.name]["counted"], rows[branch.name]["counted"]) == ("True", "False")
    assert rows[branch.name]["final_score"] == "1"  # the branch's own final submission
    with open(agents_csv, newline="") as file:
        agents = list(csv.DictReader(file))
    assert [(row["agent"], row["runs"]) for row in agents] == [("searcher", "1")]  # ...one counted
    assert agents[0]["medal_rate"] == "0"  # the root's numbers, not the branch's gold


def test_dojo_report_marks_the_branch(forked_runs, tmp_path):
    runs_dir, root, branch = forked_runs
    rows = {row["run"]: row for row in summary_rows([load_run(root), load_run(branch)])}
    assert rows[branch.name]["branch"] == f"branch of {root.name} at step 1" and rows[root.name]["branch"] == "-"
    text = write_report(runs_dir, tmp_path / "report").read_text()
    assert f"branch of {root.name} at step 1" in text
    assert "1 branch run(s) (forks inside an episode) are listed, not counted" in text
    agents_table = text.split("id='agents-table'")[1].split("</table>")[0]
    assert "<td>1</td>" in agents_table.replace(" class='text'", "")  # runs: 1


def test_an_older_or_running_branch_is_told_by_its_inherited_lines(forked_runs, tmp_path):
    import shutil

    runs_dir, root, branch = forked_runs
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy, symlinks=True)
    older = copy / branch.name
    summary = json.loads((older / "summary.json").read_text())
    del summary["branch"]  # as an episode summarised before summaries said so
    (older / "summary.json").write_text(json.dumps(summary))
    result = read_run(older)
    assert result.branch_of == root.name and result.branch is not None and result.branch.fork_step == 1
    (older / "summary.json").unlink()  # still running
    assert read_run(older).branch_of == root.name
    (copy / "tree.json").unlink()  # nothing names the parent: still a branch, parent unknown
    assert read_run(older).branch_of == "?"
    assert [row["runs"] for row in agent_table(read_runs([copy]))] == [1]


@pytest.mark.parametrize("branch", ["x", {"parent_run_dir": 5, "fork_step": 1}, {"parent_run_dir": "p"},
                                    {"parent_run_dir": "../elsewhere", "fork_step": 2},
                                    {"parent_run_dir": "p", "fork_step": True}, ["p", 1], None])
def test_a_hostile_branch_field_reads_as_a_root(tmp_path, branch, capsys):
    steps = [{"step": 1, "action": "execute_code", "reward": 0.0, "inherited": "yes"},
             {"step": 2, "action": "execute_code", "reward": 0.5, "inherited": 1}]
    run = make_run(tmp_path / "runs", "r", steps, {"agent": "a", "competition": "c", "branch": branch})
    assert read_run(run).branch is None and load_run(run).branch is None
    assert [row["runs"] for row in agent_table(read_runs([tmp_path / "runs"]))] == [1]
    assert main(["leaderboard", str(tmp_path / "runs"), "--csv", str(tmp_path / "agents.csv")]) == 0
    assert "not counted" not in capsys.readouterr().out


def test_a_bad_branch_field_falls_back_to_the_reward_log(tmp_path):
    steps = [{"step": 1, "action": "execute_code", "reward": 0.0, "inherited": True},
             {"step": 2, "action": "execute_code", "reward": 0.5}]
    runs = tmp_path / "runs"
    make_run(runs, "root", steps[1:], {"agent": "a", "competition": "c"})
    run = make_run(runs, "fork", steps, {"agent": "a", "competition": "c", "branch": {"parent_run_dir": 5}})
    (runs / "tree.json").write_text(json.dumps({"nodes": {"fork": {"parent": ["not", "a", "name"]}}}))
    result = read_run(run)
    assert result.branch is not None and (result.branch_of, result.branch.fork_step) == ("?", 1)
    assert [row["runs"] for row in agent_table(read_runs([runs]))] == [1]


def test_the_branch_a_tree_search_chose_stands_for_its_episode(tmp_path):
    """agents/tree.py ends with its chosen branch (tree.json: search.chosen): that branch's
    result is the episode's, counted once in place of its root; tokens count on every run."""
    runs = tmp_path / "runs"
    common = {"agent": "tree", "competition": "c", "higher_is_better": True}
    step = [{"step": 1, "action": "execute_code", "reward": 0.0}]
    make_run(runs, "root", step, {**common, "final_valid": None, "branch": None, "usage": {}})
    make_run(runs, "b1", step, {**common, "branch": {"parent_run_dir": "root", "fork_step": 0},
                            "usage": {"total_tokens": 10}})
    make_run(runs, "b2", step, {**common, "branch": {"parent_run_dir": "b1", "fork_step": 1}, "final_valid": True,
                            "final_score": 0.9, "medal": "gold", "usage": {"total_tokens": 7}})
    make_run(runs, "loop", step, {**common, "branch": {"parent_run_dir": "loop", "fork_step": 1}})  # its own parent
    (runs / "tree.json").write_text(json.dumps({"nodes": {
        "root": {"parent": None}, "b1": {"parent": "root", "search": {"chosen": False}},
        "b2": {"parent": "b1", "search": {"chosen": True}}, "loop": {"parent": "loop", "search": {"chosen": "yes"}}}}))
    results = read_runs([runs])
    [row] = agent_table(results)
    assert (row["runs"], row["valid_rate"], row["gold"], row["tokens"]) == (1, 1.0, 1, 17)
    counted = {Path(row["run"]).name: row["counted"] for row in run_rows(results)}
    assert counted == {"root": False, "b1": False, "b2": True, "loop": False}
    assert uncounted_note(results) == ("2 branch run(s) (forks inside an episode) are listed, not counted in the "
                                       "agent totals; 1 root run(s) are counted through the branch their tree "
                                       "search chose (the episode's result).")
