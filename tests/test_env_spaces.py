"""The parts of DojoEnv that need no kernel: action parsing, the spaces, the reward arithmetic."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dojo_kernel.actions import ACTION_NAMES, INFO_TYPES, Action, ActionError, parse_action
from dojo_kernel.grading import Grade
from dojo_kernel.rewards import REWARD_MODES, RewardTracker
from dojo_kernel.spaces import ActionSpace, CodeSpace, FreeText, observation_space

LIMIT = 1_000


def parse(raw):
    return parse_action(raw, max_code_chars=LIMIT)


# ------------------------------------------------------------------ actions

@pytest.mark.parametrize("raw, expected", [
    ("print(1)", Action("execute_code", code="print(1)")),
    ({"action": "execute_code", "code": "x = 1"}, Action("execute_code", code="x = 1")),
    ({"action": "validate_code", "code": "x = 1"}, Action("validate_code", code="x = 1")),
    ({"action": "request_info", "info_type": "overview"}, Action("request_info", info_type="overview")),
    ({"action": "submit"}, Action("submit", final=False)),
    ({"action": "submit", "final": True}, Action("submit", final=True)),
    ({"action": "submit", "final": np.bool_(True)}, Action("submit", final=True)),
    ({"action": "restart_kernel"}, Action("restart_kernel")),
    ({"action": "get_history", "message": "why"}, Action("get_history", message="why")),
    ({"action": "execute_code", "params": {"code": "y"}}, Action("execute_code", code="y")),
    ({"action": "execute_code", "code": "y", "reasoning": "try"}, Action("execute_code", code="y", message="try")),
])
def test_well_formed_actions_parse(raw, expected):
    assert parse(raw) == expected


@pytest.mark.parametrize("raw, words", [
    (None, ["expected an action dict", "NoneType"]),
    (b"print(1)", ["expected an action dict", "bytes", "Decode"]),
    (42, ["expected an action dict", "int 42"]),
    (["execute_code"], ["expected an action dict", "list"]),
    ({}, ["expected a field 'action'"]),
    ({"code": "x"}, ["expected a field 'action'", "'code'"]),
    ({"action": "run"}, ["expected an action among", "'run'"]),
    ({"action": 3}, ["expected an action among", "3"]),
    ({"action": "execute_code"}, ["expected field 'code' for execute_code", "got none"]),
    ({"action": "execute_code", "code": None}, ["expected field 'code'"]),
    ({"action": "execute_code", "code": 5}, ["expected field 'code' of execute_code to be a str", "int 5"]),
    ({"action": "execute_code", "code": b"x=1"}, ["to be a str", "bytes", "decode"]),
    ({"action": "execute_code", "code": "x" * (LIMIT + 1)}, [f"at most {LIMIT} characters", f"got {LIMIT + 1}"]),
    ("x" * (LIMIT + 1), [f"at most {LIMIT} characters"]),
    ({"action": "execute_code", "code": "x = '\ud800'"}, ["UTF-8", "surrogate"]),
    ({"action": "request_info"}, ["expected field 'info_type'"]),
    ({"action": "request_info", "info_type": "everything"}, ["info_type among", "'everything'"]),
    ({"action": "submit", "final": "yes"}, ["'final' of submit to be true or false", "'yes'"]),
    ({"action": "submit", "fianl": True}, ["unexpected field", "fianl"]),
    ({"action": "restart_kernel", "code": "x"}, ["unexpected field", "code"]),
    ({"action": "get_history", "message": 7}, ["'message'", "to be a str"]),
    ({"action": "execute_code", "params": "code"}, ["'params' to be a dict"]),
    ({"action": "execute_code", "code": "a", "params": {"code": "b"}}, ["each field once", "code"]),
])
def test_malformed_actions_say_what_was_expected(raw, words):
    problem = parse(raw)
    assert isinstance(problem, ActionError)
    assert problem.message.startswith("expected"), problem.message
    for word in words:
        assert word in problem.message, (word, problem.message)


@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.text(max_size=50),
                 st.lists(st.integers()), st.dictionaries(st.text(max_size=8), st.one_of(
                     st.none(), st.text(max_size=20), st.integers(), st.booleans()), max_size=4)))
def test_parse_action_never_raises(raw):
    assert isinstance(parse(raw), (Action, ActionError))


# ------------------------------------------------------------------ spaces

def test_code_space_accepts_any_python_source_and_rejects_the_rest():
    space = CodeSpace(100)
    assert "def f(x):\n\treturn x  # λ 数据 é\n" in space
    assert "" in space
    assert "x" * 100 in space
    assert "x" * 101 not in space
    assert b"print(1)" not in space
    assert None not in space
    assert 3 not in space
    assert "'\ud800'" not in space  # a lone surrogate cannot travel as UTF-8


def test_code_space_sample_is_seeded_valid_python():
    first, second = CodeSpace(10_000, seed=7), CodeSpace(10_000, seed=7)
    samples = [first.sample() for _ in range(20)]
    assert samples == [second.sample() for _ in range(20)]
    assert len(set(samples)) > 10
    for code in samples:
        assert code in first
        compile(code, "<sample>", "exec")
    assert any("\n" in code for code in samples)
    assert any(not code.isascii() for code in samples)


def test_space_equality_repr_and_pickling():
    assert CodeSpace(10) == CodeSpace(10)
    assert CodeSpace(10) != CodeSpace(11)
    assert CodeSpace(10) != FreeText(10)
    assert repr(CodeSpace(10)) == "CodeSpace(max_length=10)"
    assert repr(ActionSpace(500)) == "ActionSpace(max_code_chars=500)"
    assert ActionSpace(500) == ActionSpace(500) != ActionSpace(501)
    space = observation_space(2_000)
    assert pickle.loads(pickle.dumps(space)) == space
    with pytest.raises(ValueError, match="expected a positive int"):
        FreeText(0)


def test_free_text_sample_is_seeded_and_inside():
    space = FreeText(50, seed=3)
    samples = [space.sample() for _ in range(30)]
    assert all(sample in space for sample in samples)
    space.seed(3)
    assert [space.sample() for _ in range(30)] == samples


def test_action_space_contains_exactly_what_step_accepts():
    space = ActionSpace(LIMIT, seed=1)
    names = set()
    for _ in range(200):
        action = space.sample()
        assert action in space
        assert isinstance(parse(action), Action)
        names.add(action["action"])
    assert names == set(ACTION_NAMES)
    assert "print(1)" in space
    assert {"action": "request_info", "info_type": INFO_TYPES[0]} in space
    assert {"action": "nope"} not in space
    assert b"print(1)" not in space
    space.seed(5)
    first = [space.sample() for _ in range(10)]
    space.seed(5)
    assert [space.sample() for _ in range(10)] == first


# ------------------------------------------------------------------ rewards

def graded(score, position):
    return Grade(valid=True, score=score, position=position, split="public")


INVALID = Grade(valid=False, error="missing column", split="public")


def run(mode, grades, final=None, higher_is_better=True):
    tracker = RewardTracker(mode, higher_is_better)
    rewards = [tracker.on_grade(grade, step) for step, grade in enumerate(grades, 1)]
    return tracker, rewards, tracker.on_final(final)


def test_improvement_rewards_sum_to_the_best_position():
    grades = [graded(0.7, 0.4), INVALID, graded(0.65, 0.3), graded(0.8, 0.6), graded(0.75, 0.5)]
    tracker, rewards, final = run("improvement", grades, graded(0.79, 0.55))
    assert rewards == pytest.approx([0.4, 0.0, 0.0, 0.2, 0.0])
    assert sum(rewards) == pytest.approx(tracker.best_position) == pytest.approx(0.6)
    assert final == 0.0
    assert (tracker.best_score, tracker.best_step, tracker.graded, tracker.valid) == (0.8, 4, 5, 4)


def test_position_and_raw_reward_every_graded_submission():
    grades = [graded(0.7, 0.4), INVALID, graded(0.65, 0.3)]
    assert run("position", grades)[1] == pytest.approx([0.4, 0.0, 0.3])
    assert run("raw", grades)[1] == pytest.approx([0.7, 0.0, 0.65])


def test_final_mode_pays_only_the_private_position_at_the_end():
    grades = [graded(0.7, 0.4), graded(0.8, 0.6)]
    _, rewards, final = run("final", grades, Grade(valid=True, score=0.78, position=0.55, split="private"))
    assert rewards == [0.0, 0.0] and final == pytest.approx(0.55)
    assert run("final", grades, Grade(valid=False, error="x", split="private"))[2] == 0.0
    assert run("final", grades, None)[2] == 0.0


def test_best_score_follows_the_metric_direction():
    grades = [graded(3.0, 0.2), graded(2.0, 0.5), graded(2.5, 0.4)]
    tracker, _, _ = run("position", grades, higher_is_better=False)
    assert (tracker.best_score, tracker.best_step, tracker.best_position) == (2.0, 2, 0.5)


def test_unknown_reward_mode_is_a_config_error():
    from dojo_kernel.errors import ConfigError
    with pytest.raises(ConfigError, match="reward_mode among improvement, position, raw, final"):
        RewardTracker("best")
    assert set(REWARD_MODES) == {"improvement", "position", "raw", "final"}
