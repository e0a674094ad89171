"""Extending DojoEnv by registration: custom actions, info providers, feedback formatters and
reward functions in real episodes (real kernels, real grading, real notebooks), and the two
worked examples in examples/custom_extensions.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import warnings
from pathlib import Path

import gymnasium
import nbformat
import pytest
from gymnasium.utils.env_checker import check_env

import dojo_kernel
import tiny_competition as tiny
from dojo_kernel.actions import parse_action
from dojo_kernel.agents.llm import TOOLS
from dojo_kernel.errors import ConfigError
from dojo_kernel.extensions import ActionResult, EpisodeContext, KernelAccess, resolve, unregister

pytestmark = pytest.mark.timeout(240)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "custom_extensions.py"


def load_examples():
    spec = importlib.util.spec_from_file_location("custom_extensions", EXAMPLES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"))




@pytest.fixture
def registered():
    """Names registered by a test, forgotten after it so other tests see the built-ins only."""
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def count_rows(ctx: EpisodeContext, name: str, scale: int = 1) -> ActionResult:
    """Count the rows of a DataFrame in the kernel."""
    code = f"print(len({name}) * {int(scale)})"
    result = ctx.kernel.run(code)
    return ActionResult(feedback=f"{name} has {result.text.strip()} rows (x{scale})", code=code, reward=0.25,
                        info={"rows": result.text.strip()})


COUNT_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "description": "a DataFrame variable"},
    "scale": {"type": "integer", "description": "multiply by this"}}, "required": ["name"]}


def run_dir_of(env) -> Path:
    return Path(env.run_dir)


# ------------------------------------------------------------------ the registry itself

def test_built_in_actions_are_entries_of_the_registry():
    action_set = resolve()
    assert action_set.names[:6] == dojo_kernel.actions.ACTION_NAMES
    assert all(action_set.actions[name].builtin for name in dojo_kernel.actions.ACTION_NAMES)
    assert action_set.info_types == dojo_kernel.actions.INFO_TYPES
    # The llm agent's default tools are what the registry gives for the built-ins.
    assert sorted(t["function"]["name"] for t in action_set.tools()) == sorted(t["function"]["name"] for t in TOOLS)


def test_bad_registrations_say_what_fits(registered):
    with pytest.raises(ConfigError, match="built-in"):
        dojo_kernel.register_action("execute_code", count_rows)
    with pytest.raises(ConfigError, match="callable"):
        dojo_kernel.register_action("count_rows", "not a function")
    with pytest.raises(ConfigError, match="required field"):
        dojo_kernel.register_action("count_rows", count_rows, schema={"properties": {}, "required": ["name"]})
    with pytest.raises(ConfigError, match="built-in reward mode"):
        dojo_kernel.register_reward("position", lambda grade, tracker: 1.0)
    with pytest.raises(ConfigError, match="register_action"):
        resolve(["no_such_action"])
    registered.append("count_rows")
    dojo_kernel.register_action("count_rows", count_rows, schema=COUNT_SCHEMA)
    with pytest.raises(ConfigError, match="already registered"):
        dojo_kernel.register_action("count_rows", count_rows)


def test_a_registered_action_s_fields_are_checked_like_a_built_in_s(registered):
    registered.append("count_rows")
    dojo_kernel.register_action("count_rows", count_rows, schema=COUNT_SCHEMA)
    action_set = resolve()
    ok = parse_action({"action": "count_rows", "name": "train", "scale": 2}, max_code_chars=1000, action_set=action_set)
    assert ok.name == "count_rows" and ok.fields == {"name": "train", "scale": 2}
    missing = parse_action({"action": "count_rows"}, max_code_chars=1000, action_set=action_set)
    assert "expected field 'name'" in missing.message
    wrong = parse_action({"action": "count_rows", "name": "t", "scale": "2"}, max_code_chars=1000, action_set=action_set)
    assert "to be a integer, got str" in wrong.message
    extra = parse_action({"action": "count_rows", "name": "t", "colour": 1}, max_code_chars=1000, action_set=action_set)
    assert "unexpected field" in extra.message


def test_the_context_leads_nowhere_near_the_private_answers(competition, make_env, registered):
    """Walk everything a handler can reach from its context: no path into private/."""
    seen: list[EpisodeContext] = []
    registered.append("grab")
    dojo_kernel.register_action("grab", lambda ctx: seen.append(ctx) or "ok")
    env = make_env()
    env.reset(seed=0)
    env.step({"action": "grab"})
    (ctx,) = seen
    private = str(Path(competition.private_dir).resolve())
    values = []
    for item in dataclasses.fields(ctx):
        value = getattr(ctx, item.name)
        values.extend(dataclasses.asdict(value).values() if dataclasses.is_dataclass(value) else [value])
    assert isinstance(ctx.kernel, KernelAccess) and not hasattr(ctx.kernel, "__dict__")  # only run()
    assert all(private not in str(value) for value in values), values
    assert not hasattr(ctx.competition, "grade") and not hasattr(ctx.competition, "private_dir")


# ------------------------------------------------------------------ in an episode

def test_a_custom_action_runs_in_the_kernel_and_is_recorded_like_a_built_in(make_env, registered):
    registered.append("count_rows")
    dojo_kernel.register_action("count_rows", count_rows, schema=COUNT_SCHEMA)
    env = make_env(max_steps=10)
    obs, _ = env.reset(seed=0)
    assert '"action": "count_rows"' in obs["feedback"]  # the first observation lists it
    assert {"action": "count_rows", "name": "x"} in env.action_space
    assert any(t["function"]["name"] == "count_rows" for t in env.action_space.tools())
    env.step({"action": "execute_code", "code": "import pandas as pd\ntrain = pd.read_csv('input/train.csv')"})
    obs, reward, terminated, truncated, info = env.step({"action": "count_rows", "name": "train", "scale": 2,
                                                        "message": "how big is it?"})
    assert obs in env.observation_space
    assert obs["feedback"].startswith("train has 400 rows (x2)")
    assert reward == 0.25 and info["action"] == "count_rows" and info["action_info"] == {"rows": "400"}
    assert env._observation_actions[int(obs["action"])] == "count_rows"
    # A failing handler is the agent's feedback, not an exception; the env keeps working.
    obs, *_ , info = env.step({"action": "count_rows", "name": "no_such_frame"})
    assert "NameError" in obs["feedback"] or "not defined" in obs["feedback"]
    env.close()

    run = run_dir_of(env)
    cells = [c for c in nbformat.read(run / "trajectory.ipynb", as_version=4).cells
             if c.metadata.get("dojo", {}).get("action") == "count_rows"]
    assert cells[0].cell_type == "code" and cells[0].source == "print(len(train) * 2)"
    assert cells[0].metadata["dojo"]["arguments"] == {"name": "train", "scale": 2}
    lines = [json.loads(line) for line in (run / "rewards.jsonl").read_text().splitlines()]
    assert [line["reward"] for line in lines if line["action"] == "count_rows"][0] == 0.25
    summary = json.loads((run / "summary.json").read_text())
    assert summary["custom_actions"] == ["count_rows"]


def test_a_custom_info_provider_is_listed_and_answers(make_env, registered):
    registered.append("data_dictionary")
    dojo_kernel.register_info("data_dictionary", lambda ctx: f"x: a number in {ctx.competition.name}; label: 0 or 1")
    env = make_env(max_steps=5)
    obs, _ = env.reset(seed=0)
    assert "data_dictionary" in obs["feedback"].split("ONE_OF(")[1].split(")")[0]
    assert any("data_dictionary" in t["function"]["parameters"]["properties"]["info_type"].get("enum", [])
               for t in env.action_space.tools() if t["function"]["name"] == "request_info")
    obs, *_ = env.step({"action": "request_info", "info_type": "data_dictionary"})
    assert f"x: a number in {tiny.NAME}" in obs["feedback"]
    obs, *_ = env.step({"action": "request_info", "info_type": "all"})
    assert "## data_dictionary" in obs["feedback"]
    env.close()
    summary = json.loads((run_dir_of(env) / "summary.json").read_text())
    assert "data_dictionary" in summary["info_types"]


def test_actions_and_info_passed_to_make_stay_with_that_env(make_env):
    env = make_env(actions={"ping": lambda ctx: f"pong at step {ctx.step}"},
                   info_providers={"tip": lambda ctx: "use a threshold"})
    other = make_env()
    assert {"action": "ping"} in env.action_space and {"action": "ping"} not in other.action_space
    env.reset(seed=0)
    obs, *_ = env.step({"action": "ping"})
    assert obs["feedback"].startswith("pong at step 1")
    obs, *_ = env.step({"action": "request_info", "info_type": "tip"})
    assert "use a threshold" in obs["feedback"]


def test_a_branch_keeps_the_actions_info_and_formatter_its_parent_was_made_with(make_env):
    env = make_env(actions={"ping": lambda ctx: f"pong at step {ctx.step}"},
                   info_providers={"tip": lambda ctx: "use a threshold"},
                   feedback=lambda view: f"<{view.action}> {view.text}")
    env.reset(seed=0)
    env.step({"action": "execute_code", "code": "x = 1"})
    branch = env.fork()
    try:
        assert {"action": "ping"} in branch.action_space
        obs, *_ = branch.step({"action": "ping"})
        assert obs["feedback"].startswith("<ping> pong at step 2"), obs["feedback"]
        obs, *_ = branch.step({"action": "request_info", "info_type": "tip"})
        assert "use a threshold" in obs["feedback"] and branch.observation_space.contains(obs)
    finally:
        branch.close()


def test_a_feedback_formatter_and_a_reward_function_are_used_and_recorded(make_env, registered):
    registered.extend(["shout", "graded_pays_two"])
    dojo_kernel.register_feedback("shout", lambda view: f"[{view.action} #{view.step}] " + view.text.upper())
    dojo_kernel.register_reward("graded_pays_two", lambda grade, tracker: 2.0 if grade.valid else -1.0)
    env = make_env(max_steps=5, feedback="shout", reward_mode="graded_pays_two")
    env.reset(seed=0)
    obs, reward, *_ = env.step({"action": "execute_code", "code": tiny.submission_code("constant")})
    assert obs["feedback"].startswith("[execute_code #1] ") and reward == 2.0
    obs, reward, *_ = env.step({"action": "execute_code", "code": "open('working/submission.csv', 'w').write('x')"})
    assert reward == -1.0
    env.close()
    summary = json.loads((run_dir_of(env) / "summary.json").read_text())
    assert summary["feedback"] == "shout" and summary["reward_mode"] == "graded_pays_two"
    notebook = nbformat.read(run_dir_of(env) / "trajectory.ipynb", as_version=4)
    assert notebook.metadata["dojo"]["settings"]["reward_mode"] == "graded_pays_two"
    with pytest.raises(ConfigError, match="feedback"):
        make_env(feedback="no_such_style")
    with pytest.raises(ConfigError, match="reward_mode"):
        make_env(reward_mode="no_such_reward")


def test_competition_settings_name_extra_actions_resolved_at_make(competition, tmp_path, registered):
    manifest = Path(competition.root) / "competition.toml"
    copy = tmp_path / "named"
    shutil.copytree(competition.root, copy)
    (copy / "competition.toml").write_text(manifest.read_text() + '\nactions = ["count_rows"]\n'
                                           'info_providers = ["data_dictionary"]\n')
    named = dojo_kernel.register(copy, name="tiny-named")
    with pytest.raises(ConfigError, match="register_action"):
        dojo_kernel.make(named.name, output_dir=tmp_path / "runs")  # not registered yet: a clear error
    registered.extend(["count_rows", "data_dictionary"])
    dojo_kernel.register_action("count_rows", count_rows, schema=COUNT_SCHEMA)
    dojo_kernel.register_info("data_dictionary", lambda ctx: "x, label")
    env = dojo_kernel.make(named.name, output_dir=tmp_path / "runs", warm_pool=0)
    try:
        assert "count_rows" in env.action_space.names and "data_dictionary" in env.action_space.action_set.info_types
    finally:
        env.close()


def test_the_llm_agent_sends_the_env_s_tools_and_its_call_runs(make_env, registered):
    """A real episode of the llm agent against a local chat server: the request carries the
    registered action as a tool, and the model's call of it runs in the env."""
    pytest.importorskip("openai", reason="the llm agent needs the 'llm' extra (pip install 'dojo-kernel[llm]')")
    from chat_server import ChatServer, completion
    from dojo_kernel.agents import get_agent
    from dojo_kernel.agents.base import run_episode

    registered.append("count_rows")
    dojo_kernel.register_action("count_rows", count_rows, schema=COUNT_SCHEMA)
    env = make_env(max_steps=5)
    replies = [(200, completion(None, tool_call=("execute_code", {"code": "import pandas as pd\n"
                                                                          "train = pd.read_csv('input/train.csv')"}))),
               (200, completion(None, tool_call=("count_rows", {"name": "train"}))),
               (200, completion(None, tool_call=("submit", {"final": True})))]
    with ChatServer(replies) as server:
        agent = get_agent("llm", model="test-model", base_url=server.base_url, api_key="sk-test", backoff_s=0.01)
        assert agent.tools is TOOLS
        run_episode(env, agent)
    tools = server.requests[0]["body"]["tools"]
    names = [tool["function"]["name"] for tool in tools]
    assert "count_rows" in names and {"execute_code", "submit", "request_info"} <= set(names)
    schema = next(tool for tool in tools if tool["function"]["name"] == "count_rows")["function"]["parameters"]
    assert schema["required"] == ["name"]
    answered = [m["content"] for m in server.requests[2]["body"]["messages"] if m["role"] == "tool"]
    assert any("train has 200 rows" in content for content in answered)


