"""The llm agent against a real HTTP server (on 127.0.0.1, started here) that speaks chat completions."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("openai", reason="the llm agent needs the 'llm' extra (pip install 'dojo-kernel[llm]')")

from chat_server import ChatServer, completion
from dojo_kernel.agents import AgentError, get_agent
from dojo_kernel.agents.llm import count_tokens, extract_code
from dojo_kernel.errors import ConfigError

OBS = {"feedback": "Competition: toy. Predict y for each id; write working/submission.csv."}


def make_agent(server, **options):
    return get_agent("llm", model="test-model", base_url=server.base_url, api_key="sk-test",
                     backoff_s=0.01, **options)


def test_fenced_code_reply_becomes_execute_code_with_the_prose_as_message():
    reply = "First I load the data.\n```python\nimport pandas as pd\ndf = pd.read_csv('input/train.csv')\n```\n"
    with ChatServer([(200, completion(reply))]) as server:
        agent = make_agent(server)
        agent.reset(OBS)
        action = agent.act(OBS)
    assert action == {"action": "execute_code", "code": "import pandas as pd\ndf = pd.read_csv('input/train.csv')",
                      "message": "First I load the data."}
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "test-model"
    roles = [m["role"] for m in request["body"]["messages"]]
    assert roles == ["system", "user"]
    assert "Competition: toy" in request["body"]["messages"][1]["content"]
    assert {tool["function"]["name"] for tool in request["body"]["tools"]} == {"execute_code", "submit", "request_info"}
    assert agent.stats["prompt_tokens"] == 11 and agent.stats["completion_tokens"] == 7
    assert agent.stats["requests"] == 1


def test_tool_call_reply_becomes_the_action_and_the_next_observation_answers_it():
    replies = [(200, completion("Looking at the shapes.", tool_call=("execute_code", {"code": "print(df.shape)"}))),
               (200, completion(None, tool_call=("submit", {"final": True})))]
    with ChatServer(replies) as server:
        agent = make_agent(server)
        agent.reset(OBS)
        first = agent.act(OBS)
        second = agent.act({"feedback": "(891, 12)"})
    assert first == {"action": "execute_code", "code": "print(df.shape)", "message": "Looking at the shapes."}
    assert second == {"action": "submit", "final": True}
    messages = server.requests[1]["body"]["messages"]
    assert messages[-2]["role"] == "assistant" and messages[-2]["tool_calls"][0]["id"] == "call_1"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "(891, 12)"}
    assert agent.stats["total_tokens"] == 36


def test_reply_without_code_is_nudged_and_then_acted_on():
    replies = [(200, completion("I think a random forest would work well here.")),
               (200, completion("```python\nprint('ok')\n```"))]
    with ChatServer(replies) as server:
        agent = make_agent(server)
        agent.reset(OBS)
        action = agent.act(OBS)
    assert action == {"action": "execute_code", "code": "print('ok')"}
    assert agent.stats["replies_without_code"] == 1
    nudge = server.requests[1]["body"]["messages"][-1]
    assert nudge["role"] == "user" and "no code" in nudge["content"]


def test_replies_that_never_have_code_fall_back_to_showing_the_task():
    replies = [(200, completion("Hmm.")) for _ in range(3)]
    with ChatServer(replies) as server:
        agent = make_agent(server, max_nudges=2)
        agent.reset(OBS)
        action = agent.act(OBS)
    assert action["action"] == "request_info"
    assert len(server.requests) == 3


def test_http_500_is_retried_then_succeeds():
    replies = [(500, {"error": {"message": "overloaded"}}), (200, completion("```python\nx = 1\n```"))]
    with ChatServer(replies) as server:
        agent = make_agent(server)
        agent.reset(OBS)
        action = agent.act(OBS)
    assert action["code"] == "x = 1"
    assert len(server.requests) == 2
    assert agent.stats["retries"] == 1


def test_endpoint_that_keeps_failing_raises_agent_error_naming_the_fix():
    replies = [(503, {"error": {"message": "down"}})] * 3
    with ChatServer(replies) as server:
        agent = make_agent(server, max_retries=2)
        agent.reset(OBS)
        with pytest.raises(AgentError, match="kept failing after 3 tries"):
            agent.act(OBS)


def test_client_error_is_not_retried():
    with ChatServer([(401, {"error": {"message": "bad key"}})]) as server:
        agent = make_agent(server)
        agent.reset(OBS)
        with pytest.raises(AgentError, match="HTTP 401"):
            agent.act(OBS)
    assert len(server.requests) == 1


def test_history_is_trimmed_to_the_token_budget_keeping_the_task():
    long_output = "x" * 4000  # about 1000 tokens each
    replies = [(200, completion("```python\nprint('x' * 4000)\n```")) for _ in range(8)]
    with ChatServer(replies) as server:
        agent = make_agent(server, max_context_tokens=3000)
        agent.reset(OBS)
        agent.act(OBS)
        for _ in range(7):
            agent.act({"feedback": long_output})
    last = server.requests[-1]["body"]["messages"]
    sent = sum(count_tokens(m.get("content") or "") for m in last)
    assert sent <= 3000
    assert "Competition: toy" in last[1]["content"]  # the task itself is never dropped
    assert any("omitted" in (m.get("content") or "") for m in last)
    assert len(agent.history) > len(last)


def test_missing_model_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("DOJO_LLM_MODEL", raising=False)
    with pytest.raises(ConfigError, match="DOJO_LLM_MODEL"):
        get_agent("llm", base_url="http://127.0.0.1:9/v1")


def test_model_and_endpoint_come_from_the_environment(monkeypatch):
    with ChatServer([(200, completion("```python\npass\n```"))]) as server:
        monkeypatch.setenv("DOJO_LLM_MODEL", "env-model")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        agent = get_agent("llm", backoff_s=0.01)
        agent.reset(OBS)
        agent.act(OBS)
    assert server.requests[0]["body"]["model"] == "env-model"
    assert server.requests[0]["authorization"] == "Bearer sk-env"


def test_extract_code_prefers_python_blocks_and_joins_them():
    text = "Plan:\n```\nnot code\n```\nthen\n```python\na = 1\n```\nand\n```py\nb = 2\n```"
    code, prose = extract_code(text)
    assert code == "a = 1\n\nb = 2"
    assert prose.startswith("Plan:") and "a = 1" not in prose
    assert extract_code("no code here") == (None, "no code here")


def test_llm_agent_plays_a_whole_episode_through_dojo_run(tmp_path, capsys):
    """The model writes a submission with a tool call, then submits; the reasoning lands in the
    notebook and the token count in the summary."""
    import sys
    from pathlib import Path

    import nbformat

    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_competition
    from dojo_kernel.cli import main

    tiny_competition.build(tmp_path / "data")
    replies = [(200, completion("The label is 1 where x >= 50: write that rule.",
                                tool_call=("execute_code", {"code": tiny_competition.submission_code("perfect")}))),
               (200, completion(None, tool_call=("submit", {"final": True})))]
    with ChatServer(replies) as server:
        code = main(["run", tiny_competition.NAME, "--agent", "llm", "--model", "test-model", "--base-url",
                     server.base_url, "--agent-option", "backoff_s=0.01", "--out", str(tmp_path / "runs"),
                     "--agent-option", "prompt_usd_per_mtok=2.0", "--agent-option", "completion_usd_per_mtok=4.0",
                     "--isolation", "none", "--quiet", "--json", str(tmp_path / "summary.json")])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["final_score"] == 1.0 and summary["stopped_by"] == "final_submit"
    assert summary["agent_stats"]["total_tokens"] == 36 and summary["agent_stats"]["requests"] == 2
    assert "tokens" in capsys.readouterr().out
    # per step in rewards.jsonl, summed in summary.json: (11 * $2 + 7 * $4) per million tokens a call
    steps = [json.loads(line) for line in (Path(summary["run_dir"]) / "rewards.jsonl").read_text().splitlines()]
    assert [step["usage"]["total_tokens"] for step in steps] == [18, 18]
    assert steps[0]["usage"]["cost_usd"] == pytest.approx(50e-6)
    env_summary = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    assert env_summary["usage"]["total_tokens"] == 36 and env_summary["usage"]["requests"] == 2
    assert env_summary["usage"]["cost_usd"] == pytest.approx(100e-6)
    second = server.requests[1]["body"]["messages"]
    assert second[-1]["role"] == "tool" and "graded on the public split" in second[-1]["content"]
    notebook = nbformat.read(summary["notebook"], as_version=4)
    assert any("write that rule" in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_dojo_run_with_an_endpoint_that_stays_down_ends_in_one_line(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_competition
    from dojo_kernel.cli import main

    tiny_competition.build(tmp_path / "data")
    with ChatServer([(503, {"error": {"message": "down"}})] * 3) as server:
        code = main(["run", tiny_competition.NAME, "--agent", "llm", "--model", "m", "--base-url", server.base_url,
                     "--agent-option", "backoff_s=0.01", "--agent-option", "max_retries=2",
                     "--out", str(tmp_path / "runs"), "--isolation", "none", "--quiet"])
    assert code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    # --isolation none: the one other line is the warning that the kernel is not isolated
    assert all("isolated" in line for line in lines[:-1]), lines
    error = lines[-1]
    assert error.startswith("dojo run: error: the LLM endpoint kept failing after 3 tries")
    # the endpoint failed before the first step: an episode without a step leaves no run dir
    assert error.endswith("(no step was taken, so nothing was recorded)")
    assert not list((tmp_path / "runs").rglob("trajectory.ipynb"))


def _image_parts(request):
    return [part for message in request["body"]["messages"] if isinstance(message.get("content"), list)
            for part in message["content"] if part.get("type") == "image_url"]


@pytest.mark.parametrize("vision", [True, False])
def test_vision_sends_the_figures_a_cell_displayed_as_image_parts(tmp_path, vision):
    """A cell plots; with --vision the next request carries the figure as a PNG data URL (the
    bytes the env saved), without it no request carries an image."""
    import base64
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_competition
    from dojo_kernel.cli import main
    from figure_cells import plotting_code

    tiny_competition.build(tmp_path / "data")
    replies = [(200, completion("Look at the data.", tool_call=("execute_code", {"code": plotting_code(figures=2)}))),
               (200, completion(None, tool_call=("execute_code", {"code": "print('next')"}))),
               (200, completion(None, tool_call=("submit", {"final": True})))]
    with ChatServer(replies) as server:
        code = main(["run", tiny_competition.NAME, "--agent", "llm", "--model", "test-model", "--base-url",
                     server.base_url, "--out", str(tmp_path / "runs"), "--isolation", "none", "--quiet",
                     "--json", str(tmp_path / "summary.json"), "--agent-option", "max_images=1",
                     *(["--vision"] if vision else [])])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    figure = Path(summary["run_dir"]) / "figures" / "step-0001-1.png"
    assert figure.is_file() and (Path(summary["run_dir"]) / "figures" / "step-0001-2.png").is_file()
    second, third = server.requests[1], server.requests[2]
    if not vision:
        assert not [part for request in server.requests for part in _image_parts(request)]
        return
    parts = _image_parts(second)
    assert len(parts) == 1  # max_images=1 of the two figures
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == figure.read_bytes()
    messages = second["body"]["messages"]
    assert messages[-2]["role"] == "tool" and "[figure 1: image/png" in messages[-2]["content"]
    assert messages[-1]["role"] == "user" and messages[-1]["content"][0]["type"] == "text"
    # the next cell drew nothing: the figure left the conversation as a note
    assert _image_parts(third) == []
    assert any("figure(s) no longer shown" in str(message.get("content")) for message in third["body"]["messages"])
    assert summary["agent_stats"]["images_sent"] == 1
