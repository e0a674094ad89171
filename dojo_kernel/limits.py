"""The numbers a kernel is held to (`Limits`) and the watchdog that enforces them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import ConfigError, expected


@dataclass(frozen=True)
class Limits:
    """Resource limits for one kernel session. `None` means no limit.

    memory_gb:       PSS of the kernel's whole process tree (children count once).
    cell_timeout_s:  wall clock of one cell; past it the cell is interrupted, then killed.
    episode_time_s:  wall clock of a whole episode (the env enforces it, agent time included).
    gpu_device:      the GPU index the kernel may see (sets CUDA_VISIBLE_DEVICES).
    gpu_memory_gb:   NVML-reported GPU memory of the tree's PIDs.
    cpus:            thread count for BLAS/OpenMP/torch, and CPU affinity where possible.
    max_processes:   processes in the kernel's tree, the kernel included.
    disk_gb:         size of the working directory.
    max_output_chars: characters of text output kept per cell (head and tail kept).
    """

    memory_gb: float | None = 4.0
    cell_timeout_s: float | None = 600.0
    episode_time_s: float | None = None
    gpu_device: int | None = None
    gpu_memory_gb: float | None = None
    cpus: int | None = None
    max_processes: int | None = 256
    disk_gb: float | None = 10.0
    max_output_chars: int | None = 20_000
    max_image_bytes: int | None = 2_000_000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            integral = field.name in ("gpu_device", "cpus", "max_processes", "max_output_chars", "max_image_bytes")
            ok_type = isinstance(value, int) if integral else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                kind = "an int" if integral else "a number"
                raise ConfigError(expected(f"{kind} or None for Limits.{field.name}", value))
            if value < 0 or (value == 0 and field.name != "gpu_device"):
                raise ConfigError(expected(f"a positive value for Limits.{field.name}", value,
                                           "use None for no limit"))

    def replace(self, **changes) -> "Limits":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Limits":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(expected(f"Limits fields among {sorted(names)}", unknown))
        return cls(**data)
