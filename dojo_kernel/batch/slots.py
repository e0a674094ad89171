"""The resources of a batch's episodes: CPU shares and GPU slots (a GPU and a share of its
memory), and how they become an episode's limits."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, expected
from ..limits import NVML, Limits

_LIMIT_FIELDS = {name for name in Limits.__dataclass_fields__}


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
