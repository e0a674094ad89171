"""`run_batch`: the one scheduling-and-retry loop of a batch, the same for every backend.

A batch gives each episode its own folder, `<out>/<competition>/<agent>/seed-<n>`, as the
env's output dir (the env makes the episode's run dir inside it). It is resumable: an episode
the runner recorded as finished (`finished.json`, with the checksum of the run dir's
`summary.json`; no `error.txt`) is skipped on a rerun; a summary.json it did not record is
played again. An episode that crashes (its code raised, or what ran it died) is retried, then
reported with its error in the results table (`results.csv`, `results.md`) and in
`error.txt` in its folder.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, expected
from .backend import Backend, Job
from .episode import EpisodeResult, _check_same_spec, _failed, _finished, _read_summary, is_finished
from .grid import EpisodeSpec
from .local import LocalBackend
from .progress import _POLL_S, _Progress
from .ray import RayBackend
from .results import BatchResult, write_batch_report, write_results
from .slots import plan_slots

BACKENDS = ("local", "ray")


def run_batch(specs: Sequence[EpisodeSpec], out: str | os.PathLike[str], *, backend: str | Backend = "local",
              parallel: int | None = None, gpus: Sequence[int] | None = None, per_gpu: int = 1,
              gpu_memory_gb: float | None = None, cpus: int | None = None, retries: int = 1,
              progress: bool = False, report: bool = True, ray_address: str | None = None,
              ray_ship_run_dirs: bool | None = None, ray: str | bool | None = None) -> BatchResult:
    """Run every episode of `specs` not already finished under `out`, then write the results.

    backend: "local" (worker processes on this machine), "ray" (Ray tasks), or a `Backend`
        of your own (the options below are then its business: pass none of them).
    parallel: concurrent episodes (local default: one per core, or every GPU slot).
    gpus, per_gpu, gpu_memory_gb: GPU slots; each episode sees one GPU and gets its memory
        divided by per_gpu as its limit (the memory from NVML, else `gpu_memory_gb` per GPU).
    cpus: the CPU limit of each episode (default: cores / parallel).
    retries: how many times a crashed episode is tried again before it is reported.
    ray_address: with backend="ray": None or "local" for a local Ray started here, else a
        cluster's address ("auto", "ray://head:10001", "10.0.0.1:6379").
    ray_ship_run_dirs: send run dirs back as archives (default: only from other nodes).
    ray: deprecated; True or an address means backend="ray" with that address.

    Called from a script, the call must sit under `if __name__ == "__main__":`: worker
    processes import the main module, as with any multiprocessing start method but fork.
    """
    if ray not in (None, False):
        warnings.warn("run_batch(ray=...) is deprecated: pass backend='ray' (and ray_address=ADDRESS)",
                      DeprecationWarning, stacklevel=2)
        if backend != "local" or ray_address is not None:
            raise ConfigError(expected("either ray=... (deprecated) or backend='ray' with ray_address", ray))
        backend, ray_address = "ray", None if ray is True else str(ray)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(expected("retries as an int >= 0", retries))
    _check_backend_choice(backend, parallel=parallel, gpus=gpus, per_gpu=per_gpu, gpu_memory_gb=gpu_memory_gb,
                          cpus=cpus, ray_address=ray_address, ray_ship_run_dirs=ray_ship_run_dirs)
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = [spec for spec in specs if is_finished(out_dir / spec.key)]
    pending = [spec for spec in specs if not is_finished(out_dir / spec.key)]
    _check_same_spec(skipped, out_dir)
    if backend == "ray":
        chosen: Backend = RayBackend(ray_address, parallel=parallel, cpus=cpus, gpus=gpus, per_gpu=per_gpu,
                                     gpu_memory_gb=gpu_memory_gb, ship=ray_ship_run_dirs)
    elif backend == "local":
        chosen = LocalBackend(plan_slots(parallel=parallel, gpus=gpus, per_gpu=per_gpu, gpu_memory_gb=gpu_memory_gb,
                                         cpus=cpus))
    else:
        chosen = backend  # type: ignore[assignment]  # checked above: a Backend
    display = _Progress(len(pending), len(skipped), progress)
    try:
        episodes = _schedule(pending, out_dir, chosen, retries, display)
    finally:
        display.close()
    episodes += [EpisodeResult(spec, out_dir / spec.key, "skipped", summary=_read_summary(out_dir / spec.key))
                 for spec in skipped]
    episodes.sort(key=lambda e: e.spec.key)
    result = BatchResult(out_dir, episodes)
    # The results first: drawing reads the run dirs, which agent code wrote beside, and
    # whatever it finds there must not cost the batch its table.
    result.results_csv, result.results_md = write_results(out_dir, episodes)
    if report:
        try:
            result.report = write_batch_report(out_dir, episodes)
        except Exception as error:  # the table is written; say why the page is not
            warnings.warn(f"dojo-kernel: no report page for {out_dir}: {type(error).__name__}: {error}", stacklevel=2)
        else:
            result.results_csv, result.results_md = write_results(out_dir, episodes)  # now showing the chart
    return result


def _check_backend_choice(backend: object, *, ray_address: str | None, ray_ship_run_dirs: bool | None,
                          **resources: object) -> None:
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise ConfigError(expected(f"a backend among {', '.join(BACKENDS)}, or a Backend object", backend))
        if backend != "ray" and (ray_address is not None or ray_ship_run_dirs is not None):
            raise ConfigError(expected("ray_address and ray_ship_run_dirs only with backend='ray'", backend))
        return
    if not isinstance(backend, Backend):
        raise ConfigError(expected("a backend name or an object with capacity, submit, collect and shutdown",
                                   backend))
    given = sorted(name for name, value in {**resources, "ray_address": ray_address,
                                            "ray_ship_run_dirs": ray_ship_run_dirs}.items()
                   if value is not None and not (name == "per_gpu" and value == 1))
    if given:
        raise ConfigError(expected("no resource options with a Backend object (they are the backend's own)",
                                   given, "give them to the backend when you make it"))


def _schedule(pending: list[EpisodeSpec], out: Path, backend: Backend, retries: int,
              progress: _Progress) -> list[EpisodeResult]:
    """Hand `backend` the pending episodes, at most its capacity at a time, until each has
    finished or failed `retries` + 1 times; always shut the backend down, interrupted or not."""
    queue = deque(Job(spec, 1, out / spec.key) for spec in pending)
    running = 0
    results: list[EpisodeResult] = []
    try:
        capacity = backend.capacity
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
            raise ConfigError(expected("a backend capacity of at least 1 episode (or None)", capacity))
        while queue or running:
            while queue and (capacity is None or running < capacity):
                job = queue.popleft()
                job.started = time.monotonic()
                backend.submit(job)
                running += 1
                progress.update(running=+1)
            for outcome in backend.collect(_POLL_S):
                running -= 1
                progress.update(running=-1)
                job = outcome.job
                if outcome.ok:
                    results.append(_finished(job.spec, job.episode_dir, job.attempt, outcome.slot, outcome.duration_s))
                    progress.update(advance=1)
                elif job.attempt <= retries:
                    progress.log(f"retrying {job.spec.key} after: {outcome.error}")
                    progress.update(retried=+1)
                    queue.append(Job(job.spec, job.attempt + 1, job.episode_dir))
                else:
                    results.append(_failed(job.spec, job.episode_dir, job.attempt, outcome.slot, str(outcome.error),
                                           str(outcome.details or outcome.error), outcome.duration_s))
                    progress.update(advance=1, failed=+1)
    finally:
        backend.shutdown()
    return results
