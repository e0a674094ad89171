"""Many episodes: a grid of competitions × agents × seeds, run in parallel on one machine
(worker processes with CPU shares and GPU slots) or as Ray tasks on a cluster.

A batch gives each episode its own folder, `<out>/<competition>/<agent>/seed-<n>`, as the
env's output dir (the env makes the episode's run dir inside it). It is resumable: an episode
whose run dir holds a `summary.json` (and whose folder has no `error.txt`) is skipped on a
rerun. An episode that crashes (its code raised, or its worker process died) is retried,
then reported with its error in the results table (`results.csv`, `results.md`) and in
`error.txt` in its folder. A worker plays one episode at a time, so a death is blamed on
exactly one episode.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError, DojoError, expected
from .limits import NVML, Limits

SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.txt"
SCORES_CHART = "scores.png"
SPEC_FILE = "episode.json"  # in each episode's folder, beside the env's run dir
RESULT_COLUMNS = ("competition", "agent", "seed", "status", "attempts", "best_score", "final_score",
                  "position", "medal", "steps", "episode_s", "wall_s", "limit_events", "cpus", "gpu_device",
                  "gpu_memory_gb", "error", "run_dir")
EpisodeStatus = Literal["ok", "failed", "skipped"]
_LIMIT_FIELDS = {name for name in Limits.__dataclass_fields__}
_POLL_S = 0.5  # how often the scheduler wakes to refresh the display and note worker descendants


# --------------------------------------------------------------------------------------------
# The grid


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


# --------------------------------------------------------------------------------------------
# Resources: CPU shares and GPU slots


@dataclass(frozen=True)
class Slot:
    """The resources one running episode of a local batch holds, given to it as limits."""

    cpus: int | None = None
    gpu_device: int | None = None
    gpu_memory_gb: float | None = None

    def limit_overrides(self) -> dict[str, Any]:
        return {name: value for name, value in (("cpus", self.cpus), ("gpu_device", self.gpu_device),
                                                ("gpu_memory_gb", self.gpu_memory_gb)) if value is not None}


def gpu_total_memory_gb(index: int) -> float | None:
    """The GPU's total memory as NVML reports it, or None where NVML or the GPU is missing."""
    total = NVML.total_memory_bytes(index)
    return None if total is None else total / 1024**3


def gpu_share_gb(index: int, per_gpu: int, total_gb: float | None) -> float:
    """One episode's share of GPU `index`: its memory (`total_gb`, else NVML's figure) / per_gpu."""
    total = total_gb if total_gb is not None else gpu_total_memory_gb(index)
    if total is None:
        raise ConfigError(expected(f"the memory of GPU {index} from NVML", "no NVML or no such GPU",
                                   "pass --gpu-memory-gb with the memory of each GPU"))
    return round(total / per_gpu, 3)


