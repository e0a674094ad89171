"""Action fuzzing: hypothesis throws malformed actions at a real env (wrong types, sizes and
encodings, NUL bytes, bytes, nested junk, huge strings); a second test adds what hypothesis
itself cannot print (objects whose repr raises, lists nested 100,000 deep).
`step` must never raise and must always return an observation inside its space; a malformed
action is an "invalid" step with zero reward that says what was expected."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dojo_kernel
from dojo_kernel.actions import ACTION_NAMES, ActionError, parse_action

from .support import (
    HOSTILE_LIMITS,
    MARKER_VARIABLE,
    action_of,
    check_record,
    describe,
    kill_strays,
    wait_until_gone,
)

MAX_CODE_CHARS = 2_000  # small, so that "too long" is cheap to reach


class Unprintable:
    """An object whose repr, str, equality and hash all raise: an agent's bug, not a string."""

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    def __hash__(self) -> int:
        raise RuntimeError("hash refused")


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# Text with what breaks encoders: NUL, lone surrogates, control and non-BMP characters.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Zl", "Zp", "So"]), max_size=20),
    st.sampled_from(["\x00", "print(1)\x00", "\ud800", "a\udfffb", "\U0001F600" * 3, "\r\n\x1b[31m", "é" * 5]),
)
huge_text = st.integers(MAX_CODE_CHARS + 1, MAX_CODE_CHARS * 50).map(lambda n: "x" * n)
atoms = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True), nasty_text, st.binary(max_size=40),
    st.just(b"\xff\xfe" * 10), st.just(bytearray(b"print(1)")), st.just(np.bool_(True)),
    st.just(np.float64("nan")), st.just(np.arange(3)), st.just(math.inf), st.just(object()),
    st.builds(_nested, st.integers(0, 300)), st.just(Ellipsis), st.just({1, 2}),
    st.just(range(10**12)), st.just(lambda: None),
)
junk = st.recursive(atoms, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.none()), inner, max_size=4)),
    max_leaves=12)
field_names = st.sampled_from(["action", "code", "info_type", "final", "params", "message", "reasoning",
                               "cod", "Action", "", "\x00", "extra"])
action_names = st.one_of(st.sampled_from(ACTION_NAMES), nasty_text, junk)
actions = st.one_of(
    junk,
    nasty_text,  # a bare string is code: it runs (and mostly fails to parse)
    huge_text,
    st.fixed_dictionaries({"action": action_names}, optional={"code": st.one_of(junk, nasty_text, huge_text),
                                                              "info_type": junk, "final": junk,
                                                              "message": junk, "params": junk}),
    st.dictionaries(field_names, junk, max_size=5),
    st.builds(lambda name, params: {"action": name, "params": params}, action_names,
              st.dictionaries(field_names, junk, max_size=3)),
)


