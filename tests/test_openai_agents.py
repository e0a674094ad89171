"""The openai-agents agent (the OpenAI Agents SDK, its tools the env's actions) end to end: a real
env on the tiny competition, a real kernel, and a scripted chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("agents", reason="the openai-agents agent needs the 'agents' extra (pip install 'dojo-kernel[agents]')")

import nbformat

import dojo_kernel
from chat_server import ChatServer, completion
from dojo_kernel.agents import get_agent, run_episode
from dojo_kernel.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent))
import tiny_competition  # noqa: E402


def call(name, arguments, call_id, content=None):
    """A reply that calls one tool; `arguments` a dict, or raw text for a malformed call. Each call
    has its own id, as a model's do (the SDK refuses an id used twice)."""
    reply = completion(content, tool_call=(name, {}))
    function = reply["choices"][0]["message"]["tool_calls"][0]
    function["id"] = call_id
    function["function"]["arguments"] = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return reply


def scripted(replies):
    """Answer the n-th request with the n-th reply; the requests are kept by the server."""
    replies = list(replies)
    return lambda body: replies.pop(0) if replies else (500, {"error": {"message": "no reply left"}})


def tool_results(server):
    """What the model got back for its tool calls, in order, as its last request carried them."""
    return [message["content"] for message in server.requests[-1]["body"]["messages"] if message["role"] == "tool"]


def two_calls(first, second):
    """A reply that calls two tools at once (a model's parallel tool calls): two env steps."""
    reply = call(*first)
    reply["choices"][0]["message"]["tool_calls"] += call(*second)["choices"][0]["message"]["tool_calls"]
    return reply


def watch_traces():
    """A list that every trace and span the SDK starts is appended to (a processor beside its own)."""
    import agents

    seen = []

    class Watch(agents.TracingProcessor):
        def on_trace_start(self, trace): seen.append(trace)
        def on_trace_end(self, trace): pass
        def on_span_start(self, span): seen.append(span)
        def on_span_end(self, span): pass
        def shutdown(self): pass
        def force_flush(self): pass

    agents.add_trace_processor(Watch())
    return seen


