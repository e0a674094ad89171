"""DojoEnv with real kernels, real grading and real trajectory files, on a tiny competition
whose answers the tests know (tests/tiny_competition.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import numpy as np
import psutil
import pytest

import dojo_kernel
import tiny_competition as tiny
from dojo_kernel.actions import INFO_TYPES
from dojo_kernel.env import DojoEnv, EnvSettings
from dojo_kernel.errors import ConfigError
from dojo_kernel.spaces import CELL_STATUSES, OBSERVATION_ACTIONS
from waiting import wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"))




def action_of(obs) -> str:
    return OBSERVATION_ACTIONS[int(obs["action"])]


def status_of(obs) -> str:
    return CELL_STATUSES[int(obs["status"])]


def step(env, action):
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs in env.observation_space
    assert isinstance(reward, float) and np.isfinite(reward)
    return obs, reward, terminated, truncated, info


# ------------------------------------------------------------------ reset and the run dir

def test_reset_prepares_a_run_dir_and_describes_the_task(make_env, competition, tmp_path):
    env = make_env(max_steps=5, episode_time_s=600)
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space
    assert set(obs) == set(env.observation_space.spaces)
    assert action_of(obs) == "reset" and status_of(obs) == "none"
    feedback = obs["feedback"]
    for text in ("Tiny threshold", "Predict `label`", "accuracy (higher is better)", "input/train.csv",
                 "working/submission.csv", '"action": "execute_code"', "5 of 5 steps left", "10m 00s of 10m 00s"):
        assert text in feedback, text
    assert (int(obs["steps_left"]), int(obs["step"]), int(obs["has_best"])) == (5, 0, 0)
    assert 599 < float(obs["time_left_s"]) <= 600

    run_dir = Path(info["run_dir"])
    assert run_dir == env.run_dir and run_dir.parent == tmp_path / "runs"
    assert sorted(p.name for p in (run_dir / "input").iterdir()) == sorted(
        p.name for p in competition.public_dir.iterdir())
    assert (run_dir / "working").is_dir() and not any((run_dir / "working").iterdir())
    assert (run_dir / "trajectory.ipynb").is_file()
    pointer = json.loads((run_dir / "kernel.json").read_text())
    assert Path(pointer["connection_file"]).is_file()
    assert info["seed"] == 3 and info["isolation"] in ("namespaces", "none")
    if info.get("isolation_warning"):
        assert info["isolation_warning"] in feedback

    # the kernel works in the run dir and sees the data by relative path
    obs, *_ = step(env, "import os, pandas as pd\nprint(os.getcwd(), len(pd.read_csv('input/train.csv')))")
    assert status_of(obs) == "ok"
    assert f"{run_dir} 200" in obs["feedback"]


def test_each_reset_starts_a_fresh_episode_in_a_new_run_dir(make_env):
    env = make_env()
    _, first = env.reset()
    step(env, "secret = 1")
    _, second = env.reset()
    assert first["run_dir"] != second["run_dir"]
    obs, *_ = step(env, "print('secret' in dir())")
    assert "False" in obs["feedback"]
    # the first episode was ended and summarised when the second began
    summary = json.loads((Path(first["run_dir"]) / "summary.json").read_text())
    assert summary["end_reason"] == "reset" and summary["steps"] == 1
    # which enforcement held the limits: a cgroup per kernel, or the watchdog alone
    from dojo_kernel import cgroups
    assert summary["limits_enforced_by"] == cgroups.mode() in ("cgroup v1", "cgroup v2", "watchdog")


def test_step_before_reset_raises(make_env):
    import gymnasium
    with pytest.raises(gymnasium.error.ResetNeeded, match="reset"):
        make_env().step("print(1)")


# ------------------------------------------------------------------ the actions

def test_state_is_shared_across_steps(make_env):
    env = make_env()
    env.reset()
    step(env, "import numpy as np\nrows = np.arange(10)")
    step(env, {"action": "execute_code", "code": "total = int(rows.sum())"})
    obs, reward, terminated, truncated, info = step(env, {"action": "validate_code", "code": "print(total * 2)"})
    assert "90" in obs["feedback"]
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["execution_count"] == 3 and info["status"] == "ok"


@pytest.mark.parametrize("info_type", INFO_TYPES)
def test_request_info(make_env, info_type):
    env = make_env(max_steps=9)
    env.reset()
    obs, reward, _, _, info = step(env, {"action": "request_info", "info_type": info_type})
    expected = {
        "overview": ["Tiny threshold", "Predict `label`"],
        "data_structure": ["input/train.csv", "columns (3): id, x, label", "input/test.csv"],
        "sample_submission": ["input/sample_submission.csv", "columns (2): id, label", "1000,0"],
        "metadata": ["metric: accuracy", "id_column: id", "target_columns: ['label']", "higher_is_better: True"],
        "data_path": ["input/", "input/train.csv"],
        "output_path": ["working/submission.csv"],
        "limits": ["memory: 4.0 GB", "cell timeout", "8 of 9 steps left"],
        "traceback": ["No cell has failed yet"],
    }
    texts = expected.get(info_type) or [text for kind, texts in expected.items() if kind != "traceback"
                                         for text in texts]  # "all" is the competition and limits
    for text in texts:
        assert text in obs["feedback"], text
    assert action_of(obs) == "request_info" and status_of(obs) == "none"
    assert reward == 0.0 and info["action"] == "request_info"


def test_validate_code_runs_but_never_grades(make_env):
    env = make_env()
    env.reset()
    obs, reward, _, _, info = step(env, {"action": "validate_code", "code": tiny.submission_code("perfect")})
    assert status_of(obs) == "ok" and int(obs["graded"]) == 0 and reward == 0.0 and info.get("grade") is None
    assert "grades nothing" in obs["feedback"]
    # the file it wrote is there for submit to grade
    obs, reward, _, _, info = step(env, {"action": "submit"})
    assert int(obs["graded"]) == 1 and info["grade"]["score"] == 1.0 and reward == pytest.approx(1.0)


def test_execute_code_grades_only_when_the_cell_wrote_the_submission(make_env):
    env = make_env()
    env.reset()
    obs, reward, _, _, info = step(env, tiny.submission_code("constant"))
    assert int(obs["graded"]) == 1 and int(obs["valid_submission"]) == 1
    assert info["grade"]["split"] == "public" and info["score"] == pytest.approx(0.55)
    assert float(obs["position"]) == pytest.approx(0.2) and reward == pytest.approx(0.2)
    assert "graded on the public split: accuracy = 0.55" in obs["feedback"]
    assert "timings" in info and info["timings"]["grade_s"] >= 0 and info["timings"]["cell_s"] >= 0

    obs, reward, _, _, info = step(env, "x = 1")  # does not touch the file: no grade
    assert int(obs["graded"]) == 0 and info.get("grade") is None and reward == 0.0
    assert int(obs["has_best"]) == 1 and float(obs["best_score"]) == pytest.approx(0.55)

    # rewriting the same content still counts as writing it
    obs, *_ = step(env, "import shutil\nshutil.copy('working/submission.csv', 'working/s.csv')\n"
                        "shutil.copy('working/s.csv', 'working/submission.csv')")
    assert int(obs["graded"]) == 1


def test_an_invalid_submission_is_feedback_not_an_error(make_env):
    env = make_env()
    env.reset()
    obs, reward, _, _, info = step(env, "open('working/submission.csv', 'w').write('id,wrong\\n1,2\\n')")
    assert int(obs["graded"]) == 1 and int(obs["valid_submission"]) == 0
    assert reward == 0.0 and info["grade"]["valid"] is False and info["error"]
    assert "is invalid" in obs["feedback"]
    obs, reward, _, _, info = step(env, {"action": "submit"})
    assert int(obs["valid_submission"]) == 0 and reward == 0.0


def test_submit_without_a_file_says_how_to_make_one(make_env):
    env = make_env()
    env.reset()
    obs, reward, terminated, _, info = step(env, {"action": "submit"})
    assert not terminated and reward == 0.0 and int(obs["graded"]) == 1
    assert "expected a submission at working/submission.csv" in obs["feedback"]


def test_a_cell_error_shows_its_traceback(make_env):
    env = make_env()
    env.reset()
    obs, reward, _, _, info = step(env, "def f():\n    return 1 / 0\nf()")
    assert status_of(obs) == "error" and reward == 0.0
    assert "ZeroDivisionError" in obs["feedback"] and "return 1 / 0" in obs["feedback"]
    assert info["error"] == {"category": "runtime", "type": "ZeroDivisionError", "message": "division by zero",
                             "line": 3}


def test_restart_kernel_loses_variables_but_keeps_files(make_env):
    env = make_env()
    _, reset_info = env.reset()
    step(env, "kept = 5\nopen('working/note.txt', 'w').write('hi')")
    # kernel.json points at attach.json, the env's copy of the connection file: rewritten for the new kernel
    old_connection = Path(json.loads((env.run_dir / "kernel.json").read_text())["connection_file"]).read_text()
    obs, reward, _, _, info = step(env, {"action": "restart_kernel"})
    assert int(obs["kernel_restarted"]) == 1 and info["kernel_restarted"] is True and reward == 0.0
    obs, *_ = step(env, "print('kept' in dir(), open('working/note.txt').read())")
    assert "False hi" in obs["feedback"]
    new_file = Path(json.loads((env.run_dir / "kernel.json").read_text())["connection_file"])
    assert new_file.is_file() and new_file.read_text() != old_connection


def test_get_history_lists_the_steps(make_env):
    env = make_env()
    env.reset()
    step(env, tiny.submission_code("constant"))
    step(env, {"action": "bogus"})
    step(env, "1/0")
    obs, *_ = step(env, {"action": "get_history"})
    lines = obs["feedback"].splitlines()
    assert "accuracy, higher is better" in lines[0]
    assert any(line.split()[:3] == ["1", "execute_code", "ok"] and "0.55" in line for line in lines)
    assert any(line.split()[:2] == ["2", "invalid"] and "bogus" in line for line in lines)
    assert any(line.split()[:3] == ["3", "execute_code", "error"] and "ZeroDivisionError" in line for line in lines)


MALFORMED = [
    ({"action": "fly"}, "expected an action among"),
    ({"action": "execute_code"}, "expected field 'code' for execute_code"),
    ({"action": "execute_code", "code": 7}, "to be a str, got int 7"),
    ({"action": "request_info", "info_type": "secrets"}, "expected info_type among"),
    ({"action": "submit", "final": "yes"}, "to be true or false"),
    ({"action": "execute_code", "code": "x" * 2_001}, "at most 2000 characters, got 2001"),
    (b"print(1)", "got bytes of length 8"),
    (None, "got NoneType None"),
    (["execute_code", "print(1)"], "got list"),
    ({"code": "print(1)"}, "expected a field 'action'"),
]


def test_malformed_actions_become_observations_and_never_touch_the_kernel(make_env):
    env = make_env(max_code_chars=2_000)
    env.reset()
    step(env, "marker = 'alive'")
    pid = env._episode.session.pid
    for number, (action, message) in enumerate(MALFORMED, start=2):
        obs, reward, terminated, truncated, info = step(env, action)
        assert message in obs["feedback"], (action, obs["feedback"][:300])
        assert obs["feedback"].startswith("Invalid action: expected")
        assert action_of(obs) == "invalid" and info["action"] == "invalid" and message in info["error"]["message"]
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert int(obs["step"]) == number  # a malformed action still spends a step
    obs, _, _, _, info = step(env, "print(marker)")
    assert "alive" in obs["feedback"] and info["execution_count"] == 2 and env._episode.session.pid == pid


def test_agent_messages_reach_the_notebook(make_env):
    env = make_env()
    env.reset()
    step(env, {"action": "execute_code", "code": "y = 2", "message": "I set y because reasons"})
    obs, _, _, _, info = step(env, {"action": "get_history", "reasoning": "checking progress"})
    assert info["message"] == "checking progress"
    env.close()
    notebook = nbformat.read(env.run_dir / "trajectory.ipynb", as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells)
    assert "I set y because reasons" in sources and "checking progress" in sources


# ------------------------------------------------------------------ rewards and grading splits

def play(env, kinds, final=True):
    """Write each kind of submission in turn, then submit(final); the rewards and last info."""
    env.reset()
    rewards = [step(env, tiny.submission_code(kind))[1] for kind in kinds]
    obs, reward, terminated, truncated, info = step(env, {"action": "submit", "final": final})
    return rewards, reward, info


@pytest.mark.parametrize("mode, during, at_final", [
    # constant: public accuracy 0.55 -> position 0.2; perfect: 1.0 -> position 1.0
    ("improvement", [0.2, 0.8, 0.0], 0.0),
    ("position", [0.2, 1.0, 0.2], 0.2),
    ("raw", [0.55, 1.0, 0.55], 0.55),
    ("final", [0.0, 0.0, 0.0], 0.1),  # the final file is the constant one: private position 0.1
])
def test_reward_modes(make_env, mode, during, at_final):
    env = make_env(reward_mode=mode)
    rewards, final_reward, info = play(env, ["constant", "perfect", "constant"])
    assert rewards == pytest.approx(during)
    assert final_reward == pytest.approx(at_final)
    assert info["reward_mode"] == mode
    summary = json.loads((env.run_dir / "summary.json").read_text())
    assert summary["total_reward"] == pytest.approx(sum(during) + at_final)
    assert summary["best_score"] == 1.0 and summary["best_position"] == 1.0 and summary["best_step"] == 2


def test_improvement_return_is_the_best_position(make_env):
    env = make_env()
    rewards, final_reward, _ = play(env, ["constant", "perfect", "constant", "perfect"])
    assert sum(rewards) + final_reward == pytest.approx(1.0)


def test_public_and_private_grading_differ_and_both_are_reported(make_env):
    env = make_env()
    env.reset()
    obs, reward, _, _, info = step(env, tiny.submission_code("public_only"))
    # right on every public row: the agent sees a perfect public score ...
    assert info["grade"]["split"] == "public" and info["score"] == 1.0 and reward == pytest.approx(1.0)
    obs, reward, terminated, truncated, info = step(env, {"action": "submit", "final": True})
    assert terminated and not truncated
    # ... and the private split, graded once at the end, tells the truth
    final, public = info["final_grade"], info["final_public_grade"]
    assert final["split"] == "private" and final["score"] == 0.0 and final.get("medal") is None
    assert final["above_median"] is False
    assert public["split"] == "public" and public["score"] == 1.0
    assert "private split: accuracy = 0" in obs["feedback"]
    summary = json.loads((env.run_dir / "summary.json").read_text())
    assert (summary["final_score"], summary["final_public_score"], summary["best_score"]) == (0.0, 1.0, 1.0)
    assert summary["end_reason"] == "final_submit" and summary["terminated"] is True
    assert summary["medal"] is None and summary["above_median"] is False


def test_grade_split_full_reproduces_mle_dojo_grading(make_env):
    env = make_env(grade_split="full")
    env.reset()
    _, _, _, _, info = step(env, tiny.submission_code("public_only"))
    assert info["grade"]["split"] == "full" and info["score"] == pytest.approx(0.5)


def test_a_perfect_final_submission_earns_a_medal(make_env):
    env = make_env(reward_mode="final")
    _, final_reward, info = play(env, ["perfect"])
    assert final_reward == pytest.approx(1.0)
    assert info["final_grade"]["medal"] == "gold" and info["final_grade"]["above_median"] is True


# ------------------------------------------------------------------ budgets and the episode's end

def test_max_steps_truncates_and_grades_the_final_submission(make_env):
    env = make_env(max_steps=2)
    env.reset()
    obs, _, terminated, truncated, _ = step(env, tiny.submission_code("perfect"))
    assert (terminated, truncated, int(obs["steps_left"])) == (False, False, 1)
    obs, reward, terminated, truncated, info = step(env, {"action": "get_history"})
    assert (terminated, truncated, int(obs["steps_left"])) == (False, True, 0)
    assert info["end_reason"] == "max_steps" and info["final_grade"]["score"] == 1.0
    assert "step budget is spent" in obs["feedback"]
    # after the end: an observation saying so, and nothing runs
    obs, reward, terminated, truncated, _ = step(env, "print('after')")
    assert "Call reset()" in obs["feedback"] and reward == 0.0 and truncated and not terminated
    assert len((env.run_dir / "rewards.jsonl").read_text().splitlines()) == 2


def test_episode_time_truncates_and_limits_the_cell(make_env):
    env = make_env(episode_time_s=3, cell_timeout_s=600)
    env.reset()
    started = time.monotonic()
    obs, _, terminated, truncated, info = step(env, "import time\ntime.sleep(30)")
    assert time.monotonic() - started < 25  # the cell was cut at the episode's end, not at 30 s
    assert truncated and not terminated and info["end_reason"] == "episode_time"
    assert info["status"] in ("timeout", "killed") and float(obs["time_left_s"]) == 0.0
    assert "time budget is spent" in obs["feedback"]


def test_time_spent_thinking_counts(make_env):
    env = make_env(episode_time_s=1)
    env.reset()
    time.sleep(1.2)  # the agent thinks too long: the action does not run
    obs, _, _, truncated, info = step(env, "print('late')")
    assert truncated and "late" not in obs["feedback"].split("did not run")[0]
    assert "time budget was spent before this action" in obs["feedback"]
    assert "status" not in info  # info holds only keys with a value


def test_a_memory_limit_is_reported_and_the_episode_goes_on(make_env):
    env = make_env(memory_gb=0.4)
    env.reset()
    obs, _, terminated, truncated, info = step(env, "import numpy as np\nblock = np.ones(200_000_000)\n")
    assert info["status"] == "killed" and info["limit_event"]["kind"] == "memory"
    assert int(obs["limit_exceeded"]) == 1 and int(obs["kernel_restarted"]) == 1
    assert "Limit reached" in obs["feedback"] and not (terminated or truncated)
    obs, *_ = step(env, "print(2 + 2)")
    assert "4" in obs["feedback"]
    env.close()
    summary = json.loads((env.run_dir / "summary.json").read_text())
    assert summary["limit_events"][0]["kind"] == "memory" and summary["kernel_restarts"] == 1


# ------------------------------------------------------------------ the record

def test_the_recorders_files_after_an_episode(make_env):
    env = make_env(agent="pytest-agent")
    env.reset()
    step(env, {"action": "request_info", "info_type": "overview"})
    step(env, tiny.submission_code("constant"))
    step(env, {"action": "oops"})
    step(env, {"action": "submit", "final": True})
    run_dir = env.run_dir
    lines = [json.loads(line) for line in (run_dir / "rewards.jsonl").read_text().splitlines()]
    assert [line["action"] for line in lines] == ["request_info", "execute_code", "invalid", "submit"]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert lines[1]["reward"] == pytest.approx(0.2) and lines[1]["grade"]["split"] == "public"
    notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code_cells) == 1 and "to_csv('working/submission.csv'" in code_cells[0].source
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("final_score", "final_position", "medal", "above_median", "best_score", "final_public_score",
                "steps_used", "elapsed_s", "limit_events", "isolation", "isolation_warning", "end_reason"):
        assert key in summary, key
    assert summary["agent"] == "pytest-agent" and summary["steps"] == 4
    assert notebook.metadata["dojo"]["summary"]["final_score"] == summary["final_score"]


def test_close_ends_every_kernel_and_leaves_no_stray_run_dir(make_env, tmp_path):
    env = make_env(warm_pool=1)
    env.reset()
    wait_until(lambda: env._pool.ready == 1, timeout=60, message="the warm kernel to start")
    pids = [env._episode.session.pid] + [future.result().session.pid for future in env._pool._pending]
    assert all(psutil.pid_exists(pid) for pid in pids)
    run_dir = env.run_dir
    env.close()
    env.close()  # twice is fine
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # the warm one's dir is gone, and so is the episode's: it took no step, so it recorded nothing
    assert [p for p in (tmp_path / "runs").iterdir()] == []
    assert not run_dir.exists()


def test_the_warm_pool_serves_the_next_reset(make_env):
    env = make_env(warm_pool=1)
    _, first = env.reset()
    assert first["warm_kernel"] is False  # nothing was warm before the first reset
    wait_until(lambda: env._pool.ready == 1, timeout=60, message="the warm kernel to start")
    _, second = env.reset()
    assert second["warm_kernel"] is True and second["run_dir"] != first["run_dir"]
    obs, *_ = step(env, "import os\nprint(os.getcwd())")
    assert second["run_dir"] in obs["feedback"]


def test_a_warm_kernel_that_died_while_waiting_is_replaced(make_env):
    env = make_env(warm_pool=1)
    env.reset()
    wait_until(lambda: env._pool.ready == 1, timeout=60, message="the warm kernel to start")
    waiting = env._pool._pending[0].result()
    psutil.Process(waiting.session.pid).kill()
    psutil.Process(waiting.session.pid).wait(10)
    _, info = env.reset()
    assert info["run_dir"] != str(waiting.run_dir) and not waiting.run_dir.exists()
    obs, *_ = step(env, "print('fresh')")
    assert "fresh" in obs["feedback"] and int(obs["kernel_restarted"]) == 0


# ------------------------------------------------------------------ settings

def test_settings_are_checked_with_clear_messages(competition, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['max_step'\].*max_steps"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, max_step=3)
    with pytest.raises(ConfigError, match="reward_mode among improvement, position, raw, final"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, reward_mode="best")
    with pytest.raises(ConfigError, match="max_steps as an int >= 1"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, max_steps=0)
    with pytest.raises(ConfigError, match="grade_split among public, full, private"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, grade_split="test")
    with pytest.raises(ConfigError, match="warm_pool as an int >= 0"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, warm_pool=-1)
    with pytest.raises(ConfigError, match="Limits.memory_gb"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, memory_gb="lots")
    with pytest.raises(ConfigError, match="Limits fields"):
        dojo_kernel.make(competition.name, output_dir=tmp_path, limits={"memory": 2})
    with pytest.raises(KeyError, match="expected a known competition name"):
        dojo_kernel.make("no-such-competition", output_dir=tmp_path)


def test_limits_come_as_an_object_a_dict_or_single_fields():
    from dojo_kernel import Limits
    assert EnvSettings.from_kwargs(limits=Limits(memory_gb=2)).limits.memory_gb == 2
    assert EnvSettings.from_kwargs(limits={"memory_gb": 3}, cell_timeout_s=9).limits == Limits(memory_gb=3,
                                                                                                cell_timeout_s=9)
    settings = EnvSettings.from_kwargs(memory_gb=1.5, episode_time_s=60, max_steps=4)
    assert (settings.limits.memory_gb, settings.limits.episode_time_s, settings.max_steps) == (1.5, 60, 4)


def test_make_does_not_start_a_kernel(competition, tmp_path):
    children = set(psutil.Process().children(recursive=True))
    env = dojo_kernel.make(competition.name, output_dir=tmp_path)
    assert set(psutil.Process().children(recursive=True)) == children
    assert not (tmp_path).exists() or not any(tmp_path.iterdir())
    env.close()


def test_gymnasium_make_knows_every_competition(competition, tmp_path):
    import gymnasium
    ids = dojo_kernel.register_envs()
    assert f"dojo/{competition.name}-v0" in ids
    spec = gymnasium.spec(f"dojo/{competition.name}-v0")
    assert spec.entry_point == "dojo_kernel.env:DojoEnv" and spec.nondeterministic is True
    env = gymnasium.make(f"dojo/{competition.name}-v0", output_dir=tmp_path, max_steps=3, warm_pool=0)
    try:
        assert isinstance(env.unwrapped, DojoEnv) and env.unwrapped.settings.max_steps == 3
        obs, _ = env.reset()
        obs, *_ = env.step("print(6 * 7)")
        assert "42" in obs["feedback"]
    finally:
        env.close()


def test_dojo_kernel_register_also_registers_the_gymnasium_id(competition, tmp_path):
    import gymnasium
    name = "tiny-registered-late"
    assert f"dojo/{name}-v0" not in gymnasium.registry
    registered = dojo_kernel.register(Path(competition.public_dir).parent, name=name)
    assert registered.name == name
    assert gymnasium.spec(f"dojo/{name}-v0").kwargs["competition"] == name


SEEDED_CELL = ("import random, numpy as np\n"
               "print('SEEDED', random.random(), np.random.rand(), hash('dojo'), list({'a', 'b', 'c', 'd', 'e'}))")


def _seeded_line(obs) -> str:
    return next(line for line in obs["feedback"].splitlines() if line.startswith("SEEDED "))


def test_the_same_seed_and_cells_give_the_same_outputs(make_env):
    """reset(seed) seeds random and numpy (and torch on import) in the warm kernel, again after a
    restart, and every kernel starts with the same PYTHONHASHSEED (issue 14)."""
    env = make_env(warm_pool=1)
    runs = []
    for seed in (7, 7, 8):
        env.reset(seed=seed)
        first = _seeded_line(step(env, SEEDED_CELL)[0])
        step(env, {"action": "restart_kernel"})
        again = _seeded_line(step(env, SEEDED_CELL)[0])
        assert first == again, (first, again)  # re-seeded after the restart
        runs.append(first)
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert runs[0].split(" ", 3)[3] == runs[2].split(" ", 3)[3]  # the hash seed is the same in every kernel
