"""The text an agent reads: feedback.py's parts built from real grades of a real (tiny) competition,
and compact feedback on real env steps: the corpus of common agent cells (tests/feedback_corpus.py),
the structured error in info and rewards.jsonl, the full traceback on request, the budget.
The helpers have their own files: test_compact.py, test_tracebacks.py, test_hints.py."""

from __future__ import annotations

import json

import nbformat
import pytest

import dojo_kernel
import feedback_corpus as corpus
import tiny_competition as tiny
from dojo_kernel import feedback
from dojo_kernel.grading import Grade
from dojo_kernel.rewards import RewardTracker

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"), name="tiny-feedback")


def test_units_read_as_a_person_writes_them():
    assert feedback.duration(None) == "no limit" and feedback.duration(5) == "5.0s"
    assert feedback.duration(125) == "2m 05s" and feedback.duration(7260) == "2h 01m"
    assert feedback.size(512) == "512 B" and feedback.size(3 * 1024**2) == "3.0 MB" and feedback.size(None) == "?"
    assert feedback.budget({"max_steps": 10, "steps_left": 4, "episode_time_s": None, "time_left_s": None}) == \
        "Budget: 4 of 10 steps left; no time limit."


def test_a_grade_says_the_score_its_direction_and_the_best_so_far(competition):
    rewards = RewardTracker("improvement", competition.higher_is_better)
    graded = Grade(valid=True, score=0.9, position=0.8, rank=3, teams=10, split="public",
                   metric=competition.metric, higher_is_better=True)
    rewards.on_grade(graded, 2)
    text = feedback.grade(graded, competition, rewards)
    assert f"working/{competition.submission_file}" in text and "higher is better" in text
    assert "rank 3 of 10" in text and "Best so far: 0.9 (step 2)" in text


def test_an_invalid_grade_says_what_is_wrong(competition):
    invalid = Grade(valid=False, error="expected 40 rows, got 39", split="public")
    text = feedback.grade(invalid, competition, RewardTracker("improvement"))
    assert "invalid" in text and "expected 40 rows, got 39" in text


def test_the_episode_end_and_the_history(competition):
    final = Grade(valid=True, score=1.0, position=1.0, medal="gold", above_median=True, split="private")
    text = feedback.episode_end("max_steps", final, None, competition)
    assert "the step budget is spent" in text and "medal: gold" in text
    assert feedback.history([], competition) == "No steps yet."
    lines = feedback.history([{"step": 1, "action": "execute_code", "status": "error", "score": None,
                               "reward": 0.0, "error": "NameError: x"}], competition)
    assert "NameError: x" in lines and "higher is better" in lines




def test_every_corpus_case_gets_what_it_needs(make_env):
    assert len(corpus.CASES) >= 30
    failures = {}
    seen = 0
    for case, obs, info in corpus.run(make_env):
        seen += 1
        found = corpus.problems(case, obs["feedback"], info)
        if found:
            failures[case.name] = found + [obs["feedback"][:1500]]
        assert info["feedback_chars"] == len(obs["feedback"])
        assert 0 < info["feedback_tokens"] < len(obs["feedback"])
    assert seen == len(corpus.CASES)
    assert not failures, json.dumps(failures, indent=1)


def test_errors_are_structured_in_info_and_rewards_and_the_notebook_keeps_the_traceback(make_env):
    env = make_env()
    env.reset()
    env.step("import pandas as pd\ntrain = pd.read_csv('input/train.csv')")
    obs, _, _, _, info = env.step("a = 1\ntrain['lable']")
    assert info["error"] == {"category": "runtime", "type": "KeyError", "message": "'lable'", "line": 2}
    assert obs["feedback"].startswith("KeyError: 'lable'\n")
    assert "site-packages" not in obs["feedback"] and len(obs["feedback"]) < 600
    assert '{"action": "request_info", "info_type": "traceback"}' in obs["feedback"]  # frames were left out

    obs, _, _, _, info = env.step({"action": "request_info", "info_type": "traceback"})
    assert "site-packages/pandas" in obs["feedback"] and "Traceback" in obs["feedback"]
    assert "error" not in info

    env.step({"action": "bogus"})
    rewards = [json.loads(line) for line in (env.run_dir / "rewards.jsonl").read_text().splitlines()]
    assert [entry["error"] and entry["error"]["category"] for entry in rewards] == [
        None, "runtime", None, "action"]
    assert rewards[1]["error"]["line"] == 2
    notebook = nbformat.read(env.run_dir / "trajectory.ipynb", as_version=4)
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert len(errors) == 1 and any("site-packages/pandas" in line for line in errors[0].traceback)


def test_full_style_keeps_the_whole_traceback_and_the_setting_is_checked(make_env):
    env = make_env(feedback="full")
    env.reset()
    obs, _, _, _, info = env.step("import pandas as pd\npd.DataFrame({'a': [1]})['b']")
    assert obs["feedback"].startswith("execute_code [1]: error")
    assert "site-packages/pandas" in obs["feedback"] and info["error"]["type"] == "KeyError"
    with pytest.raises(dojo_kernel.errors.ConfigError, match="feedback among compact, full"):
        make_env(feedback="short")
    with pytest.raises(dojo_kernel.errors.ConfigError, match="feedback_chars"):
        make_env(feedback_chars=10)


def test_traceback_before_any_error_says_there_is_none(make_env):
    env = make_env()
    env.reset()
    obs, _, _, _, _ = env.step({"action": "request_info", "info_type": "traceback"})
    assert obs["feedback"].startswith("No cell has failed yet")


def test_the_budget_holds_for_every_part(make_env):
    env = make_env(feedback_chars=1_500)
    env.reset()
    code = "print('x' * 50_000)\nfor i in range(500): print(i)\nraise ValueError('late ' * 400)"
    obs, *_ = env.step(code)
    assert obs["feedback"].startswith("ValueError: late late")
    assert len(obs["feedback"]) <= 1_500 and "left out" in obs["feedback"]
    assert "raise ValueError('late ' * 400)" in obs["feedback"]
