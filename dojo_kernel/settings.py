"""`EnvSettings`: everything `make()` takes besides the competition and the output dir,
checked once, so the env itself never meets a bad setting."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, expected
from .limits import Limits
from .rewards import check_reward_mode, reward_mode_name

GRADE_SPLITS = ("public", "full", "private")
FEEDBACK_STYLES = ("compact", "full")
_LIMIT_FIELDS = tuple(f.name for f in dataclasses.fields(Limits))


@dataclass(frozen=True)
class EnvSettings:
    """Everything `make()` takes besides the competition and the output dir.

    limits          a Limits, or a dict of its fields; single fields may also be given as
                    settings of their own (memory_gb=8, cell_timeout_s=120, episode_time_s=3600)
    reward_mode     improvement | position | raw | final (see rewards.py), the name of a reward
                    registered with dojo_kernel.register_reward, or a reward function
    max_steps       steps before the episode is truncated; None for no limit
    isolation       auto | namespaces | none (see isolation.py)
    allow_network   let agent code reach the network
    agent           the agent's name, recorded in the notebook and summary.json
    warm_pool       kernels kept started ahead of need (0: reset() starts one and waits)
    warm_pool_max   how far the warm pool may grow while resets come faster than kernels
                    start (see pool.py); None: it stays at warm_pool
    max_code_chars  the longest code an action may carry
    max_feedback_chars  the longest obs["feedback"] (head and tail kept)
    feedback        compact (the error first and short, outputs within feedback_chars) or full
                    (every output and IPython's whole traceback, as the notebook keeps them)
    feedback_chars  compact feedback's budget per code step, in characters, for every part
    grade_split     what grades the episode's submissions: public (Kaggle's way), full
                    (MLE-Dojo's), private (only for comparisons: lets an agent hill-climb)
    kernel_env      extra environment variables for the kernel
    startup_timeout_s   how long a kernel may take to start
    """

    limits: Limits = field(default_factory=Limits)
    reward_mode: Any = "improvement"
    max_steps: int | None = None
    isolation: str = "auto"
    allow_network: bool = False
    agent: str | None = None
    warm_pool: int = 1
    warm_pool_max: int | None = None
    max_code_chars: int = 100_000
    max_feedback_chars: int = 50_000
    feedback: str = "compact"
    feedback_chars: int = 4_000
    grade_split: str = "public"
    kernel_env: dict[str, str] | None = None
    startup_timeout_s: float = 60.0

    @classmethod
    def from_kwargs(cls, **settings: Any) -> EnvSettings:
        """Check every setting; unknown names and bad values raise ConfigError saying what fits."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(known) - set(_LIMIT_FIELDS))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}: expected settings among {known} "
                              f"or Limits fields among {list(_LIMIT_FIELDS)}")
        limit_fields = {name: settings.pop(name) for name in list(settings) if name in _LIMIT_FIELDS}
        limits = settings.pop("limits", None)
        if limits is None:
            limits = Limits()
        elif isinstance(limits, dict):
            limits = Limits.from_dict(limits)
        elif not isinstance(limits, Limits):
            raise ConfigError(expected("limits as a Limits or a dict of its fields", limits))
        if limit_fields:
            limits = limits.replace(**limit_fields)
        made = cls(limits=limits, **settings)
        made._check()
        return made

    def _check(self) -> None:
        check_reward_mode(self.reward_mode)
        if self.isolation not in ("auto", "namespaces", "none"):
            raise ConfigError(expected("isolation among auto, namespaces, none", self.isolation))
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ConfigError(expected("max_steps as an int >= 1, or None for no limit", self.max_steps))
        if not isinstance(self.allow_network, bool):
            raise ConfigError(expected("allow_network as True or False", self.allow_network))
        if self.agent is not None and not isinstance(self.agent, str):
            raise ConfigError(expected("agent as a name (str) or None", self.agent))
        if isinstance(self.warm_pool, bool) or not isinstance(self.warm_pool, int) or self.warm_pool < 0:
            raise ConfigError(expected("warm_pool as an int >= 0 (kernels kept ready; 0 = none)", self.warm_pool))
        if self.warm_pool_max is not None and (isinstance(self.warm_pool_max, bool) or not isinstance(
                self.warm_pool_max, int) or self.warm_pool_max < self.warm_pool):
            raise ConfigError(expected(f"warm_pool_max as an int >= warm_pool ({self.warm_pool}), or None",
                                       self.warm_pool_max))
        if self.feedback not in FEEDBACK_STYLES:
            raise ConfigError(expected("feedback among " + ", ".join(FEEDBACK_STYLES), self.feedback))
        for name in ("max_code_chars", "max_feedback_chars", "feedback_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1_000:
                raise ConfigError(expected(f"{name} as an int >= 1000", value))
        if self.grade_split not in GRADE_SPLITS:
            raise ConfigError(expected("grade_split among " + ", ".join(GRADE_SPLITS), self.grade_split))
        if self.kernel_env is not None and not (isinstance(self.kernel_env, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.kernel_env.items())):
            raise ConfigError(expected("kernel_env as a dict of str to str", self.kernel_env))
        if isinstance(self.startup_timeout_s, bool) or not isinstance(self.startup_timeout_s, (int, float)) \
                or self.startup_timeout_s <= 0:
            raise ConfigError(expected("startup_timeout_s as a positive number of seconds", self.startup_timeout_s))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["limits"] = self.limits.to_dict()
        data["reward_mode"] = reward_mode_name(self.reward_mode)
        return data
