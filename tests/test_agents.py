"""The agent registry, the human agent's prompt, and episodes played by agents in a real env."""

from __future__ import annotations

import io
import sys
import textwrap

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
