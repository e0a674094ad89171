"""The Ray rollout service: hundreds of episodes over a Ray cluster, for an RL trainer's
rollout step.

    ray.init(address="auto")
    service = RolloutService(node_limits=NodeLimits(max_kernels=32, memory_gb=64, kernel_memory_gb=2),
                             settings={"output_dir": "/scratch/runs"})
    trajectories = service.rollout([{"competition": "penguin-species", "seed": 0}], policy, group_size=8)

One actor per node (pinned to it) owns that node's kernels: a free list of `DojoTextEnv`s,
each with its own warm kernel, reused episode after episode so that a reset finds a kernel
ready. The actor runs its share of the batch on one event loop (`astep`), at most as many
episodes at a time as the node's limits allow:

    max_kernels       kernels started on the node at once, warm ones included (an episode
                      holds 1 + warm_pool kernels, or 1 + warm_pool_max where that is set)
    memory_gb         what the node's kernels may use together; each kernel is held to
                      kernel_memory_gb by the env's watchdog, so the node runs at most
                      memory_gb / (kernel_memory_gb * (1 + warm_pool)) episodes

`policy(messages, metadata)` writes the model's replies: a picklable function (sync or
async) that runs beside the episode on its node; a trainer's policy calls its inference
server there. A trajectory comes back as plain data: the chat messages, per-turn rewards and
metadata, the return, the final grade, the node and the run dir (on that node). An episode
that fails comes back with `error` set; the batch goes on. Needs the ray extra.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError, expected

Policy = Callable[[list[dict[str, Any]], dict[str, Any]], Any]

DEFAULT_MAX_TURNS = 10


@dataclass(frozen=True)
class NodeLimits:
    """How much of each node the service may use (see the module docstring)."""

    max_kernels: int = 8
    memory_gb: float | None = None
    kernel_memory_gb: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.max_kernels, bool) or not isinstance(self.max_kernels, int) or self.max_kernels < 1:
            raise ConfigError(expected("max_kernels as an int >= 1", self.max_kernels))
        if self.memory_gb is not None and (not isinstance(self.memory_gb, (int, float)) or self.memory_gb <= 0):
            raise ConfigError(expected("memory_gb as a positive number of GB, or None", self.memory_gb))
        if not isinstance(self.kernel_memory_gb, (int, float)) or self.kernel_memory_gb <= 0:
            raise ConfigError(expected("kernel_memory_gb as a positive number of GB", self.kernel_memory_gb))

    def episodes(self, warm_pool: int) -> int:
        """How many episodes a node runs at once under these limits."""
        per_episode = 1 + warm_pool
        slots = self.max_kernels // per_episode
        if self.memory_gb is not None:
            slots = min(slots, math.floor(self.memory_gb / (self.kernel_memory_gb * per_episode)))
        if slots < 1:
            raise ConfigError(expected(f"node limits that fit one episode of {per_episode} kernel(s) "
                                       f"of {self.kernel_memory_gb} GB", asdict(self),
                                       "raise max_kernels or memory_gb, or lower warm_pool or kernel_memory_gb"))
        return slots


class NodeWorker:
    """One node's share of the service: made a Ray actor by RolloutService (see the module docstring)."""

    def __init__(self, limits: NodeLimits, settings: dict[str, Any]) -> None:
        self.settings = dict(settings)
        self.settings.setdefault("warm_pool", 1)
        if limits.memory_gb is not None:
            self.settings.setdefault("memory_gb", limits.kernel_memory_gb)
        self.limits = limits
        # An env holds its episode's kernel and up to warm_pool_max (else warm_pool) warm ones.
        self.slots = limits.episodes(max(self.settings["warm_pool"], self.settings.get("warm_pool_max") or 0))
        self._free: dict[str, list[Any]] = {}  # DojoTextEnvs between episodes, by competition
        self._envs_made = 0
        self._running = 0
        self._peak_running = 0
        self._episodes = 0
        self._semaphore: asyncio.Semaphore | None = None  # made on the actor's event loop

    async def run(self, jobs: list[dict[str, Any]], policy: Policy) -> list[dict[str, Any]]:
        """Play every job (one episode each) and return their trajectories, in order."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return list(await asyncio.gather(*(self._episode(job, policy) for job in jobs)))

    def stats(self) -> dict[str, Any]:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "slots": self.slots,
                "peak_running": self._peak_running, "episodes": self._episodes, "envs": self._envs_made,
                "limits": asdict(self.limits)}

    def close(self) -> None:
        """End every kernel the worker holds."""
        free, self._free = self._free, {}
        for envs in free.values():
            for env in envs:
                env.close()

    async def _episode(self, job: dict[str, Any], policy: Policy) -> dict[str, Any]:
        assert self._semaphore is not None
        async with self._semaphore:
            self._running += 1
            self._peak_running = max(self._peak_running, self._running)
            started = time.monotonic()
            env = None
            try:
                env = await self._take(job["competition"])
                trajectory = await play(env, job, policy)
            except Exception as error:  # the episode failed; the batch goes on and the trainer sees why
                if env is not None:
                    await asyncio.get_running_loop().run_in_executor(None, env.close)
                    env = None
                trajectory = {**job, "error": f"{type(error).__name__}: {error}",
                              "details": traceback.format_exc(limit=20)}
            finally:
                self._running -= 1
                self._episodes += 1
                if env is not None:
                    self._free.setdefault(job["competition"], []).append(env)
        import ray

        trajectory.update(node_id=ray.get_runtime_context().get_node_id(), duration_s=time.monotonic() - started)
        return trajectory

    async def _take(self, competition: str) -> Any:
        free = self._free.get(competition)
        if free:
            return free.pop()
        from .text import DojoTextEnv

        env = await asyncio.get_running_loop().run_in_executor(None, lambda: DojoTextEnv(competition, **self.settings))
        self._envs_made += 1
        return env


async def play(env: Any, job: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """One episode of `env` (a DojoTextEnv) with replies from `policy`, as a trajectory."""
    env.max_turns = job.get("max_turns") or DEFAULT_MAX_TURNS
    _, metadata = await env.areset(seed=job.get("seed"))
    turns: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    while not env.done:
        messages = [dict(message) for message in env.messages]
        if inspect.iscoroutinefunction(policy):
            reply = await policy(messages, metadata)
        else:  # a blocking policy (an HTTP call to a model) waits in a thread, not on the loop
            reply = await loop.run_in_executor(None, policy, messages, metadata)
        out = await env.astep(reply)
        metadata = out["metadata"]
        turns.append({"reward": out["reward"], "metadata": metadata})
    return {**job, "messages": [dict(message) for message in env.messages],
            "rewards": [turn["reward"] for turn in turns], "turns": turns, "return": env.total_reward,
            "final_grade": metadata.get("final_grade"), "best_score": metadata.get("best_score"),
            "run_dir": metadata.get("run_dir"), "error": None}


class RolloutService:
    """Trajectories for a batch of prompts, from one NodeWorker actor per node of the Ray
    cluster (see the module docstring). Needs a running Ray (`ray.init(...)`)."""

    def __init__(self, *, node_limits: NodeLimits | None = None, settings: dict[str, Any] | None = None,
                 node_ids: Sequence[str] | None = None) -> None:
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.node_limits = node_limits or NodeLimits()
        alive = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
        nodes = list(node_ids) if node_ids is not None else alive
        missing = sorted(set(nodes) - set(alive))
        if missing or not nodes:
            raise ConfigError(expected("node ids of live Ray nodes", missing or nodes, f"live nodes: {alive}"))
        actor = ray.remote(num_cpus=0, max_restarts=0)(NodeWorker)
        self.node_ids = nodes
        self._workers = [actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                                       max_concurrency=1000).remote(self.node_limits, dict(settings or {}))
                         for node in nodes]
        self.slots = ray.get([worker.stats.remote() for worker in self._workers])
        self._slots = [stats["slots"] for stats in self.slots]

    def rollout(self, prompts: Sequence[dict[str, Any]], policy: Policy, *, group_size: int = 1) -> list[dict]:
        """One trajectory per prompt and group member, in order: prompt 0's group, then prompt 1's.

        A prompt is a dict with `competition`, and optionally `seed` and `max_turns`; every
        member of a group starts from the same prompt and seed (a GRPO group).
        """
        ray = _ray()
        jobs = _jobs(prompts, group_size)
        shares = self._split(len(jobs))
        refs, order = [], []
        for worker, indices in zip(self._workers, shares):
            if indices:
                refs.append(worker.run.remote([jobs[i] for i in indices], policy))
                order.append(indices)
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        for indices, trajectories in zip(order, ray.get(refs)):
            for index, trajectory in zip(indices, trajectories):
                results[index] = trajectory
        return [trajectory for trajectory in results if trajectory is not None]

    def stats(self) -> list[dict[str, Any]]:
        return _ray().get([worker.stats.remote() for worker in self._workers])

    def close(self) -> None:
        """End every kernel on every node and the actors themselves."""
        ray = _ray()
        try:
            ray.get([worker.close.remote() for worker in self._workers])
        finally:
            for worker in self._workers:
                ray.kill(worker)
            self._workers = []

    def __enter__(self) -> RolloutService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _split(self, count: int) -> list[list[int]]:
        """Job indices per worker, in proportion to each node's episode slots."""
        shares: list[list[int]] = [[] for _ in self._workers]
        for index in range(count):
            chosen = min(range(len(shares)), key=lambda w: (len(shares[w]) + 1) / self._slots[w])
            shares[chosen].append(index)
        return shares


def _jobs(prompts: Sequence[dict[str, Any]], group_size: int) -> list[dict[str, Any]]:
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(expected("group_size as an int >= 1", group_size))
    jobs = []
    for number, prompt in enumerate(prompts):
        if not isinstance(prompt, dict) or not isinstance(prompt.get("competition"), str):
            raise ConfigError(expected("each prompt as a dict with a 'competition' name", prompt))
        for member in range(group_size):
            jobs.append({**prompt, "group": number, "member": member})
    return jobs


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the rollout service needs the ray extra: pip install 'dojo-kernel[ray]'") from None
    if not ray.is_initialized():
        raise ConfigError("expected a running Ray (call ray.init() or ray.init(address=...) first), got none")
    return ray