@pytest.fixture(scope="module")
def fuzz_env(reliability_competition, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    marker = uuid.uuid4().hex
    env = dojo_kernel.make(reliability_competition.name, output_dir=root / "runs", warm_pool=0,
                           max_code_chars=MAX_CODE_CHARS, kernel_env={MARKER_VARIABLE: marker}, **HOSTILE_LIMITS)
    env.reset(seed=0)
    yield env
    run_dir = env.run_dir
    env.close()
    check_record(run_dir)
    left = wait_until_gone(root, marker)
    kill_strays(left)
    assert not left, f"left running after close(): {describe(left)}"


def _well_formed(action: object) -> bool:
    try:
        return not isinstance(parse_action(action, max_code_chars=MAX_CODE_CHARS), ActionError)
    except Exception:  # the env's step must not raise even where parse_action would
        return False


@pytest.mark.timeout(600)
@settings(max_examples=600, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(action=actions)
def test_step_never_raises_and_stays_in_its_observation_space(fuzz_env, action):
    parsed = parse_action(action, max_code_chars=MAX_CODE_CHARS)
    if getattr(parsed, "final", False):
        action = {"action": "submit"}  # a final submit would end the shared episode
    obs, reward, terminated, truncated, info = fuzz_env.step(action)
    assert obs in fuzz_env.observation_space
    assert isinstance(reward, float) and math.isfinite(reward)
    assert not (terminated or truncated), obs["feedback"][:500]
    if not _well_formed(action):
        assert action_of(obs) == "invalid", obs["feedback"][:500]
        assert reward == 0.0 and obs["feedback"].startswith("Invalid action: expected"), obs["feedback"][:500]
        assert info.get("error"), info


@pytest.mark.timeout(120)
@pytest.mark.parametrize("action", [
    Unprintable(), {"action": Unprintable()}, {"action": "execute_code", "code": Unprintable()},
    {"action": "submit", "final": Unprintable()},
    _nested(100_000), {"action": "execute_code", "code": _nested(100_000)},
    {"action": "request_info", "info_type": _nested(100_000)},
    "x" * 10_000_000, b"\x00" * 10_000_000, {"action": "execute_code", "code": "print(1)\x00"},
], ids=["unprintable", "unprintable_name", "unprintable_code", "unprintable_final", "deep_list",
        "deep_code", "deep_info_type", "10_mb_string", "10_mb_of_nul_bytes", "nul_in_code"])
def test_pathological_actions(fuzz_env, action):
    obs, reward, terminated, truncated, info = fuzz_env.step(action)
    assert obs in fuzz_env.observation_space
    assert reward == 0.0 and not (terminated or truncated)
    if isinstance(action, dict) and isinstance(action.get("code"), str):  # well formed: Python rejects it
        assert "null" in obs["feedback"].lower(), obs["feedback"][:500]  # Python's own SyntaxError
    else:
        assert action_of(obs) == "invalid" and obs["feedback"].startswith("Invalid action"), obs["feedback"][:500]
    run_dir = Path(info["run_dir"])
    check_record(run_dir)
    assert (run_dir / "trajectory.ipynb").stat().st_size < 5_000_000, "a huge action bloated the notebook"


class HostileStr(str):
    """A str whose every method an env might call raises or lies (issue 14, item 14)."""

    def _refuse(self, *args, **kwargs):
        raise RuntimeError("hostile str")

    __hash__ = str.__hash__  # so that it can be a key at all; equality still refuses
    __eq__ = __ne__ = __len__ = __str__ = __repr__ = __iter__ = __contains__ = _refuse  # type: ignore
    encode = startswith = endswith = split = strip = splitlines = replace = __getitem__ = _refuse  # type: ignore
    __add__ = __radd__ = __mod__ = __format__ = _refuse  # type: ignore


class HostileDict(dict):
    """A dict whose reading methods raise: the env must read the entries themselves."""

    def _refuse(self, *args, **kwargs):
        raise RuntimeError("hostile dict")

    keys = items = values = get = pop = __getitem__ = __iter__ = __contains__ = __len__ = copy = _refuse  # type: ignore


@pytest.mark.timeout(120)
@pytest.mark.parametrize("action", [
    HostileStr("print('hostile' + 'str')"),
    {"action": HostileStr("execute_code"), "code": HostileStr("print('hostile' + 'str')"),
     HostileStr("message"): HostileStr("why")},
    HostileDict(action="execute_code", code="print('hostile' + 'str')"),
    {"action": "execute_code", "params": HostileDict({HostileStr("code"): HostileStr("print('hostile' + 'str')")})},
], ids=["bare_code", "fields_and_keys", "dict_subclass", "params_subclass"])
def test_hostile_str_and_dict_subclasses_are_read_as_plain_values(fuzz_env, action):
    obs, reward, terminated, truncated, info = fuzz_env.step(action)
    assert obs in fuzz_env.observation_space
    assert action_of(obs) == "execute_code" and "hoststr" not in obs["feedback"]
    assert "hostilestr" in obs["feedback"], obs["feedback"][:500]
    check_record(Path(info["run_dir"]))


@pytest.mark.timeout(120)
def test_a_huge_message_is_refused_and_keeps_the_notebook_small(fuzz_env):
    notebook = Path(fuzz_env.run_dir) / "trajectory.ipynb"
    before = notebook.stat().st_size if notebook.exists() else 0
    obs, reward, terminated, truncated, info = fuzz_env.step({"action": "get_history", "message": "m" * 2_000_000})
    assert action_of(obs) == "invalid" and "at most" in obs["feedback"], obs["feedback"][:500]
    check_record(Path(info["run_dir"]))
    assert notebook.stat().st_size - before < 100_000, "a huge message bloated the notebook"
