"""DojoTextEnv on real kernels: raw replies in, chat messages out, malformed replies as feedback."""

from __future__ import annotations

import json

import pytest
from gymnasium.error import ResetNeeded

import tiny_competition as tiny
from dojo_kernel.adapters.text import NO_ACTION, DojoTextEnv, plain
from dojo_kernel.agents.llm import SYSTEM_PROMPT
from dojo_kernel.errors import ConfigError

pytestmark = pytest.mark.timeout(180)


def fenced(code: str, prose: str = "Next step.") -> str:
    return f"{prose}\n\n```python\n{code}\n```"


def test_a_fenced_block_runs_and_a_submission_is_graded(make_text_env):
    env = make_text_env(max_turns=5)
    messages, metadata = env.reset(seed=1)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT and "Tiny threshold" in messages[1]["content"]

    out = env.step(fenced("x = 20 + 22\nprint(x)"))
    assert out["done"] is False and out["reward"] == 0.0
    assert out["observations"][0]["role"] == "user" and "42" in out["observations"][0]["content"]
    assert out["metadata"]["status"] == "ok" and out["metadata"]["action"] == "execute_code"

    out = env.step(fenced(tiny.submission_code("perfect"), "Write the perfect submission."))
    assert out["metadata"]["score"] == 1.0 and out["reward"] > 0
    assert out["metadata"]["best_score"] == 1.0
    json.dumps(out)  # plain JSON all the way down: trainers log it and Ray ships it

    out = env.step("I am done. SUBMIT FINAL")
    assert out["done"] is True
    assert out["metadata"]["final_grade"]["valid"] is True and out["metadata"]["final_grade"]["split"] == "private"
    assert env.messages[-1] == out["observations"][0]
    assert [m["role"] for m in env.messages][2:] == ["assistant", "user"] * 3


@pytest.mark.parametrize("reply", [
    "I think we should look at the data first.",           # prose, no code
    "```python\n```",                                      # an empty block
    "<tool_call>{not json}</tool_call>",                   # a broken tool call in text
    None, 17, b"bytes", ["a", "list"],                      # not a reply at all
    {"content": 5},                                        # a message with a non-text body
    {"content": "x", "tool_calls": [{"function": {"name": "execute_code", "arguments": 5}}]},
    {"content": None, "lock": __import__("threading").Lock()},  # cannot be copied
])
def test_a_reply_without_an_action_becomes_feedback(make_text_env, reply):
    env = make_text_env(max_turns=3)
    env.reset()
    out = env.step(reply)
    assert out["done"] is False and out["reward"] == 0.0
    assert out["observations"] == [{"role": "user", "content": NO_ACTION}]
    assert out["metadata"]["parse_error"] == NO_ACTION and out["metadata"]["turn"] == 1
    # The env keeps working after it.
    out = env.step(fenced("print('still here')"))
    assert "still here" in out["observations"][0]["content"] and out["metadata"]["parse_error"] is None


def test_tool_calls_as_messages_and_in_text(make_text_env):
    env = make_text_env()
    env.reset()
    call = {"role": "assistant", "content": "Let me check.",
            "tool_calls": [{"id": "call_7", "type": "function",
                            "function": {"name": "execute_code", "arguments": json.dumps({"code": "print(6 * 7)"})}}]}
    out = env.step(call)
    assert out["observations"][0]["role"] == "tool" and out["observations"][0]["tool_call_id"] == "call_7"
    assert "42" in out["observations"][0]["content"]

    out = env.step('<tool_call>{"name": "request_info", "arguments": {"info_type": "sample_submission"}}</tool_call>')
    assert out["observations"][0]["role"] == "user" and out["metadata"]["action"] == "request_info"
    assert "id" in out["observations"][0]["content"]

    # Arguments handed over already parsed (a dict) are read the same way.
    parsed = {"role": "assistant", "content": "",
              "tool_calls": [{"id": "c8", "type": "function",
                              "function": {"name": "execute_code", "arguments": {"code": "print(7 * 6)"}}}]}
    out = env.step(parsed)
    assert out["observations"][0]["tool_call_id"] == "c8" and "42" in out["observations"][0]["content"]

    # An unknown tool is the env's usual invalid-action feedback, not an exception.
    bad = {"role": "assistant", "content": "",
           "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "rm_rf", "arguments": "{}"}}]}
    out = env.step(bad)
    assert out["metadata"]["action"] == "invalid" and "rm_rf" in out["observations"][0]["content"]


def test_max_turns_ends_the_episode_with_a_final_grade(make_text_env):
    env = make_text_env(max_turns=2)
    env.reset()
    assert env.step(fenced(tiny.submission_code("constant")))["done"] is False
    out = env.step("no action in this reply")
    assert out["done"] is True and out["metadata"]["end_reason"] == "final_submit"
    assert "last turn (2)" in out["observations"][0]["content"]
    assert out["metadata"]["final_grade"]["valid"] is True
    # Past the end, a reply is answered, never raised.
    out = env.step(fenced("print(1)"))
    assert out["done"] is True and "ended" in out["observations"][0]["content"]


def test_step_before_reset_and_bad_settings_raise_typed_errors(make_text_env, competition):
    env = make_text_env()
    with pytest.raises(ResetNeeded):
        env.step("```python\nprint(1)\n```")
    with pytest.raises(ConfigError, match="max_turns"):
        DojoTextEnv(competition.name, max_turns=0)


def test_plain_makes_json_values():
    import numpy as np
    assert plain({"a": np.float64(1.5), "b": (np.int64(2), float("nan")), "c": np.arange(2)}) == \
        {"a": 1.5, "b": [2, None], "c": [0, 1]}