def test_agent_executes_validates_and_submits_each_tool_call_one_env_step(tmp_path):
    tiny_competition.build(tmp_path / "data")
    perfect = tiny_competition.submission_code("perfect")
    replies = [call("execute_code", {"code": perfect}, "call_a", content="Write the rule as the submission."),
               call("validate_code", {"code": "print(40 + 2)"}, "call_b"),
               call("submit", {"final": True}, "call_c")]
    feedback = []
    traced = watch_traces()
    with ChatServer(scripted(replies)) as server:
        agent = get_agent("openai-agents", model="test-model", base_url=server.base_url, api_key="sk-test")
        env = dojo_kernel.make(tiny_competition.NAME, output_dir=tmp_path / "runs", isolation="none")
        summary = run_episode(env, agent, on_step=lambda event: feedback.append(event.observation["feedback"]))
    assert summary["steps"] == 3 and summary["stopped_by"] == "final_submit"
    assert summary["final_score"] == 1.0
    assert summary["agent_stats"]["requests"] == 3 and summary["agent_stats"]["total_tokens"] == 54
    assert traced == []  # tracing is off: nothing for the SDK's exporter to send anywhere
    # the model spoke chat completions to the given endpoint, with the env's actions as its tools
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["authorization"] == "Bearer sk-test"
    assert first["body"]["model"] == "test-model"
    assert {tool["function"]["name"] for tool in first["body"]["tools"]} == {
        "request_info", "validate_code", "execute_code", "submit"}
    assert "Tiny threshold" in first["body"]["messages"][-1]["content"]  # the task from reset()
    # each tool result the model got back is the env's feedback of that step; the last step ended
    # the episode, so the model was not asked again
    assert len(server.requests) == 3
    assert tool_results(server) == feedback[:2]
    assert "graded on the public split" in feedback[0] and "42" in feedback[1]
    notebook = nbformat.read(summary["notebook"], as_version=4)
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert sources == [perfect, "print(40 + 2)"]
    assert any("Write the rule" in cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    steps = [json.loads(line) for line in (Path(summary["run_dir"]) / "rewards.jsonl").read_text().splitlines()]
    assert [step["action"] for step in steps] == ["execute_code", "validate_code", "submit"]
    assert steps[0]["reward"] == pytest.approx(1.0) and steps[1]["reward"] == 0
    assert [step["usage"]["total_tokens"] for step in steps] == [18, 18, 18]
    agent.close()  # the SDK's event loop thread ends with the agent
    assert not [thread for thread in threading.enumerate() if thread.name == "openai-agents-runner"]


def test_unknown_tools_and_bad_arguments_come_back_as_text_and_the_episode_goes_on(tmp_path, capsys):
    """Through `dojo run`: a tool the agent lacks, arguments that are not JSON, an info type that
    does not exist; each mistake is text the model reads, and its final answer ends the episode."""
    from dojo_kernel.cli import main

    tiny_competition.build(tmp_path / "data")
    replies = [call("train_model", {"epochs": 3}, "call_a"),
               call("execute_code", "{'code': print(1)", "call_b"),
               call("request_info", {"info_type": "secrets"}, "call_c"),
               two_calls(("execute_code", {"code": "print('still', 'here')"}, "call_d"),
                         ("validate_code", {"code": "print(6 * 7)"}, "call_e")),
               completion("I am done: no submission this time.")]
    with ChatServer(scripted(replies)) as server:
        code = main(["run", tiny_competition.NAME, "--agent", "openai-agents", "--model", "test-model",
                     "--base-url", server.base_url, "--out", str(tmp_path / "runs"), "--isolation", "none",
                     "--quiet", "--json", str(tmp_path / "summary.json")])
    assert code == 0, capsys.readouterr()
    summary = json.loads((tmp_path / "summary.json").read_text())
    unknown, not_json, bad_info, still_here, validated = tool_results(server)
    assert "train_model" in unknown and "not found" in unknown  # the SDK's answer; no env step spent
    assert "expected field 'code'" in not_json  # the env's message about the missing code
    assert "secrets" in bad_info and "overview" in bad_info  # the env names the info types it has
    assert "still here" in still_here  # the kernel kept working after the mistakes
    assert "42" in validated  # two calls in one reply: two steps, each answered in turn
    # four env steps and the final answer, which submits (there is no submission: no score)
    assert summary["steps"] == 5 and summary["stopped_by"] == "final_submit"
    assert summary["final_score"] is None
    steps = [json.loads(line) for line in (Path(summary["run_dir"]) / "rewards.jsonl").read_text().splitlines()]
    # the malformed actions are recorded as invalid steps, with the env's message
    assert [step["action"] for step in steps] == ["invalid", "invalid", "execute_code", "validate_code", "submit"]
    assert "expected field 'code' for execute_code" in steps[0]["error"]["message"]
    notebook = nbformat.read(summary["notebook"], as_version=4)
    assert any("I am done" in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_missing_model_is_a_config_error_naming_the_fix(monkeypatch):
    monkeypatch.delenv("DOJO_LLM_MODEL", raising=False)
    with pytest.raises(ConfigError, match="DOJO_LLM_MODEL"):
        get_agent("openai-agents")
    with pytest.raises(ConfigError, match="max_turns"):
        get_agent("openai-agents", model="m", max_turns=0)


def test_the_agent_plays_again_after_an_episode_ends_mid_call_and_after_close():
    """Without an env: the run is left waiting on a tool result (the env ended the episode);
    end_episode() cancels it, and a closed agent starts a new loop and client when used again."""
    observation = {"feedback": "Competition: toy. Write working/submission.csv."}
    replies = [call("execute_code", {"code": "print(1)"}, "call_a"),
               call("execute_code", {"code": "print(2)"}, "call_b"),
               call("submit", {"final": True}, "call_c")]
    with ChatServer(scripted(replies)) as server:
        agent = get_agent("openai-agents", model="test-model", base_url=server.base_url)
        agent.reset(observation)
        assert agent.act(observation) == {"action": "execute_code", "code": "print(1)"}
        agent.end_episode()  # the episode ended while the tool call waited for its feedback
        agent.reset(observation)
        assert agent.act(observation) == {"action": "execute_code", "code": "print(2)"}
        agent.close()
        assert not [thread for thread in threading.enumerate() if thread.name == "openai-agents-runner"]
        agent.reset(observation)
        assert agent.act(observation) == {"action": "submit", "final": True}
        agent.close()
    # each episode began anew: the task alone, no tool result of the one before
    assert [len(request["body"]["messages"]) for request in server.requests] == [2, 2, 2]
