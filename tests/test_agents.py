"""The agent registry, the human agent's prompt, and episodes played by agents in a real env."""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from dojo_kernel.agents import StopEpisode, get_agent, list_agents, register_agent
from dojo_kernel.agents.human import HumanAgent
from dojo_kernel.errors import ConfigError


def scripted(lines):
    """An input() that answers with `lines`, then signals end of input."""
    remaining = list(lines)

    def read(prompt: str) -> str:
        if not remaining:
            raise EOFError
        return remaining.pop(0)

    return read


# -- the registry ------------------------------------------------------------------------

def test_builtin_agents_are_registered():
    assert {"baseline", "llm", "human"} <= set(list_agents())


def test_unknown_agent_names_the_choices():
    with pytest.raises(ConfigError, match=r"expected an agent among .*baseline.*module:Class.*got 'nope'"):
        get_agent("nope")


def test_agent_from_module_and_class(tmp_path, monkeypatch):
    (tmp_path / "my_agents.py").write_text(textwrap.dedent("""
        class Echo:
            def __init__(self, word="hi"):
                self.word = word
            def reset(self, observation):
                pass
            def act(self, observation):
                return f"print({self.word!r})"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = get_agent("my_agents:Echo", word="yo")
    assert agent.act({}) == "print('yo')"
    with pytest.raises(ConfigError, match="does not take these options"):
        get_agent("my_agents:Echo", colour="red")
    with pytest.raises(ConfigError, match="has no attribute 'Missing'"):
        get_agent("my_agents:Missing")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module_xyz'"):
        get_agent("no_such_module_xyz:Agent")
    sys.modules.pop("my_agents", None)


def test_register_agent_and_reject_objects_that_cannot_act(monkeypatch):
    from dojo_kernel.agents import base

    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))  # the registration ends with the test
    register_agent("test-lazy", lambda: object())
    with pytest.raises(ConfigError, match="lacks reset, act"):
        get_agent("test-lazy")
    with pytest.raises(ConfigError, match="without ':'"):
        register_agent("a:b", HumanAgent)


# -- the human agent ---------------------------------------------------------------------

def test_human_cells_end_at_a_blank_line_once_complete():
    out = io.StringIO()
    agent = HumanAgent(input_fn=scripted(["x = (1,", "", "     2)", "print(x)", "", ":final"]), output=out)
    agent.reset({"feedback": "task"})
    first = agent.act({"feedback": "the task text"})
    # the blank line inside the open bracket did not end the cell; the next blank line did
    assert first == {"action": "execute_code", "code": "x = (1,\n\n     2)\nprint(x)"}
    assert agent.act({"feedback": "(1, 2)"}) == {"action": "submit", "final": True}
    assert "the task text" in out.getvalue() and "(1, 2)" in out.getvalue()


def test_human_commands_and_notes():
    lines = [":info metadata", ":why checking the shape", "print(df.shape)", "", ":validate", "1/0", ".",
             ":cell", "def f():", "", "    return 1", ".", ":bogus", ":submit", ":restart", ":history", ":quit"]
    out = io.StringIO()
    agent = HumanAgent(input_fn=scripted(lines), output=out)
    agent.reset({})
    actions = [agent.act({"feedback": ""}) for _ in range(7)]
    assert actions == [
        {"action": "request_info", "info_type": "metadata"},
        {"action": "execute_code", "code": "print(df.shape)", "message": "checking the shape"},
        {"action": "validate_code", "code": "1/0"},
        {"action": "execute_code", "code": "def f():\n\n    return 1"},
        {"action": "submit", "final": False},
        {"action": "restart_kernel"},
        {"action": "get_history"},
    ]
    assert "unknown command ':bogus'" in out.getvalue()
    with pytest.raises(StopEpisode):
        agent.act({"feedback": ""})


def test_human_end_of_input_stops_the_episode():
    agent = HumanAgent(input_fn=scripted([]), output=io.StringIO())
    agent.reset({})
    with pytest.raises(StopEpisode):
        agent.act({"feedback": ""})


# -- whole episodes in a real env -----------------------------------------------------------

def build_messy_competition(root):
    """A Kaggle-like table the baseline has never seen: missing numbers, a text category, a date,
    free text, string labels, an id that is not first in train.csv, and a metric (MCC) whose
    constant prediction scores 0."""
    import numpy as np
    import pandas as pd

    from dojo_kernel.competition import register
    from dojo_kernel.prepare.common import leaderboard_frame, sample_submission, write_competition

    rng = np.random.default_rng(7)
    n = 600
    amount = rng.normal(50, 15, n)
    colour = rng.choice(["red", "green", "blue"], n)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    words = np.array(["great product, would buy again and recommend to friends",
                      "terrible service, never again, the worst experience ever",
                      "okay overall, nothing special to say about this one here"])
    mood = rng.integers(0, 3, n)
    signal = (amount > 50).astype(int) + (colour == "red") + (mood == 0) - (mood == 1)
    label = np.where(signal + rng.normal(0, 0.3, n) >= 1, "yes", "no")
    amount[rng.random(n) < 0.15] = np.nan
    frame = pd.DataFrame({"amount": amount, "colour": colour, "when": when.strftime("%Y-%m-%d"),
                          "review": [f"{words[m]} (order {i})" for i, m in enumerate(mood)], "row_id": np.arange(10_000, 10_000 + n), "label": label})
    train, test = frame.iloc[:420], frame.iloc[420:]
    answers = test[["row_id", "label"]].assign(Usage=["Public", "Private"] * (len(test) // 2))
    path = write_competition(
        root / "messy-table",
        manifest={"name": "messy-table", "title": "Messy table", "metric": "mcc", "id_column": "row_id",
                  "target_columns": ["label"], "category": "tabular", "task": "binary", "level": "easy"},
        description="Predict `label` (yes or no) for each row of test.csv.",
        answers=answers,
        sample=sample_submission(test["row_id"], "row_id", {"label": "no"}),
        public_files={"train.csv": train, "test.csv": test.drop(columns=["label"])},
        leaderboards={s: leaderboard_frame([0.0, 0.2, 0.4, 0.6, 0.8], higher_is_better=True)
                      for s in ("public", "private")},
        overwrite=True,
    )
    return register(path)


@pytest.mark.slow
def test_baseline_handles_an_unknown_messy_table(tmp_path):
    import nbformat

    import dojo_kernel
    from dojo_kernel.agents import run_episode

    competition = build_messy_competition(tmp_path / "data")
    steps = []
    env = dojo_kernel.make(competition, output_dir=tmp_path / "runs", max_steps=15, isolation="none")
    summary = run_episode(env, get_agent("baseline", n_estimators=25, folds=2), on_step=steps.append)

    assert summary["stopped_by"] == "final_submit"
    assert summary["agent_stats"] == {"path": "tabular", "fallbacks": 0, "cells": 5}
    sample = competition.grade(competition.sample_submission_path, split="private")
    assert summary["final_score"] > sample.score + 0.3
    features = next(event.observation["feedback"] for event in steps if "numeric," in event.observation["feedback"])
    assert "1 categorical, 1 text columns" in features  # colour one-hot, review TF-IDF; the date became numbers
    assert [event.index for event in steps] == list(range(1, summary["steps"] + 1))
    notebook = nbformat.read(summary["notebook"], as_version=4)
    assert any("one-hot the categories" in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_human_plays_an_episode_through_dojo_run(tmp_path):
    """`dojo run --agent human` with the cells coming from stdin, as a person would type them."""
    import subprocess

    script = "\n".join([
        ":why first look",
        "import pandas as pd",
        "test = pd.read_csv('input/test.csv')",
        "print(len(test))",
        "",
        ":cell",
        "test['label'] = (test.x >= 50).astype(int)",
        "",
        "test[['id', 'label']].to_csv('working/submission.csv', index=False)",
        ".",
        ":final",
    ]) + "\n"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import tiny_competition
        from pathlib import Path
        tiny_competition.build(Path({str(tmp_path)!r}))
        from dojo_kernel.cli import main
        sys.exit(main(["run", tiny_competition.NAME, "--agent", "human", "--out", {str(tmp_path / 'runs')!r},
                       "--isolation", "none", "--json", {str(tmp_path / 'summary.json')!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", code], input=script, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "dojo> " in done.stdout and "40" in done.stdout  # the prompt, and the cell's output shown back
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_by"] == "final_submit" and summary["final_score"] == 1.0
    import nbformat

    notebook = nbformat.read(summary["notebook"], as_version=4)
    sources = [cell.source for cell in notebook.cells]
    assert "first look" in "\n".join(sources)
    assert any(source.startswith("test['label']") and "\n\n" in source for source in sources)


def test_baseline_falls_back_to_a_valid_submission_when_it_cannot_find_the_target(tmp_path):
    """The submission asks for a column train.csv does not have: the models have nothing to fit,
    and the agent falls back rather than ending without a valid submission."""
    import pandas as pd

    import dojo_kernel
    from dojo_kernel.agents import run_episode
    from dojo_kernel.competition import register
    from dojo_kernel.prepare.common import leaderboard_frame, sample_submission, write_competition

    ids = list(range(100, 120))
    path = write_competition(
        tmp_path / "data" / "odd-target",
        manifest={"name": "odd-target", "metric": "rmse", "id_column": "id", "target_columns": ["forecast_value"]},
        description="Predict forecast_value.",
        answers=pd.DataFrame({"id": ids, "forecast_value": range(20), "Usage": ["Public", "Private"] * 10}),
        sample=sample_submission(ids, "id", {"forecast_value": 5.0}),
        public_files={"train.csv": pd.DataFrame({"id": range(50), "x": range(50), "value": range(50)}),
                      "test.csv": pd.DataFrame({"id": ids, "x": range(20)})},
        leaderboards={s: leaderboard_frame([1.0, 3.0, 6.0], higher_is_better=False) for s in ("public", "private")},
        overwrite=True,
    )
    env = dojo_kernel.make(register(path), output_dir=tmp_path / "runs", max_steps=15, isolation="none")
    summary = run_episode(env, get_agent("baseline", n_estimators=10, folds=2))
    assert summary["stopped_by"] == "final_submit"
    assert summary["agent_stats"]["fallbacks"] == 1
    assert summary["env_summary"]["final_valid"] is True


def test_run_episode_through_gymnasium_make_and_its_wrappers(tmp_path, monkeypatch):
    import gymnasium

    import dojo_kernel
    from dojo_kernel.agents import run_episode

    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))
    events = []
    env = gymnasium.make("dojo/iris-species-v0", output_dir=tmp_path / "runs", max_steps=12, cpus=1, isolation="none")
    assert dojo_kernel  # registers dojo/* ids on import
    summary = run_episode(env, get_agent("baseline", n_estimators=10, folds=2), on_step=events.append)
    assert summary["competition"] == "iris-species" and summary["stopped_by"] == "final_submit"
    assert summary["final_score"] > 0.5 and Path(summary["notebook"]).is_file()
    assert events[-1].terminated and events[-1].score == summary["best_score"]
    assert all(event.budget["steps_left"] == 12 - event.index for event in events)


@pytest.mark.parametrize("max_steps", [3, 5])
def test_baseline_submits_as_final_within_a_small_step_budget(tmp_path, max_steps):
    """With too few steps for its script, the baseline writes the sample submission and submits
    it as final on the last step instead of being cut off without a final submission."""
    sys.path.insert(0, str(Path(__file__).parent))
    import dojo_kernel
    import tiny_competition
    from dojo_kernel.agents import run_episode

    competition = tiny_competition.build(tmp_path / "data")
    env = dojo_kernel.make(competition, output_dir=tmp_path / "runs", max_steps=max_steps, isolation="none")
    summary = run_episode(env, get_agent("baseline", n_estimators=5, folds=2))
    assert summary["steps"] == max_steps
    assert summary["stopped_by"] == "final_submit"
    assert summary["env_summary"]["final_valid"] is True


def test_human_agent_prints_no_terminal_escape_sequences():
    out = io.StringIO()
    agent = HumanAgent(input_fn=scripted([":final"]), output=out)
    agent.reset({"feedback": "task"})
    agent.act({"feedback": "before\x1b]0;owned\x07\x1b[2Jafter \x07"})
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "beforeafter \\x07" in out.getvalue()


class _OneStepEnv:
    """The least run_episode needs of an env: the first step ends the episode."""

    def __init__(self, events):
        self.events = events

    def reset(self, seed=None, options=None):
        return {"feedback": "task"}, {}

    def step(self, action):
        return {"feedback": "done"}, 1.0, True, False, {}

    def close(self):
        self.events.append("env closed")


class _EndingAgent:
    def __init__(self, events, fail=False):
        self.events, self.fail = events, fail

    def reset(self, observation):
        pass

    def act(self, observation):
        if self.fail:
            raise RuntimeError("the agent broke")
        return {"action": "submit", "final": True}

    def end_episode(self):
        self.events.append("agent ended its episode")


@pytest.mark.parametrize("fail", [False, True], ids=["ended", "agent-error"])
def test_run_episode_ends_an_agent_s_episode_before_closing_the_env(fail):
    from dojo_kernel.agents import run_episode

    events: list[str] = []
    if fail:
        with pytest.raises(RuntimeError, match="the agent broke"):
            run_episode(_OneStepEnv(events), _EndingAgent(events, fail=True))
    else:
        assert run_episode(_OneStepEnv(events), _EndingAgent(events))["stopped_by"] == "final_submit"
    assert events == ["agent ended its episode", "env closed"]
