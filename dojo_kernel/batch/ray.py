"""The Ray backend: each episode a Ray task, on a local Ray started for the batch or on a
cluster. A task on another node plays in a scratch folder and sends its run dir back as an
archive.

The module's functions import `ray` when they run: the `ray` extra is only needed by a batch
that uses this backend.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, expected
from .backend import Job, Outcome
from .episode import _format_error, _prepare_episode_dir, play_episode
from .grid import EpisodeSpec
from .slots import Slot, _check_positive_int, gpu_share_gb


@dataclass(frozen=True)
class RayPlan:
    """How episodes ask Ray for resources."""

    num_cpus: float  # Ray resource per episode (fractional where episodes share cores)
    cpus: int | None  # the episode's CPU limit
    num_gpus: float = 0.0  # 1 / per_gpu with GPUs
    per_gpu: int = 1
    gpu_memory_gb: float | None = None  # each GPU's memory, if given; else NVML on the node


def _ray_episode(spec: EpisodeSpec, plan: RayPlan, episode_dir: str, driver_node: str,
                 ship: bool | None) -> dict[str, Any]:
    """A Ray task: play one episode and tell the driver how it went (never raises for the
    episode's own errors, so that the driver retries and reports them like the local backend)."""
    import ray

    context = ray.get_runtime_context()
    remote_node = context.get_node_id() != driver_node
    ship = remote_node if ship is None else ship
    # On another node the batch folder may not exist: play in a local temporary folder and
    # send the run dir back as an archive.
    scratch = Path(tempfile.mkdtemp(prefix="dojo-batch-")) if ship else None
    folder = (scratch / "episode") if scratch else Path(episode_dir)
    started = time.monotonic()
    slot = None
    try:
        _prepare_episode_dir(folder)
        try:
            # The GPU Ray gave this task (its ID is the device index on this node) and its share.
            gpu_ids = ray.get_gpu_ids()
            gpu_device = int(gpu_ids[0]) if gpu_ids else None
            gpu_memory = None if gpu_device is None else gpu_share_gb(gpu_device, plan.per_gpu, plan.gpu_memory_gb)
            slot = Slot(plan.cpus, gpu_device, gpu_memory)
            play_episode(spec, slot, folder)
            outcome: dict[str, Any] = {"status": "ok"}
        except BaseException as error:  # reported to the driver like a local worker's failure
            error_line, details = _format_error(error)
            outcome = {"status": "error", "error": error_line, "details": details}
        outcome.update(slot=slot, duration_s=time.monotonic() - started, node=context.get_node_id())
        if scratch is not None:
            outcome["archive"] = _pack(folder)
        return outcome
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _pack(episode_dir: Path) -> bytes:
    """The episode folder as a tar.gz of its folders and regular files only: a link (an
    absolute one agent code made in working/, the run dir's input/) or a device stays behind."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(episode_dir, arcname=".", filter=_regular_member)
    return buffer.getvalue()


def _unpack(archive: bytes, episode_dir: Path) -> None:
    """Extract what `_pack` made, again keeping only folders and regular files (and, where
    Python has it, tar's 'data' filter on those): the archive came from another machine."""
    _prepare_episode_dir(episode_dir)
    episode_dir.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(episode_dir, filter=_run_dir_member)
        else:  # Python without extraction filters (< 3.10.12): the same checks by hand
            tar.extractall(episode_dir, members=[m for m in tar.getmembers() if _plain_member(m)])


def _regular_member(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return member if member.isfile() or member.isdir() else None


def _plain_member(member: tarfile.TarInfo) -> bool:
    """A folder or regular file whose name stays inside the destination."""
    name = Path(member.name)
    return _regular_member(member) is not None and not name.is_absolute() and ".." not in name.parts


def _run_dir_member(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
    """Tar's 'data' filter, on folders and regular files only: links are skipped, not refused
    (one link must not cost the batch its episode)."""
    if not _plain_member(member):
        return None
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


def _looks_like_ray_address(address: str) -> bool:
    return address in ("local", "auto") or ":" in address


class RayBackend:
    """Episodes as Ray tasks. `address`: None or "local" for a local Ray started for the
    batch (and shut down after it), else a cluster's ("auto", "ray://head:10001",
    "10.0.0.1:6379"). A Ray already running in this process is used as it is, and left running.

    Ray starts when the first job is submitted, so a batch with nothing left to run needs none.
    """

    def __init__(self, address: str | None = None, *, parallel: int | None = None, cpus: int | None = None,
                 gpus: Sequence[int] | None = None, per_gpu: int = 1, gpu_memory_gb: float | None = None,
                 ship: bool | None = None) -> None:
        if address is not None and not (isinstance(address, str) and _looks_like_ray_address(address)):
            raise ConfigError(expected("a Ray address: local, auto, HOST:PORT or ray://HOST:PORT", address,
                                       "with --ray before the competitions, write --ray=ADDRESS or put --ray last"))
        _check_positive_int("--parallel", parallel, allow_none=True)
        _check_positive_int("--per-gpu", per_gpu)
        _check_positive_int("--cpus", cpus, allow_none=True)
        self.address, self.parallel, self.cpus, self.gpus = address, parallel, cpus, gpus
        self.per_gpu, self.gpu_memory_gb, self.ship = per_gpu, gpu_memory_gb, ship
        self._started = False  # Ray is up for this backend (started here, or found running)
        self._started_here = False
        self._in_flight: dict[Any, Job] = {}  # object ref -> job

    @property
    def capacity(self) -> int | None:
        return self.parallel  # None: every pending episode becomes a task at once; Ray queues them

    def _start(self) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the Ray backend needs the ray extra: pip install 'dojo-kernel[ray]'") from None
        self._started_here = _start_ray(self.address, self.gpus)
        self._started = True
        self._plan = ray_plan(parallel=self.parallel, cpus=self.cpus, gpus=self.gpus, per_gpu=self.per_gpu,
                              gpu_memory_gb=self.gpu_memory_gb,
                              cluster_cpus=float(ray.cluster_resources().get("CPU", 1.0)))
        self._task = ray.remote(_ray_episode)
        # Ray does not retry on its own: a crash is retried, and reported, by the batch's loop.
        self._resources = {"num_cpus": self._plan.num_cpus, "num_gpus": self._plan.num_gpus,
                           "max_retries": 0, "retry_exceptions": False}
        self._driver_node = ray.get_runtime_context().get_node_id()

    def submit(self, job: Job) -> None:
        if not self._started:
            self._start()
        reference = self._task.options(name=f"dojo {job.spec.key}", **self._resources).remote(
            job.spec, self._plan, str(job.episode_dir), self._driver_node, self.ship)
        self._in_flight[reference] = job

    def collect(self, timeout: float) -> list[Outcome]:
        if not self._in_flight:
            return []
        import ray

        done, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
        outcomes = []
        for reference in done:
            job = self._in_flight.pop(reference)
            result: dict[str, Any]
            try:
                result = ray.get(reference)
            except Exception as error:  # the task's worker died, or Ray itself failed it
                message, details = _format_error(error)
                result = {"status": "error", "error": message, "details": details}
            if "archive" in result:
                _unpack(result["archive"], job.episode_dir)
            slot = result.get("slot")
            if result["status"] == "ok":
                outcomes.append(Outcome(job, slot, result.get("duration_s")))
            else:
                outcomes.append(Outcome(job, slot, time.monotonic() - job.started, result["error"], result["details"]))
        return outcomes

    def shutdown(self) -> None:
        """Cancel the episodes still running on the cluster (an interrupted batch), and stop
        the Ray this backend started."""
        if not self._started:
            return
        import ray

        in_flight, self._in_flight = self._in_flight, {}
        try:
            for reference in in_flight:
                ray.cancel(reference, force=True)
        finally:
            if self._started_here:
                ray.shutdown()
            self._started = self._started_here = False
