"""Group rollouts: N independent continuations of one episode state (GRPO groups,
step-level credit assignment).

`fork_episode(env, n)` is what `DojoTextEnv.fork(n)` serves. Until `DojoEnv.fork(n)` (the
branching work: a copy-on-write fork of the kernel) is in the env, a fork is a fresh env of
the same competition and settings in which the episode's replies so far are played again,
in the same order, from a reset with the same seed: the kernel state, the files in
`working/`, the best score and the turn count all match the original's for code that is
deterministic under its seed. Once `DojoEnv.fork` exists, the branch below uses it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, expected

if TYPE_CHECKING:
    from .text import DojoTextEnv


def fork_episode(env: DojoTextEnv, n: int = 1) -> list[DojoTextEnv]:
    """`n` copies of `env`'s episode at its current turn, each with its own kernel and run dir."""
    _check(env, n)
    fork = getattr(env.env, "fork", None)
    if fork is not None:  # the branching work's copy-on-write fork
        return [_adopt(env, child) for child in fork(n)]
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="dojo-fork") as pool:
        return list(pool.map(lambda _: replay(env), range(n)))


async def afork_episode(env: DojoTextEnv, n: int = 1) -> list[DojoTextEnv]:
    """`fork_episode` without blocking the event loop: the copies are made side by side."""
    _check(env, n)
    fork = getattr(env.env, "fork", None)
    if fork is not None:
        children = await asyncio.get_running_loop().run_in_executor(None, fork, n)
        return [_adopt(env, child) for child in children]
    return list(await asyncio.gather(*(areplay(env) for _ in range(n))))


def replay(env: DojoTextEnv) -> DojoTextEnv:
    """A fresh env of the same competition and settings, brought to `env`'s turn by playing
    its replies again."""
    copy = _sibling(env)
    try:
        copy.reset(seed=env.seed)
        for reply in env.replies:
            copy.step(reply)
    except BaseException:
        copy.close()
        raise
    return _same_conversation(env, copy)


async def areplay(env: DojoTextEnv) -> DojoTextEnv:
    copy = await asyncio.get_running_loop().run_in_executor(None, _sibling, env)
    try:
        await copy.areset(seed=env.seed)
        for reply in env.replies:
            await copy.astep(reply)
    except BaseException:
        await asyncio.get_running_loop().run_in_executor(None, copy.close)
        raise
    return _same_conversation(env, copy)


def _same_conversation(env: DojoTextEnv, copy: DojoTextEnv) -> DojoTextEnv:
    """The copy carries on the conversation the model saw, not the replay's own texts (which
    differ in timings and time left); rewards so far are the original's too."""
    copy.messages = [dict(message) for message in env.messages]
    copy.total_reward = env.total_reward
    return copy


def _sibling(env: DojoTextEnv) -> DojoTextEnv:
    return type(env)(env.competition, max_turns=env.max_turns, system_prompt=env.system_prompt, **env.settings)


def _adopt(env: DojoTextEnv, child_env: Any) -> DojoTextEnv:
    """A text env around a forked DojoEnv, with the parent's conversation and counters."""
    copy = type(env)(env.competition, max_turns=env.max_turns, system_prompt=env.system_prompt,
                     env=child_env, **env.settings)
    copy.turns, copy.done, copy.total_reward, copy.seed = env.turns, env.done, env.total_reward, env.seed
    copy.messages = [dict(message) for message in env.messages]
    copy.replies = list(env.replies)
    return copy


def _check(env: DojoTextEnv, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(expected("n as an int >= 1 (how many copies)", n))
    if not env.messages:
        raise ConfigError("expected an episode to fork, got an env that was never reset: call reset() first")
    if env.done:
        raise ConfigError("expected a running episode to fork, got one that has ended: fork before its last turn")
