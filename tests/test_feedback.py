"""feedback.py: the text an agent reads, built from real grades of a real (tiny) competition."""

from __future__ import annotations

import pytest

from dojo_kernel import feedback
from dojo_kernel.grading import Grade
from dojo_kernel.rewards import RewardTracker

import tiny_competition as tiny


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
