"""Group rollouts: env.fork(n) gives n independent continuations of one episode state."""

from __future__ import annotations

import asyncio

import pytest

import tiny_competition as tiny
from dojo_kernel.adapters.group import afork_episode
from dojo_kernel.errors import ConfigError

pytestmark = pytest.mark.timeout(240)


def code(source: str) -> str:
    return f"```python\n{source}\n```"


def test_forks_continue_from_the_same_state_and_then_diverge(make_text_env):
    env = make_text_env(max_turns=6)
    env.reset(seed=5)
    env.step(code("secret = 1234\nimport pandas as pd"))
    env.step(code(tiny.submission_code("constant")))
    parent_best = env.step(code("print(secret)"))["metadata"]["best_score"]

    children = env.fork(2)
    try:
        assert all(child.turns == env.turns == 3 and child.messages == env.messages for child in children)
        # The kernel state and working/ came along; the run dirs are the children's own.
        outs = [child.step(code("print(secret + 1)")) for child in children]
        assert all("1235" in out["observations"][0]["content"] for out in outs)
        assert all(out["metadata"]["best_score"] == parent_best for out in outs)
        run_dirs = {child.env.run_dir for child in children} | {env.env.run_dir}
        assert len(run_dirs) == 3

        # They diverge independently: one writes the perfect submission, the other changes a variable.
        better = children[0].step(code(tiny.submission_code("perfect")))
        children[1].step(code("secret = 0"))
        assert better["metadata"]["score"] == 1.0 and better["reward"] > 0
        assert "1234" in env.step(code("print(secret)"))["observations"][0]["content"]
        assert "0" in children[1].step(code("print(secret)"))["observations"][0]["content"]
        assert env.step(code("print('x')"))["metadata"]["best_score"] == parent_best
    finally:
        for child in children:
            child.close()


def test_async_fork_and_bad_requests(make_text_env):
    env = make_text_env()
    with pytest.raises(ConfigError, match="reset"):
        env.fork(1)
    env.reset()
    env.step(code("value = 'kept'"))
    with pytest.raises(ConfigError, match="n as an int"):
        env.fork(0)

    async def main():
        return await afork_episode(env, 2)

    children = asyncio.run(main())
    try:
        for child in children:
            assert "kept" in child.step(code("print(value)"))["observations"][0]["content"]
    finally:
        for child in children:
            child.close()
