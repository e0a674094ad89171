"""`await env.astep()` / `await env.areset()`: many episodes on one event loop, which must
keep running while their kernels work (a ticker coroutine measures the longest stall)."""

from __future__ import annotations

import asyncio
import time

import pytest

import dojo_kernel

pytestmark = pytest.mark.timeout(240)

SLEEP_S = 1.5  # each step's cell; a loop blocked by one step would stall at least this long


class Ticker:
    """Ticks every 20 ms on the loop and records the longest gap between ticks."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.ticks = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            self.ticks += 1
            last = now

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def test_many_envs_step_concurrently_without_blocking_the_loop(competition, text_settings):
    n = 6
    envs = [dojo_kernel.make(competition.name, **text_settings) for _ in range(n)]

    async def episode(env, index):
        obs, info = await env.areset(seed=index)
        assert "Tiny threshold" in obs["feedback"]
        obs, reward, terminated, truncated, info = await env.astep(
            f"import time\ntime.sleep({SLEEP_S})\nprint('done', {index})")
        assert info["status"] == "ok" and f"done {index}" in obs["feedback"]
        return info["timings"]["step_s"]

    async def main():
        with Ticker() as ticker:
            started = time.monotonic()
            step_times = await asyncio.gather(*(episode(env, i) for i, env in enumerate(envs)))
            stepped = time.monotonic() - started
        return ticker, step_times, stepped

    try:
        ticker, step_times, elapsed = asyncio.run(main())
    finally:
        for env in envs:
            env.close()
    assert ticker.longest < SLEEP_S * 0.6, f"the event loop stalled for {ticker.longest:.2f} s"
    assert ticker.ticks > 10
    # The steps overlapped: run one after another they would take n * SLEEP_S.
    assert all(step_s >= SLEEP_S for step_s in step_times)
    assert elapsed < n * SLEEP_S, f"{n} steps of {SLEEP_S} s took {elapsed:.1f} s: they did not overlap"


def test_calls_on_one_env_run_in_order(competition, text_settings):
    env = dojo_kernel.make(competition.name, **text_settings)

    async def main():
        await env.areset()
        # Issued together, run one at a time in the order they came: the second sees the first's variable.
        first, second = await asyncio.gather(env.astep("import time\ntime.sleep(0.3)\nvalue = 41"),
                                             env.astep("print(value + 1)"))
        return first, second

    try:
        first, second = asyncio.run(main())
    finally:
        env.close()
    assert first[4]["status"] == "ok" and "42" in second[0]["feedback"]


def test_text_env_astep(make_text_env):
    env = make_text_env(max_turns=2)

    async def main():
        with Ticker() as ticker:
            messages, _ = await env.areset(seed=0)
            first = await env.astep(f"```python\nimport time\ntime.sleep({SLEEP_S})\nprint('slept')\n```")
            last = await env.astep("nothing to run")
        return messages, first, last, ticker

    messages, first, last, ticker = asyncio.run(main())
    assert messages[0]["role"] == "system" and "slept" in first["observations"][0]["content"]
    assert last["done"] is True and last["metadata"]["final_grade"]["valid"] is False
    assert ticker.longest < SLEEP_S * 0.6