# ------------------------------------------------------------------ the worked examples

def test_worked_examples_end_to_end_with_check_env(competition, make_env, registered, tmp_path):
    examples = load_examples()
    registered.extend(["inspect_data", "first_valid"])
    examples.register()
    assert f"dojo/{competition.name}-v0" in dojo_kernel.register_envs()
    checked = gymnasium.make(f"dojo/{competition.name}-v0", output_dir=tmp_path / "checked", max_steps=20, warm_pool=0,
                             reward_mode="first_valid", isolation=os.environ.get("DOJO_TEST_ISOLATION", "auto"))
    try:
        assert "inspect_data" in checked.unwrapped.action_space.names
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning fails the test too
            check_env(checked.unwrapped)
    finally:
        checked.close()

    env = make_env(max_steps=20, reward_mode="first_valid")

    env.reset(seed=0)
    env.step({"action": "execute_code", "code": "import pandas as pd\ntrain = pd.read_csv('input/train.csv')"})
    obs, *_ = env.step({"action": "inspect_data", "name": "train", "rows": 2})
    assert "train: 200 rows x 3 columns" in obs["feedback"] and "missing=0" in obs["feedback"]
    obs, *_ = env.step({"action": "inspect_data", "name": "nothing_here"})
    assert "expected a DataFrame named nothing_here" in obs["feedback"]
    _, reward, *_ = env.step({"action": "execute_code", "code": tiny.submission_code("constant")})
    assert reward == 1.0  # the first valid submission pays
    _, reward, *_ = env.step({"action": "execute_code", "code": tiny.submission_code("constant")})
    assert reward == 0.0  # the same again pays nothing
    _, reward, *_ = env.step({"action": "execute_code", "code": tiny.submission_code("perfect")})
    assert 0.0 < reward < 1.0  # then only improvement pays


def test_a_registered_action_runs_under_the_episode_s_cell_limit(make_env):
    """Code a handler runs in the kernel is cut by the cell timeout, like an agent's cell."""
    env = make_env(cell_timeout_s=2, actions={"stall": lambda ctx: ctx.kernel.run("import time\ntime.sleep(60)").status})
    env.reset(seed=0)
    obs, _, _, _, info = env.step({"action": "stall"})
    assert obs["feedback"].startswith("timeout")
    assert info["timings"]["action_s"] < 30
    obs, *_ = env.step({"action": "execute_code", "code": "print(6 * 7)"})
    assert "42" in obs["feedback"]  # the env keeps working after it
