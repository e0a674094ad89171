"""DojoEnv.fork(): branches of a real episode on the tiny competition, tree.json, and replay."""

from __future__ import annotations

import json

import nbformat
import pytest

import dojo_kernel
from conftest import assert_nothing_left
from dojo_kernel.branching import read_tree
from dojo_kernel.errors import ConfigError
from dojo_kernel.replay import replay
from dojo_kernel.rundir import read_rewards
from tiny_competition import build, submission_code

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return build(tmp_path_factory.mktemp("competitions"), name="tiny-branching")


def _sandbox_or_skip(isolation: str) -> None:
    if isolation == "namespaces":
        from dojo_kernel.isolation import resolve_mode
        try:
            resolve_mode("namespaces")
        except Exception as error:  # noqa: BLE001
            pytest.skip(f"no sandbox here: {error}")


@pytest.mark.parametrize("isolation", ["none", "namespaces"])
def test_branches_continue_the_episode_independently(competition, tmp_path, isolation):
    _sandbox_or_skip(isolation)
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation=isolation,
                           warm_pool=0, max_steps=10)
    branches = []
    try:
        env.reset(seed=3)
        env.step("import pandas as pd\ntest = pd.read_csv('input/test.csv')\nnote = 'root'")
        _, reward, *_ = env.step(submission_code("constant"))
        assert reward > 0
        parent_best = env._episode.rewards.best_score
        branches = env.fork(2)
        assert len(branches) == 2 and len({b.run_dir for b in branches} | {env.run_dir}) == 3
        first, second = branches

        # The same point of the same episode: step count, budget, history, best score.
        for branch in branches:
            assert branch._episode.steps == 2 and branch._episode.rewards.best_score == parent_best
            clock = ("time_used_s", "time_left_s")  # the same episode clock, read a moment apart
            assert {k: v for k, v in branch._budget().items() if k not in clock} == \
                {k: v for k, v in env._budget().items() if k not in clock}
            assert abs(branch._budget()["time_used_s"] - env._budget()["time_used_s"]) < 1.0
            assert (branch.run_dir / "working" / "submission.csv").read_text() == \
                (env.run_dir / "working" / "submission.csv").read_text()
        obs, reward, *_ = first.step(submission_code("perfect") + "note = 'first'")
        assert reward > 0 and first._episode.rewards.best_score == 1.0
        assert first._episode.steps == 3
        obs, _, _, _, info = second.step("print(note, len(test))")
        assert "\nroot 40\n" in obs["feedback"], obs["feedback"]
        obs, *_ = env.step("print(note)")
        assert "\nroot\n" in obs["feedback"], obs["feedback"]
        assert env._episode.rewards.best_score == parent_best  # the branch's score is its own
        assert "label" in (env.run_dir / "working" / "submission.csv").read_text()
        assert (env.run_dir / "working" / "submission.csv").read_text() != \
            (first.run_dir / "working" / "submission.csv").read_text()

        # The branch's record starts with the parent's cells, marked inherited.
        notebook = nbformat.read(first.run_dir / "trajectory.ipynb", as_version=4)
        nbformat.validate(notebook)
        steps = [(c.metadata["dojo"]["step"], c.metadata["dojo"].get("inherited", False))
                 for c in notebook.cells if c.metadata.get("dojo", {}).get("kind") == "step"]
        assert steps == [(1, True), (2, True), (3, False)]
        assert notebook.metadata["dojo"]["branch"]["fork_step"] == 2
        lines = read_rewards(first.run_dir)
        assert [(line["step"], line.get("inherited", False)) for line in lines] == [(1, True), (2, True), (3, False)]

        nodes = read_tree(tmp_path / "runs")["nodes"]
        assert nodes[env.run_dir.name]["parent"] is None
        assert nodes[first.run_dir.name]["parent"] == env.run_dir.name
        assert nodes[first.run_dir.name]["fork_step"] == 2
        assert nodes[second.run_dir.name]["best_score"] == parent_best
        first.step({"action": "submit", "final": True})
        assert read_tree(tmp_path / "runs")["nodes"][first.run_dir.name]["final_score"] == 1.0
    finally:
        for branch in branches:
            branch.close()
        env.close()
    for branch in branches:  # the branch's files are in its run dir once it ended
        assert (branch.run_dir / "working").is_dir() and not (branch.run_dir / "working").is_symlink()
        assert (branch.run_dir / "working" / "submission.csv").is_file()
    assert_nothing_left(tmp_path / "runs")


def test_a_branch_replays_from_the_root(competition, tmp_path):
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
    try:
        env.reset(seed=0)
        env.step("import pandas as pd\ntest = pd.read_csv('input/test.csv')")
        env.step("threshold = 50\nprint(threshold)")
        branch = env.fork()
        try:
            branch.step("test['label'] = (test.x >= threshold).astype(int)\n"
                        "test[['id', 'label']].to_csv('working/submission.csv', index=False)")
            branch.step({"action": "submit", "final": True})
        finally:
            branch.close()
    finally:
        env.close()
    report = replay(branch.run_dir / "trajectory.ipynb", run_dir=tmp_path / "replay")
    assert [cell.step for cell in report.cells] == [1, 2, 3]
    assert all(cell.agrees for cell in report.cells), report.to_text()
    assert report.replay_score == report.recorded_score == 1.0


def test_fork_needs_an_episode_in_progress(competition, tmp_path):
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
    try:
        with pytest.raises(ConfigError, match="an episode in progress"):
            env.fork()
        env.reset()
        with pytest.raises(ConfigError, match="n as an int >= 1"):
            env.fork(0)
        assert json.loads(json.dumps(read_tree(tmp_path / "runs"))) == {"format": 1, "nodes": {}}
    finally:
        env.close()


def test_a_sandboxed_branch_outlives_its_closed_root_and_keeps_its_files(competition, tmp_path):
    _sandbox_or_skip("namespaces")
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="namespaces", warm_pool=0)
    try:
        env.reset()
        env.step("import pandas as pd\ntest = pd.read_csv('input/test.csv')")
        branch = env.fork()
    finally:
        env.close()  # the root ends first; its sandbox stays for the branch
    try:
        obs, reward, *_ = branch.step(submission_code("perfect"))
        assert reward > 0, obs["feedback"]
        branch.step({"action": "submit", "final": True})
    finally:
        branch.close()
    assert (branch.run_dir / "working" / "submission.csv").is_file()
    assert not (branch.run_dir / "working").is_symlink()
    assert_nothing_left(tmp_path / "runs")


def test_a_refused_fork_leaves_no_branch_behind(competition, tmp_path):
    from dojo_kernel.errors import ForkError

    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
    try:
        env.reset()
        # What torch reports once it has made a CUDA context (no GPU on this machine to make one).
        env.step("import sys, types\n"
                 "sys.modules['torch'] = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))")
        before = sorted(path.name for path in (tmp_path / "runs").iterdir())
        with pytest.raises(ForkError, match="CUDA"):
            env.fork(2)
        assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == before
        obs, *_ = env.step("print('parent fine')")
        assert "parent fine" in obs["feedback"]
    finally:
        env.close()
