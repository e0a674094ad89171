"""`RemoteDojoEnv`: a Gymnasium env on the trainer's side whose DojoEnv (and kernel) lives in
a Ray actor, anywhere on the cluster.

An RL trainer on one node steps many such envs spread over other nodes: each call is a Ray
method call, and `reset_async`/`step_async` return object refs so that a trainer can step a
whole group at once (`ray.get([env.step_async(a) for env, a in zip(envs, actions)])`).
Needs the `ray` extra: `pip install 'dojo-kernel[ray]'`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import gymnasium

from .errors import ConfigError

if TYPE_CHECKING:  # the env module imports pandas; the actor only needs its type here
    from .env import DojoEnv


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("RemoteDojoEnv needs the ray extra: pip install 'dojo-kernel[ray]'") from None
    if not ray.is_initialized():
        raise ConfigError("expected a running Ray (call ray.init() or ray.init(address=...) first), got none")
    return ray


class _EnvActor:
    """Owns one DojoEnv in a Ray worker process; its methods mirror the env's."""

    def __init__(self, competition: str, settings: dict[str, Any]) -> None:
        import ray

        from .env import make

        settings = dict(settings)
        gpu_ids = ray.get_gpu_ids()
        limits = settings.get("limits")
        gpu_set = settings.get("gpu_device") is not None or (
            isinstance(limits, dict) and limits.get("gpu_device") is not None) or (
            getattr(limits, "gpu_device", None) is not None)
        if gpu_ids and not gpu_set:  # the GPU Ray gave this actor is the one its kernel sees
            settings["gpu_device"] = int(gpu_ids[0])
        self.env = make(competition, **settings)

    def describe(self) -> dict[str, Any]:
        import ray

        env = self.env
        return {"observation_space": env.observation_space, "action_space": env.action_space,
                "metadata": dict(env.metadata), "node_id": ray.get_runtime_context().get_node_id()}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def run_dir(self) -> str | None:
        run_dir = cast("DojoEnv", self.env.unwrapped).run_dir
        return None if run_dir is None else str(run_dir)

    def close(self) -> None:
        self.env.close()


class RemoteDojoEnv(gymnasium.Env):
    """A DojoEnv in a Ray actor, used through the Gymnasium API.

    `RemoteDojoEnv("penguins", max_steps=20, memory_gb=4)` takes the same settings as
    `dojo_kernel.make`; `num_cpus`, `num_gpus` (fractional to share a GPU) and `ray_options`
    (any `ActorClass.options` argument, e.g. a scheduling strategy) place the actor. reset,
    step and close return exactly what the DojoEnv returns. With a GPU, the kernel sees the
    one Ray assigned to the actor unless the settings name a gpu_device (give its memory
    share as gpu_memory_gb). Needs a running Ray (`ray.init(...)`), where the actor's node can
    import dojo_kernel and find the competition.
    """

    def __init__(self, competition: str, *, num_cpus: float = 1, num_gpus: float = 0,
                 ray_options: dict[str, Any] | None = None, **settings: Any) -> None:
        ray = _ray()
        options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_restarts": 0, **(ray_options or {})}
        self._ray = ray
        self.competition = competition
        self._actor = ray.remote(_EnvActor).options(**options).remote(competition, settings)
        description = cast(dict[str, Any], ray.get(self._actor.describe.remote()))  # what describe() returns
        self.observation_space = description["observation_space"]
        self.action_space = description["action_space"]
        self.metadata = description["metadata"]
        self.node_id: str = description["node_id"]
        self._closed = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self._ray.get(self.reset_async(seed=seed, options=options))

    def step(self, action: Any):
        return self._ray.get(self.step_async(action))

    def reset_async(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """An object ref to reset()'s result, for stepping many envs at once."""
        return self._actor.reset.remote(seed, options)

    def step_async(self, action: Any):
        """An object ref to step()'s result, for stepping many envs at once."""
        return self._actor.step.remote(action)

    @property
    def run_dir(self) -> str | None:
        """The episode's run dir, on the actor's node."""
        return self._ray.get(self._actor.run_dir.remote())

    def close(self) -> None:
        """Close the DojoEnv (its summary.json is written) and end the actor. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._ray.get(self._actor.close.remote())
        finally:
            # ray's stubs type an actor made with .options(...).remote() as a proxy, which kill() takes at run time
            self._ray.kill(self._actor)  # pyright: ignore[reportArgumentType]
