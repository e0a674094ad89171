"""The grid of a batch: which episodes it runs (competitions × agents × seeds, with env
settings and agent options), built from arguments or read from a TOML grid file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, expected


@dataclass(frozen=True, eq=False)
class EpisodeSpec:
    """One episode of a batch: what to play, with which agent, seed and env settings."""

    competition: str
    agent: str
    seed: int
    settings: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments of dojo_kernel.make
    agent_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The episode's folder below the batch folder: <competition>/<agent>/seed-<n>."""
        return f"{_path_part(self.competition)}/{_path_part(self.agent)}/seed-{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """As JSON would hold it (a Limits in the settings becomes its dict)."""
        data = {"competition": self.competition, "agent": self.agent, "seed": self.seed,
                "settings": dict(self.settings), "agent_options": dict(self.agent_options)}
        return json.loads(json.dumps(data, default=lambda value: value.to_dict() if hasattr(value, "to_dict")
                                     else str(value)))


def _path_part(name: str) -> str:
    # Agents may be given as "package.module:Class"; keep the name readable but path-safe.
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "_"


def build_grid(competitions: Sequence[str], agents: Sequence[str | Mapping[str, Any]],
               seeds: int | Sequence[int], settings: Mapping[str, Any] | None = None,
               agent_options: Mapping[str, Any] | None = None) -> list[EpisodeSpec]:
    """Every competition × agent × seed. `seeds` is a count (0..N-1) or a list of seeds; an
    agent is a name or {"name": ..., "options": {...}}; `agent_options` go to every agent
    (an agent's own options win)."""
    if isinstance(competitions, str) or not competitions or not all(isinstance(c, str) and c for c in competitions):
        raise ConfigError(expected("a non-empty list of competition names", competitions))
    if isinstance(seeds, bool) or not isinstance(seeds, (int, list, tuple)):
        raise ConfigError(expected("seeds as a count or a list of ints", seeds))
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(expected("at least one seed", seeds))
        seeds = list(range(seeds))
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(expected("a non-empty list of int seeds", seeds))
    if isinstance(agents, str) or not agents:
        raise ConfigError(expected("a non-empty list of agents", agents))
    if not isinstance(settings or {}, Mapping):
        raise ConfigError(expected("settings as a table of make() keyword arguments", settings))
    specs = []
    for agent in agents:
        name, options = _agent_entry(agent)
        options = {**dict(agent_options or {}), **options}
        for competition in competitions:
            for seed in seeds:
                specs.append(EpisodeSpec(competition, name, seed, dict(settings or {}), options))
    keys = [spec.key for spec in specs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ConfigError(expected("each episode once in the grid", duplicates,
                                   "list each competition, agent and seed only once"))
    return specs


def _agent_entry(agent: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(agent, str) and agent:
        return agent, {}
    if isinstance(agent, Mapping) and isinstance(agent.get("name"), str) and agent["name"]:
        unknown = set(agent) - {"name", "options"}
        options = agent.get("options", {})
        if unknown or not isinstance(options, Mapping):
            raise ConfigError(expected("an agent table with 'name' and optional 'options' (a table)", dict(agent)))
        return agent["name"], dict(options)
    raise ConfigError(expected("an agent name or a table {name = ..., options = {...}}", agent))


@dataclass
class Grid:
    """What a batch runs (competitions × agents × seeds with settings) and, from a grid
    file, how (out, parallel, gpus, ...: the CLI's flags override these)."""

    competitions: list[str]
    agents: list[str | dict[str, Any]] = field(default_factory=lambda: ["baseline"])
    seeds: int | list[int] = 1
    settings: dict[str, Any] = field(default_factory=dict)
    run_options: dict[str, Any] = field(default_factory=dict)

    def specs(self, agent_options: Mapping[str, Any] | None = None) -> list[EpisodeSpec]:
        return build_grid(self.competitions, self.agents, self.seeds, self.settings, agent_options)


_GRID_KEYS = {"competitions", "agents", "seeds", "settings"}
_RUN_KEYS = {"out", "parallel", "gpus", "per_gpu", "gpu_memory_gb", "cpus", "retries", "ray"}


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """Read a grid file:

        competitions = ["spaceship-titanic", "penguins"]
        agents = ["baseline", {name = "llm", options = {model = "gpt-4o-mini"}}]
        seeds = 3                       # or [0, 7, 42]
        parallel = 2                    # optional: out, parallel, gpus, per_gpu, cpus, ray, ...
        [settings]                      # keyword arguments of dojo_kernel.make
        max_steps = 20
        memory_gb = 4
    """
    file = Path(path)
    try:
        data = _toml().loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the grid file {file}: {error}") from None
    except _toml().TOMLDecodeError as error:
        raise ConfigError(f"the grid file {file} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - _GRID_KEYS - _RUN_KEYS)
    if unknown:
        raise ConfigError(expected(f"grid keys among {sorted(_GRID_KEYS | _RUN_KEYS)}", unknown, f"in {file}"))
    if "competitions" not in data:
        raise ConfigError(expected("a 'competitions' list in the grid file", sorted(data), f"in {file}"))
    grid = Grid(data["competitions"], data.get("agents", ["baseline"]), data.get("seeds", 1),
                data.get("settings", {}), {key: data[key] for key in _RUN_KEYS if key in data})
    grid.specs()  # check it now, with the file's name in the message
    return grid


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib
