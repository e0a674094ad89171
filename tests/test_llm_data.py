"""agents/llm_data.py: recorded episodes as chat JSONL for fine-tuning, in the LLM agent's protocols."""

from __future__ import annotations

import json

import pytest

from dojo_kernel.agents.llm_data import export_chat_jsonl
from dojo_kernel.trajectory import StepRecord
from recorded_episode import recorder as _recorder


@pytest.mark.parametrize("style", ["text", "tools"])
def test_chat_jsonl_export(episode, tmp_path, style):
    run_dir, records = episode
    out = tmp_path / "chat.jsonl"
    assert export_chat_jsonl([run_dir], out, system_prompt="You solve competitions.", style=style) == 1
    lines = out.read_text().splitlines()
    sample = json.loads(lines[0])
    messages = sample["messages"]
    assert messages[0] == {"role": "system", "content": "You solve competitions."}
    assert messages[1]["content"].startswith("Predict label from x")
    replies = [message for message in messages if message["role"] == "assistant"]
    assert len(replies) == len(records) and messages[-1]["role"] == "assistant"
    second = replies[1]
    if style == "text":
        assert second["content"] == "First, a variable.\n\n```python\nx = 41\nprint('x is', x)\n```"
    else:
        call = second["tool_calls"][0]["function"]
        assert second["content"] == "First, a variable." and call["name"] == "execute_code"
        assert json.loads(call["arguments"]) == {"code": "x = 41\nprint('x is', x)"}
        assert messages[messages.index(second) + 1]["role"] == "tool"
    assert sample["metadata"]["has_messages"] is True and sample["metadata"]["final_score"] == 0.9


def test_chat_export_can_skip_episodes_without_messages(tmp_path):
    recorder = _recorder(tmp_path / "run")
    recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))
    recorder.close({})
    out = tmp_path / "chat.jsonl"
    assert export_chat_jsonl(tmp_path / "run", out, system_prompt="s", require_messages=True) == 0
    assert out.read_text() == ""
    assert export_chat_jsonl(tmp_path / "run", out, system_prompt="s") == 1
    assert json.loads(out.read_text())["metadata"]["has_messages"] is False