def plan_slots(*, parallel: int | None, gpus: Sequence[int] | None = None, per_gpu: int = 1,
               gpu_memory_gb: float | None = None, cpus: int | None = None,
               cpu_count: int | None = None) -> list[Slot]:
    """The slots of a local batch: one per concurrent episode.

    Without GPUs there are `parallel` slots (default: one per core). With `gpus`, each GPU has
    `per_gpu` slots, handed out round-robin so that a smaller `parallel` spreads over the GPUs;
    each slot's GPU memory limit is the GPU's memory divided by `per_gpu`. Every slot gets
    `cpus` CPUs (default: the cores divided by the slots, at least 1).
    """
    cores = cpu_count or os.cpu_count() or 1
    _check_positive_int("--parallel", parallel, allow_none=True)
    _check_positive_int("--per-gpu", per_gpu)
    _check_positive_int("--cpus", cpus, allow_none=True)
    if gpus:
        if len(set(gpus)) != len(gpus) or not all(isinstance(g, int) and g >= 0 for g in gpus):
            raise ConfigError(expected("distinct GPU indices >= 0", list(gpus), "e.g. --gpus 0,1"))
        capacity = len(gpus) * per_gpu
        if parallel is not None and parallel > capacity:
            raise ConfigError(expected(f"--parallel at most {capacity} ({len(gpus)} GPU(s) × --per-gpu {per_gpu})",
                                       parallel, "raise --per-gpu or lower --parallel"))
        count = parallel or capacity
        shares = {gpu: gpu_share_gb(gpu, per_gpu, gpu_memory_gb) for gpu in gpus}
        order = [gpu for _ in range(per_gpu) for gpu in gpus][:count]
        share_cpus = cpus or max(1, cores // count)
        return [Slot(share_cpus, gpu, shares[gpu]) for gpu in order]
    count = parallel or cores
    return [Slot(cpus or max(1, cores // count))] * count


def _check_positive_int(flag: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(expected(f"a positive integer for {flag}", value))


def episode_settings(settings: Mapping[str, Any], slot: Slot) -> dict[str, Any]:
    """The keyword arguments of `dojo_kernel.make` for an episode in `slot`.

    A limit set explicitly in the grid's settings wins over the slot's share (a grid may ask
    for 1 CPU per episode on a large machine), except the GPU index: with GPU slots the
    scheduler alone decides which GPU an episode sees.
    """
    merged = dict(settings)
    limits = merged.pop("limits", None)
    limit_values: dict[str, Any] = (limits.to_dict() if isinstance(limits, Limits) else dict(limits or {}))
    for name in list(merged):
        if name in _LIMIT_FIELDS:
            limit_values[name] = merged.pop(name)
    overrides = slot.limit_overrides()
    if "gpu_device" in overrides and limit_values.get("gpu_device") is not None:
        raise ConfigError(expected("no gpu_device in the settings of a batch with GPU slots",
                                   limit_values["gpu_device"], "drop it; --gpus assigns each episode a GPU"))
    for name, value in overrides.items():
        if limit_values.get(name) is None:
            limit_values[name] = value
    if limits is not None:
        merged["limits"] = Limits.from_dict(limit_values) if isinstance(limits, Limits) else limit_values
    else:
        merged.update(limit_values)
    return merged


# --------------------------------------------------------------------------------------------
# One episode (runs in a worker process or a Ray task)


def play_episode(spec: EpisodeSpec, slot: Slot, episode_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Play `spec` with `episode_dir` as the env's output dir (its run dir is made inside)
    and return `run_episode`'s summary. Raises whatever the env or the agent raised."""
    from . import env as env_module
    from .agents import get_agent, run_episode

    settings = episode_settings(spec.settings, slot)
    settings.setdefault("agent", spec.agent)  # recorded in the notebook and summary.json
    settings.setdefault("warm_pool", 0)  # one episode per env: a kernel started ahead would be wasted
    agent = get_agent(spec.agent, **dict(spec.agent_options))
    env = env_module.make(spec.competition, output_dir=episode_dir, **settings)
    try:
        return run_episode(env, agent, seed=spec.seed)
    finally:
        env.close()  # idempotent; run_episode leaves the env open when reset() itself fails


def _prepare_episode_dir(episode_dir: Path) -> None:
    # An earlier attempt that did not finish leaves a partial run dir: start afresh.
    if episode_dir.exists():
        shutil.rmtree(episode_dir)
    episode_dir.parent.mkdir(parents=True, exist_ok=True)


def find_run_dir(episode_dir: Path) -> Path:
    """The episode's run dir: `episode_dir` itself, or the one folder the env made inside it
    (the env names each run dir it starts under its output dir)."""
    if (episode_dir / SUMMARY_FILE).is_file() or (episode_dir / "rewards.jsonl").is_file():
        return episode_dir
    try:
        inner = sorted(path for path in episode_dir.iterdir() if path.is_dir() and (
            (path / SUMMARY_FILE).is_file() or (path / "rewards.jsonl").is_file()))
    except OSError:
        return episode_dir
    return inner[-1] if inner else episode_dir


def is_finished(episode_dir: Path) -> bool:
    """Finished: the env wrote summary.json and the batch recorded no failure."""
    return (find_run_dir(episode_dir) / SUMMARY_FILE).is_file() and not (episode_dir / ERROR_FILE).exists()


def _record_spec(spec: EpisodeSpec, episode_dir: Path) -> None:
    """episode.json: what the episode was run with, so that a rerun can tell it apart."""
    episode_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(episode_dir / SPEC_FILE, json.dumps(spec.to_dict(), indent=1, sort_keys=True))


def _check_same_spec(finished: Sequence[EpisodeSpec], out: Path) -> None:
    """A rerun skips finished episodes, so they must be the episodes asked for now."""
    changed = []
    for spec in finished:
        try:
            recorded = json.loads((out / spec.key / SPEC_FILE).read_text())
        except (OSError, ValueError):
            continue  # no record: nothing to compare with
        if recorded != spec.to_dict():
            differing = sorted(k for k in recorded.keys() | spec.to_dict().keys()
                               if recorded.get(k) != spec.to_dict().get(k))
            changed.append(f"{spec.key} ({', '.join(differing)})")
    if changed:
        raise ConfigError(expected(f"the settings and agent options the episodes in {out} were run with",
                                   f"changes for {len(changed)} finished episode(s): {'; '.join(changed[:5])}",
                                   "use a new --out, or delete those episode folders to run them again"))


def _format_error(error: BaseException) -> tuple[str, str]:
    """A one-line message for the table and the full traceback for error.txt."""
    first_line = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return first_line[:300], details


# --------------------------------------------------------------------------------------------
# Results


@dataclass
class EpisodeResult:
    spec: EpisodeSpec
    episode_dir: Path  # <out>/<competition>/<agent>/seed-<n>
    status: EpisodeStatus
    attempts: int = 0
    error: str | None = None
    slot: Slot | None = None
    duration_s: float | None = None  # wall time of the last attempt, kernel start included (None: skipped)
    summary: dict[str, Any] = field(default_factory=dict)  # the env's summary.json

    @property
    def run_dir(self) -> Path:
        """The run dir the env wrote (trajectory.ipynb, rewards.jsonl, summary.json)."""
        return find_run_dir(self.episode_dir)

    def row(self, out: Path) -> dict[str, Any]:
        """This episode's line in results.csv / results.md."""
        summary = self.summary
        events = summary.get("limit_events")
        event_kinds = [str(e.get("kind", "?")) if isinstance(e, dict) else str(e) for e in events] \
            if isinstance(events, list) else []
        slot = self.slot or Slot()
        return {
            "competition": self.spec.competition, "agent": self.spec.agent, "seed": self.spec.seed,
            "status": self.status, "attempts": self.attempts,
            "best_score": _number(summary.get("best_score")),
            "final_score": _number(summary.get("final_score")),  # graded on the private split
            "position": _number(summary.get("final_position")),
            "medal": summary.get("medal") or "",
            "steps": _number(summary.get("steps")),
            "episode_s": _number(summary.get("elapsed_s")),  # the env's clock, kernel start excluded
            "wall_s": self.duration_s,
            "limit_events": ";".join(event_kinds),
            "cpus": slot.cpus, "gpu_device": slot.gpu_device, "gpu_memory_gb": slot.gpu_memory_gb,
            "error": self.error or "",
            "run_dir": _relative_to(self.run_dir, out),
        }


def _relative_to(path: Path, start: Path) -> str:
    return path.relative_to(start).as_posix() if path.is_relative_to(start) else str(path)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return value


def _read_summary(episode_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((find_run_dir(episode_dir) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class BatchResult:
    out: Path
    episodes: list[EpisodeResult]
    results_csv: Path | None = None
    results_md: Path | None = None
    report: Path | None = None

    @property
    def failed(self) -> list[EpisodeResult]:
        return [e for e in self.episodes if e.status == "failed"]

    def count(self, status: EpisodeStatus) -> int:
        return sum(1 for e in self.episodes if e.status == status)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_results(out: Path, episodes: Sequence[EpisodeResult]) -> tuple[Path, Path]:
    """results.csv (every column) and results.md (the table plus a mean per competition and agent)."""
    rows = [episode.row(out) for episode in sorted(episodes, key=lambda e: e.spec.key)]
    csv_path = out / "results.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    _atomic_write(csv_path, buffer.getvalue())

    shown = ("competition", "agent", "seed", "status", "best_score", "final_score", "position", "medal",
             "steps", "episode_s", "wall_s", "limit_events", "error")
    lines = [f"# Batch results: {len(rows)} episode(s)", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]).replace("|", "\\|").replace("\n", " ") for c in shown) + " |")
    lines += ["", "## Per competition and agent", "",
              "| competition | agent | episodes | failed | mean best score | mean final score | mean position | medals |",
              "|---|---|---|---|---|---|---|---|"]
    for (competition, agent), group in _groups(rows).items():
        medals = sum(1 for r in group if r["medal"])
        lines.append(f"| {competition} | {agent} | {len(group)} | {sum(r['status'] == 'failed' for r in group)} | "
                     f"{_cell(_mean(r['best_score'] for r in group))} | {_cell(_mean(r['final_score'] for r in group))} | "
                     f"{_cell(_mean(r['position'] for r in group))} | {medals} |")
    if (out / SCORES_CHART).is_file():
        lines += ["", f"![final score (else best) per competition and agent]({SCORES_CHART})"]
    md_path = out / "results.md"
    _atomic_write(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def _groups(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["competition"], row["agent"]), []).append(row)
    return groups


def _mean(values: Iterable[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_scores_chart(out: Path, episodes: Sequence[EpisodeResult]) -> Path | None:
    """scores.png: the final (else best) score of every episode, one panel per competition,
    one column of points per agent with its mean marked."""
    rows = [e.row(out) for e in episodes]
    by_competition: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        score = row["final_score"] if row["final_score"] is not None else row["best_score"]
        if score is not None:
            by_competition.setdefault(row["competition"], {}).setdefault(row["agent"], []).append(float(score))
    if not by_competition:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    panels = len(by_competition)
    figure = Figure(figsize=(max(4.0, 3.2 * panels), 3.4), dpi=100, layout="constrained")
    axes_list = figure.subplots(1, panels, squeeze=False)[0]
    for axes, (competition, agents) in zip(axes_list, sorted(by_competition.items())):
        names = sorted(agents)
        for x, name in enumerate(names):
            scores = agents[name]
            axes.plot([x] * len(scores), scores, "o", color="#37a", alpha=0.7)
            axes.plot([x - 0.25, x + 0.25], [sum(scores) / len(scores)] * 2, color="#c33", linewidth=2)
        axes.set_xticks(range(len(names)), names, rotation=20, fontsize="small")
        axes.set_xlim(-0.6, len(names) - 0.4)
        axes.set_title(competition, fontsize="medium")
        axes.set_ylabel("final score (else best)")
    chart = out / SCORES_CHART
    figure.savefig(chart)
    return chart


def write_batch_report(out: Path, episodes: Sequence[EpisodeResult]) -> Path | None:
    """The `dojo report` page for the batch's runs, and the per-competition chart beside it."""
    write_scores_chart(out, episodes)
    if not any((e.run_dir / "rewards.jsonl").is_file() for e in episodes):
        return None
    from .report import write_report

    return write_report(out)


# --------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """done / running / failed / skipped and time left, on stderr (silent when disabled)."""

    def __init__(self, total: int, skipped: int, enabled: bool) -> None:
        self.counts = {"running": 0, "failed": 0, "retried": 0, "skipped": skipped}
        self._bar = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("running {task.fields[running]} · failed {task.fields[failed]} · "
                                            "retried {task.fields[retried]} · skipped {task.fields[skipped]}"),
                                 TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
            self._task = self._bar.add_task("batch", total=total, **self.counts)
            self._bar.start()

    def update(self, *, advance: int = 0, **changes: int) -> None:
        for name, delta in changes.items():
            self.counts[name] += delta
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, **self.counts)

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# --------------------------------------------------------------------------------------------
# The local backend


def _worker_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers are forked from a server that has already imported the env, so a
    # new worker (the first ones, and one after each crash) starts in a fraction of a second.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # What every episode imports (grading's metrics pull in scikit-learn): imported once here.
        context.set_forkserver_preload(["dojo_kernel.runner", "dojo_kernel.env", "dojo_kernel.agents",
                                        "dojo_kernel.metrics", "dojo_kernel.prepare.builtin"])
        return context
    return multiprocessing.get_context("spawn")


def _worker_main(connection, environ: dict[str, str], import_path: list[str]) -> None:
    """A local worker process: plays the episodes the batch sends, one at a time, and answers
    ('ok', None) or ('error', (line, details)) for each, until it is sent None."""
    # The batch's Ctrl-C reaches the whole process group; the batch decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forkserver child starts with the server's environment and import path, fixed when the
    # server started: take the batch's current ones, as a spawned process would.
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = import_path
    while True:
        try:
            job = connection.recv()
        except EOFError:  # the batch is gone
            return
        if job is None:
            return
        try:
            play_episode(*job)
            connection.send(("ok", None))  # the results come from the run dir's summary.json
        except BaseException as error:  # every failure must reach the table, whatever its type
            connection.send(("error", _format_error(error)))


@dataclass
class _Job:
    spec: EpisodeSpec
    attempt: int
    slot: Slot | None = None  # given when the job starts
    started: float = field(default_factory=time.monotonic)


class _Worker:
    """One worker process of a local batch and the episode it is playing, if any.

    Workers are reused (imports and caches stay warm), each plays one episode at a time, so a
    worker that dies is blamed on exactly one episode; a worker whose episode failed is
    replaced, in case the failure left it in a bad state.
    """

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker_main, name="dojo-batch-worker",
                                       args=(child_end, dict(os.environ), list(sys.path)))
        self.process.start()
        child_end.close()
        self.job: _Job | None = None
        self.descendants: dict[int, Any] = {}  # pid -> psutil.Process, seen during the job

    def start(self, job: _Job, episode_dir: Path) -> bool:
        """Hand the worker `job`; False if the worker is gone."""
        self.job, self.descendants = job, {}
        try:
            self.connection.send((job.spec, job.slot, str(episode_dir)))
        except OSError:
            return False
        return True

    def note_descendants(self) -> None:
        """Remember the worker's processes (its kernel, and what the kernel started), so that
        they can be ended if the worker dies and leaves them behind."""
        import psutil

        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.kill()
        self.connection.close()

    def kill(self) -> None:
        """End the worker and every process it was seen to start (a kernel runs in a session
        of its own, and what it starts may too: they would outlive the worker)."""
        self.note_descendants()
        self.process.kill()
        self.process.join()
        for process in self.descendants.values():
            try:
                if process.is_running():  # psutil checks the creation time: never a recycled PID
                    process.kill()
            except Exception:
                pass


def _run_local(pending: list[EpisodeSpec], out: Path, slots: list[Slot], retries: int,
               progress: _Progress) -> list[EpisodeResult]:
    context = _worker_context()
    free = list(slots)
    queue = [_Job(spec, 1) for spec in pending]
    idle: list[_Worker] = []
    busy: list[_Worker] = []
    results: list[EpisodeResult] = []
    try:
        while queue or busy:
            while queue and free:
                job = queue.pop(0)
                job.slot, job.started = free.pop(0), time.monotonic()
                episode_dir = out / job.spec.key
                _prepare_episode_dir(episode_dir)
                worker = idle.pop() if idle else _Worker(context)
                if not worker.start(job, episode_dir):  # it had died while idle: use a new one
                    worker.kill()
                    worker = _Worker(context)
                    worker.start(job, episode_dir)
                busy.append(worker)
                progress.update(running=+1)
            # Wake for an answer, a worker's exit, or the poll interval (to refresh the display).
            ready = wait_for([w.connection for w in busy] + [w.process.sentinel for w in busy], _POLL_S)
            for worker in list(busy):
                if worker.connection not in ready and worker.process.sentinel not in ready:
                    worker.note_descendants()
                    continue
                try:
                    message = worker.connection.recv() if worker.connection.poll() else None
                except (EOFError, OSError):  # the worker died: its end of the pipe closed
                    message = None
                job = worker.job
                busy.remove(worker)
                free.append(job.slot)
                progress.update(running=-1)
                if message is not None and message[0] == "ok":
                    idle.append(worker)
                    results.append(_finished(job.spec, out / job.spec.key, job.attempt, job.slot,
                                             time.monotonic() - job.started))
                    progress.update(advance=1)
                    continue
                if message is None:
                    worker.process.join(timeout=5)  # its own exit code, before kill() could set one
                    worker.kill()
                    error = details = f"the worker process died (exit code {worker.process.exitcode})"
                else:
                    worker.stop()
                    error, details = message[1]
                if job.attempt <= retries:
                    progress.log(f"retrying {job.spec.key} after: {error}")
                    progress.update(retried=+1)
                    queue.append(_Job(job.spec, job.attempt + 1))
                    continue
                results.append(_failed(job.spec, out / job.spec.key, job.attempt, job.slot, error, details,
                                       time.monotonic() - job.started))
                progress.update(advance=1, failed=+1)
        for worker in idle:
            worker.stop()
    finally:
        for worker in busy + idle:  # interrupted: stop every episode still running, leave no kernel behind
            if worker.process.is_alive():
                worker.kill()
    return results


def _finished(spec: EpisodeSpec, episode_dir: Path, attempts: int, slot: Slot | None,
              duration_s: float | None) -> EpisodeResult:
    _record_spec(spec, episode_dir)
    return EpisodeResult(spec, episode_dir, "ok", attempts, None, slot, duration_s, _read_summary(episode_dir))


def _failed(spec: EpisodeSpec, episode_dir: Path, attempts: int, slot: Slot | None, error: str, details: str,
            duration_s: float | None) -> EpisodeResult:
    _record_spec(spec, episode_dir)
    (episode_dir / ERROR_FILE).write_text(f"{spec.key}: failed after {attempts} attempt(s)\n\n{details}\n",
                                          encoding="utf-8")
    return EpisodeResult(spec, episode_dir, "failed", attempts, error, slot, duration_s, _read_summary(episode_dir))


# --------------------------------------------------------------------------------------------
# The Ray backend


@dataclass(frozen=True)
class RayPlan:
    """How episodes ask Ray for resources."""

    num_cpus: float  # Ray resource per episode (fractional where episodes share cores)
    cpus: int | None  # the episode's CPU limit
    num_gpus: float = 0.0  # 1 / per_gpu with GPUs
    per_gpu: int = 1
    gpu_memory_gb: float | None = None  # each GPU's memory, if given; else NVML on the node


def _ray_episode(spec: EpisodeSpec, plan: RayPlan, out: str, driver_node: str, ship: bool | None) -> dict[str, Any]:
    """A Ray task: play one episode and tell the driver how it went (never raises for the
    episode's own errors, so that the driver retries and reports them like the local backend)."""
    import ray

    context = ray.get_runtime_context()
    remote_node = context.get_node_id() != driver_node
    ship = remote_node if ship is None else ship
    # On another node the batch folder may not exist: play in a local temporary folder and
    # send the run dir back as an archive.
    scratch = Path(tempfile.mkdtemp(prefix="dojo-batch-")) if ship else None
    episode_dir = (scratch / "episode") if scratch else Path(out) / spec.key
    started = time.monotonic()
    slot = None
    try:
        _prepare_episode_dir(episode_dir)
        try:
            # The GPU Ray gave this task (its ID is the device index on this node) and its share.
            gpu_ids = ray.get_gpu_ids()
            gpu_device = int(gpu_ids[0]) if gpu_ids else None
            gpu_memory = None if gpu_device is None else gpu_share_gb(gpu_device, plan.per_gpu, plan.gpu_memory_gb)
            slot = Slot(plan.cpus, gpu_device, gpu_memory)
            play_episode(spec, slot, episode_dir)
            outcome: dict[str, Any] = {"status": "ok"}
        except BaseException as error:  # reported to the driver like a local worker's failure
            error_line, details = _format_error(error)
            outcome = {"status": "error", "error": error_line, "details": details}
        outcome.update(slot=slot, duration_s=time.monotonic() - started, node=context.get_node_id())
        if scratch is not None:
            outcome["archive"] = _pack(episode_dir)
        return outcome
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _pack(episode_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(episode_dir, arcname=".")
    return buffer.getvalue()


def _unpack(archive: bytes, episode_dir: Path) -> None:
    _prepare_episode_dir(episode_dir)
    episode_dir.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(episode_dir, filter=_run_dir_member)
        else:  # Python without extraction filters (< 3.10.12)
            tar.extractall(episode_dir)


def _run_dir_member(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
    """Tar's 'data' filter, except that a run dir's `input` may stay a link to the
    competition's public data (an absolute path, valid where that node keeps its data)."""
    parts = Path(member.name).parts
    if member.issym() and parts[-1:] == ("input",) and len(parts) <= 3 and ".." not in parts:
        return member
    return tarfile.data_filter(member, destination)


def ray_plan(*, parallel: int | None, cpus: int | None, gpus: Sequence[int] | None, per_gpu: int,
             gpu_memory_gb: float | None, cluster_cpus: float) -> RayPlan:
    _check_positive_int("--parallel", parallel, allow_none=True)
    _check_positive_int("--per-gpu", per_gpu)
    _check_positive_int("--cpus", cpus, allow_none=True)
    if cpus is not None:
        share = float(cpus)
    elif parallel is not None:
        share = max(0.01, round(cluster_cpus / parallel, 2))
    else:
        share = 1.0
    return RayPlan(num_cpus=share, cpus=cpus or max(1, math.floor(share)),
                   num_gpus=(1.0 / per_gpu) if gpus else 0.0, per_gpu=per_gpu, gpu_memory_gb=gpu_memory_gb)


def _start_ray(address: str | None, gpus: Sequence[int] | None) -> bool:
    """Connect to `address`, or start a small local Ray; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address not in (None, "", "local"):
        ray.init(address=address, log_to_driver=False)
        return True
    # A local Ray for this batch: small object store, no dashboard, the driver's import path
    # (agents given as "module:Class" import the same way as in a local worker).
    env_vars = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))}
    if os.environ.get("DOJO_DATA"):  # where competitions are found
        env_vars["DOJO_DATA"] = os.environ["DOJO_DATA"]
    options: dict[str, Any] = {"num_cpus": os.cpu_count() or 1, "object_store_memory": 200 * 1024**2,
                               "include_dashboard": False, "log_to_driver": False,
                               "runtime_env": {"env_vars": env_vars}}
    if gpus:
        options["num_gpus"] = len(gpus)
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    if gpus:  # Ray hands out the IDs it finds here: make them the GPUs the batch was given
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    try:
        ray.init(**options)
    finally:
        if gpus:
            if previous is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = previous
    return True


def _run_ray(pending: list[EpisodeSpec], out: Path, *, address: str | None, parallel: int | None,
             cpus: int | None, gpus: Sequence[int] | None, per_gpu: int, gpu_memory_gb: float | None,
             retries: int, progress: _Progress, ship: bool | None) -> list[EpisodeResult]:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs the ray extra: pip install 'dojo-kernel[ray]'") from None
    started_here = _start_ray(address, gpus)
    in_flight: dict[Any, tuple[EpisodeSpec, int, float]] = {}  # object ref -> (spec, attempt, start)
    try:
        plan = ray_plan(parallel=parallel, cpus=cpus, gpus=gpus, per_gpu=per_gpu, gpu_memory_gb=gpu_memory_gb,
                        cluster_cpus=float(ray.cluster_resources().get("CPU", 1.0)))
        task = ray.remote(_ray_episode)
        # Ray does not retry on its own: a crash is retried, and reported, as in the local backend.
        resources = {"num_cpus": plan.num_cpus, "num_gpus": plan.num_gpus, "max_retries": 0, "retry_exceptions": False}
        driver_node = ray.get_runtime_context().get_node_id()
        queue = [(spec, 1) for spec in pending]
        results: list[EpisodeResult] = []
        limit = parallel or len(pending)
        while queue or in_flight:
            while queue and len(in_flight) < limit:
                spec, attempt = queue.pop(0)
                reference = task.options(name=f"dojo {spec.key}", **resources).remote(spec, plan, str(out),
                                                                                     driver_node, ship)
                in_flight[reference] = (spec, attempt, time.monotonic())
                progress.update(running=+1)
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=_POLL_S)
            for reference in done:
                spec, attempt, started = in_flight.pop(reference)
                progress.update(running=-1)
                episode_dir = out / spec.key
                try:
                    outcome = ray.get(reference)
                except Exception as error:  # the task's worker died, or Ray itself failed it
                    message, details = _format_error(error)
                    outcome = {"status": "error", "error": message, "details": details}
                if "archive" in outcome:
                    _unpack(outcome["archive"], episode_dir)
                slot = outcome.get("slot")
                if outcome["status"] == "ok":
                    results.append(_finished(spec, episode_dir, attempt, slot, outcome.get("duration_s")))
                    progress.update(advance=1)
                elif attempt <= retries:
                    progress.log(f"retrying {spec.key} after: {outcome['error']}")
                    progress.update(retried=+1)
                    queue.append((spec, attempt + 1))
                else:
                    results.append(_failed(spec, episode_dir, attempt, slot, outcome["error"], outcome["details"],
                                           time.monotonic() - started))
                    progress.update(advance=1, failed=+1)
        return results
    finally:
        for reference in in_flight:  # interrupted: stop the episodes still running on the cluster
            ray.cancel(reference, force=True)
        if started_here:
            ray.shutdown()


# --------------------------------------------------------------------------------------------
# The batch


def run_batch(specs: Sequence[EpisodeSpec], out: str | os.PathLike[str], *, parallel: int | None = None,
              gpus: Sequence[int] | None = None, per_gpu: int = 1, gpu_memory_gb: float | None = None,
              cpus: int | None = None, ray: str | bool | None = None, retries: int = 1,
              progress: bool = False, report: bool = True, ray_ship_run_dirs: bool | None = None) -> BatchResult:
    """Run every episode of `specs` not already finished under `out`, then write the results.

    parallel: concurrent episodes (local default: one per core, or every GPU slot).
    gpus, per_gpu, gpu_memory_gb: GPU slots; each episode sees one GPU and gets its memory
        divided by per_gpu as its limit (the memory from NVML, else `gpu_memory_gb` per GPU).
    cpus: the CPU limit of each episode (default: cores / parallel).
    ray: None/False for worker processes on this machine; True or "local" for a local Ray
        started here; an address ("auto", "ray://head:10001", "10.0.0.1:6379") for a cluster.
    retries: how many times a crashed episode is tried again before it is reported.
    ray_ship_run_dirs: send run dirs back as archives (default: only from other nodes).

    Called from a script, the call must sit under `if __name__ == "__main__":`: worker
    processes import the main module, as with any multiprocessing start method but fork.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(expected("retries as an int >= 0", retries))
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = [spec for spec in specs if is_finished(out_dir / spec.key)]
    pending = [spec for spec in specs if not is_finished(out_dir / spec.key)]
    _check_same_spec(skipped, out_dir)
    use_ray = ray not in (None, False)
    if use_ray and ray is not True and not _looks_like_ray_address(str(ray)):
        raise ConfigError(expected("a Ray address: local, auto, HOST:PORT or ray://HOST:PORT", ray,
                                   "with --ray before the competitions, write --ray=ADDRESS or put --ray last"))
    slots = None if use_ray else plan_slots(parallel=parallel, gpus=gpus, per_gpu=per_gpu,
                                           gpu_memory_gb=gpu_memory_gb, cpus=cpus)
    display = _Progress(len(pending), len(skipped), progress)
    try:
        if not pending:
            episodes: list[EpisodeResult] = []
        elif use_ray:
            episodes = _run_ray(pending, out_dir, address=None if ray is True else str(ray), parallel=parallel,
                                cpus=cpus, gpus=gpus, per_gpu=per_gpu, gpu_memory_gb=gpu_memory_gb,
                                retries=retries, progress=display, ship=ray_ship_run_dirs)
        else:
            episodes = _run_local(pending, out_dir, slots, retries, display)
    finally:
        display.close()
    episodes += [EpisodeResult(spec, out_dir / spec.key, "skipped", summary=_read_summary(out_dir / spec.key))
                 for spec in skipped]
    episodes.sort(key=lambda e: e.spec.key)
    result = BatchResult(out_dir, episodes)
    if report:  # first: results.md shows the chart it draws
        result.report = write_batch_report(out_dir, episodes)
    result.results_csv, result.results_md = write_results(out_dir, episodes)
    return result


def _looks_like_ray_address(address: str) -> bool:
    return address in ("local", "auto") or ":" in address


# --------------------------------------------------------------------------------------------
# `dojo batch`


def add_batch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of `dojo batch` (the CLI's subcommand and `python -m dojo_kernel.runner`)."""
    parser.add_argument("targets", nargs="+", metavar="COMPETITION|GRID.toml",
                        help="competition names, or one TOML grid file (competitions, agents, seeds, settings)")
    parser.add_argument("--agent", action="append", dest="agents", metavar="NAME",
                        help="agent name or module:Class (repeat for several; default baseline)")
    parser.add_argument("--agent-option", action="append", default=[], metavar="KEY=VALUE",
                        help="option for every agent (VALUE read as TOML, else text); repeatable")
    parser.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="env setting (max_steps=10, memory_gb=2, reward_mode=final, ...); repeatable")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="batch folder: one folder per episode, <competition>/<agent>/seed-<n> (required)")
    parser.add_argument("--parallel", type=int, default=None, metavar="N", help="episodes at once")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="CPU limit per episode (default: cores / --parallel)")
    parser.add_argument("--gpus", default=None, metavar="0,1", help="GPU indices to spread episodes over")
    parser.add_argument("--per-gpu", type=int, default=None, metavar="N", help="episodes per GPU (default 1)")
    parser.add_argument("--gpu-memory-gb", type=float, default=None, metavar="GB",
                        help="memory of each GPU, where NVML cannot tell (each episode gets GB / --per-gpu)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run episodes as Ray tasks: a local Ray, or the cluster at ADDRESS")
    parser.add_argument("--retries", type=int, default=None, metavar="N",
                        help="tries again for a crashed episode before it is reported (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report page")
    return parser


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    tomllib = _toml()
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(expected(f"{flag} KEY=VALUE", pair, f"e.g. {flag} max_steps=10"))
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        values[key.strip().replace("-", "_")] = value  # max-steps=3 reads as max_steps=3
    return values


def _parse_gpus(text: str | list[int] | None) -> list[int] | None:
    if text is None or isinstance(text, list):
        return text
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ConfigError(expected("--gpus as comma-separated indices", text, "e.g. --gpus 0,1")) from None


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run `dojo batch`; returns the exit code (0: every episode finished, 1: some failed)."""
    if not isinstance(args, argparse.Namespace):
        parser = add_batch_arguments(argparse.ArgumentParser(prog="dojo batch", description=__doc__.splitlines()[0]))
        args = parser.parse_args(args)
    try:
        result = _main(args)
    except DojoError as error:
        print(f"dojo batch: {error}", file=sys.stderr)
        return 2
    print(f"{result.count('ok')} finished, {result.count('skipped')} skipped (done before), "
          f"{result.count('failed')} failed: {result.results_md}")
    for episode in result.failed:
        print(f"  failed {episode.spec.key} after {episode.attempts} attempt(s): {episode.error}")
    if result.report:
        print(f"report: {result.report}")
    return 1 if result.failed else 0


def _main(args: argparse.Namespace) -> BatchResult:
    if len(args.targets) == 1 and args.targets[0].endswith(".toml"):
        grid = load_grid(args.targets[0])
    else:
        grid = Grid(list(args.targets))
    # Flags override the grid file.
    if args.agents:
        grid.agents = list(args.agents)
    if args.seeds is not None:
        grid.seeds = args.seeds
    grid.settings = {**grid.settings, **_key_values(args.settings, "--set")}
    specs = grid.specs(_key_values(args.agent_option, "--agent-option"))

    def option(name: str, default: Any = None) -> Any:
        value = getattr(args, name)
        return value if value is not None else grid.run_options.get(name, default)

    out = option("out")
    if not out:
        raise ConfigError(expected("--out DIR (or 'out' in the grid file)", None, "e.g. --out runs/batch-1"))
    return run_batch(specs, out, parallel=option("parallel"), gpus=_parse_gpus(option("gpus")),
                     per_gpu=option("per_gpu", 1), gpu_memory_gb=option("gpu_memory_gb"), cpus=option("cpus"),
                     ray=option("ray"), retries=option("retries", 1),
                     progress=not args.no_progress, report=not args.no_report)


if __name__ == "__main__":
    raise SystemExit(main())
