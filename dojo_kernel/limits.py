"""The numbers a kernel is held to (`Limits`) and the watchdog that enforces them."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import psutil

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

    def replace(self, **changes) -> Limits:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Limits:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(expected(f"Limits fields among {sorted(names)}", unknown))
        return cls(**data)


# ---------------------------------------------------------------------------------------------
# The process tree of one kernel
# ---------------------------------------------------------------------------------------------

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# /proc/<pid>/task/<tid>/children lists a thread's children without scanning all of /proc
# (what psutil does); it exists where the kernel has CONFIG_PROC_CHILDREN, almost everywhere.
_HAS_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                kids.extend(int(kid) for kid in handle.read().split())
        except OSError:  # the thread ended while we looked
            continue
    return kids


def tree_pids(root_pid: int, exclude: Collection[int] = ()) -> list[int]:
    """The PIDs of `root_pid` and all its descendants (root first); [] if root is gone.
    `exclude`: PIDs whose whole subtree is left out (forked kernels sharing a sandbox)."""
    if not psutil.pid_exists(root_pid):
        return []
    if not _HAS_PROC_CHILDREN:
        try:
            found = [root_pid] + [child.pid for child in psutil.Process(root_pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        if exclude:
            left_out = {pid for excluded in exclude if excluded in found for pid in tree_pids(excluded)}
            found = [pid for pid in found if pid not in left_out]
        return found
    pids = [root_pid]
    index = 0
    while index < len(pids):
        pids.extend(kid for kid in _children(pids[index]) if kid not in exclude)
        index += 1
    return pids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def _pss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_full_info().pss
    except (psutil.Error, AttributeError):  # gone, or no smaps here: fall back on RSS
        return _rss_bytes(pid)


def _disk_bytes(path: Path) -> int:
    """Bytes on disk under `path` (allocated blocks, so sparse files count what they use)."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


# ---------------------------------------------------------------------------------------------
# GPU memory through NVML
# ---------------------------------------------------------------------------------------------

class _Nvml:
    """The one way into NVML (the watchdog, the batch's GPU slots, the benchmarks): initialised
    once per process, never shut down while the process may still ask; `error` says why it
    cannot be used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: bool | None = None
        self.error: str | None = None
        self._handles: list = []

    def available(self) -> bool:
        with self._lock:
            if self._ready is None:
                self._ready = self._init()
            return self._ready

    def _init(self) -> bool:
        try:
            import pynvml
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception as exc:  # no library, no driver, no permission: all mean "no NVML"
            self.error = f"NVML not available ({type(exc).__name__}: {exc})"
            return False
        if count == 0:
            self.error = "NVML finds no GPU"
            return False
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(count)]
        return True

    def device_count(self) -> int:
        return len(self._handles) if self.available() else 0

    def total_memory_bytes(self, index: int) -> int | None:
        """GPU `index`'s total memory, or None where NVML or that GPU is missing."""
        if not 0 <= index < self.device_count():
            return None
        import pynvml
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(self._handles[index]).total)
        except pynvml.NVMLError:
            return None

    def memory_by_pid(self) -> dict[int, int]:
        """GPU bytes per PID, summed over devices (compute and graphics contexts)."""
        import pynvml
        used: dict[int, int] = {}
        for handle in self._handles:
            for query in (pynvml.nvmlDeviceGetComputeRunningProcesses,
                          pynvml.nvmlDeviceGetGraphicsRunningProcesses):
                try:
                    processes = query(handle)
                except pynvml.NVMLError:
                    continue
                for process in processes:
                    if process.usedGpuMemory is not None:
                        used[process.pid] = used.get(process.pid, 0) + process.usedGpuMemory
        return used


NVML = _Nvml()


# ---------------------------------------------------------------------------------------------
# The watchdog
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Breach:
    """A limit the kernel's tree crossed. kind: memory | gpu_memory | processes | disk."""

    kind: str
    limit: float
    peak: float
    message: str
    root_pid: int


@dataclass
class CellPeaks:
    rss_bytes: int = 0
    gpu_bytes: int | None = None


_GB = 1024**3


class Watchdog:
    """A thread that holds one kernel's process tree to its `Limits`.

    It samples fast (`cell_interval`) while a cell runs and slowly (`idle_interval`) between
    cells. Memory: the summed RSS of the tree is the cheap signal; only when it crosses the
    limit is PSS read, which splits copy-on-write pages between the processes sharing them,
    so forked workers are not counted twice. Over a limit, `on_breach` is called from the
    watchdog thread (the session kills the tree there, at once) and sampling pauses until
    `attach` names the next kernel.
    """

    def __init__(self, limits: Limits, *, disk_path: Path, on_breach: Callable[[Breach], None],
                 cell_interval: float = 0.05, idle_interval: float = 0.5) -> None:
        self.limits = limits
        self.disk_path = disk_path
        self._on_breach = on_breach
        self._cell_interval = cell_interval
        self._idle_interval = idle_interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._root: int | None = None
        self._exclude: Callable[[], Collection[int]] | None = None
        self._breach: Breach | None = None
        self._in_cell = False
        self._last_rss = 0
        self._peak_rss = 0
        self._peak_gpu: int | None = None
        self._next_disk_at = 0.0
        # working/'s size at the first sample of the kernel or of the cell: only growth past
        # the limit breaches it, so that a cell that finds working/ over the limit (files left
        # by a cell that was stopped) can run and delete them instead of being killed at once.
        self._disk_floor: int | None = None
        self._pss_cache: tuple[int, int] | None = None  # (summed RSS, PSS) at the last PSS read
        self._next_pss_at = 0.0
        self.warnings: list[str] = []
        self._measure_gpu = limits.gpu_memory_gb is not None or limits.gpu_device is not None
        if self._measure_gpu and not NVML.available():
            self._measure_gpu = False
            if limits.gpu_memory_gb is not None:
                self.warnings.append(f"GPU memory limit unenforceable: {NVML.error}; "
                                     f"gpu_memory_gb={limits.gpu_memory_gb} is not checked")
        self._thread = threading.Thread(target=self._loop, name="dojo-kernel-watchdog", daemon=True)
        self._thread.start()

    # -- control, from the session ------------------------------------------------------------
    def attach(self, root_pid: int | None) -> None:
        """Watch the tree of `root_pid` from now on (None: watch nothing)."""
        with self._lock:
            self._root = root_pid
            self._exclude = None
            self._breach = None
            self._disk_floor = None
            self._pss_cache = None
            self._last_rss = 0
        self._wake.set()

    def set_exclude(self, exclude: Callable[[], Collection[int]] | None) -> None:
        """Leave the subtrees of these PIDs out of the watched tree from now on (branches forked
        into the same sandbox are accounted by their own watchdogs). Cleared by attach()."""
        with self._lock:
            self._exclude = exclude

    @property
    def breach(self) -> Breach | None:
        with self._lock:
            return self._breach

    def begin_cell(self) -> None:
        with self._lock:
            self._in_cell = True
            self._peak_rss = self._last_rss
            self._peak_gpu = 0 if self._measure_gpu else None
            # Measure the disk at the cell's first sample: the idle schedule (5 s apart) would
            # let a short cell write gigabytes before its first check.
            self._next_disk_at = 0.0
            self._disk_floor = None
        self._wake.set()

    def cell_peak_rss(self) -> int:
        """The running cell's peak so far (bytes), for a live display; 0 between cells."""
        with self._lock:
            return self._peak_rss if self._in_cell else 0

    def end_cell(self) -> CellPeaks:
        with self._lock:
            self._in_cell = False
            return CellPeaks(self._peak_rss, self._peak_gpu)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    # -- sampling -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._cell_interval if self._in_cell else self._idle_interval)
            self._wake.clear()
            with self._lock:
                root = None if self._breach else self._root
            if root is None or self._stop.is_set():
                continue
            try:
                breach = self.sample(root)
            except Exception as exc:  # a sampling bug must never take the session down silently
                warning = f"watchdog sample failed: {type(exc).__name__}: {exc}"
                if warning not in self.warnings:
                    self.warnings.append(warning)
                continue
            if breach is None:
                continue
            with self._lock:
                if self._root != root or self._breach is not None:
                    continue  # a new kernel was attached meanwhile: this breach is stale
                self._breach = breach
            self._on_breach(breach)

    def sample(self, root: int) -> Breach | None:
        """Measure the tree once; return the first limit it crosses, if any."""
        exclude = self._exclude
        pids = tree_pids(root, exclude() if exclude is not None else ())
        if not pids:
            return None
        limits = self.limits
        if limits.max_processes is not None and len(pids) > limits.max_processes:
            return Breach("processes", limits.max_processes, len(pids),
                          f"the kernel's process tree reached {len(pids)} processes, over the "
                          f"limit of {limits.max_processes}", root)
        memory = self._memory(pids)
        gpu = self._gpu(pids) if self._measure_gpu else None  # ~0.1 ms: cheap enough when idle too
        with self._lock:
            self._last_rss = memory
            if self._in_cell:
                self._peak_rss = max(self._peak_rss, memory)
                if gpu is not None:
                    self._peak_gpu = max(self._peak_gpu or 0, gpu)
        if limits.memory_gb is not None and memory > limits.memory_gb * _GB:
            return Breach("memory", limits.memory_gb, memory / _GB,
                          f"the kernel's process tree used {memory / _GB:.2f} GB of memory, over "
                          f"the limit of {limits.memory_gb:g} GB", root)
        if gpu is not None and limits.gpu_memory_gb is not None and gpu > limits.gpu_memory_gb * _GB:
            return Breach("gpu_memory", limits.gpu_memory_gb, gpu / _GB,
                          f"the kernel's processes used {gpu / _GB:.2f} GB of GPU memory, over "
                          f"the limit of {limits.gpu_memory_gb:g} GB", root)
        return self._disk(root)

    def _memory(self, pids: list[int]) -> int:
        """Summed RSS, or PSS where the RSS sum crosses the limit (the confirmation)."""
        rss = sum(_rss_bytes(pid) for pid in pids)
        limit = self.limits.memory_gb
        if limit is None or rss <= limit * _GB:
            self._pss_cache = None
            return rss
        # PSS costs a page-table walk: while the RSS sum stays over the limit (forked workers
        # sharing pages), it is re-read only when RSS grew past what the last PSS allows, or
        # after a pause, since a child writing to shared pages raises PSS without raising RSS.
        now = time.monotonic()
        if self._pss_cache is not None and now < self._next_pss_at:
            last_rss, last_pss = self._pss_cache
            if last_pss + max(0, rss - last_rss) <= limit * _GB:
                return last_pss + max(0, rss - last_rss)
        started = time.monotonic()
        pss = sum(_pss_bytes(pid) for pid in pids)
        cost = time.monotonic() - started
        self._pss_cache = (rss, pss)
        self._next_pss_at = now + max(self._cell_interval, 10 * cost)
        return pss

    def _gpu(self, pids: list[int]) -> int | None:
        try:
            by_pid = NVML.memory_by_pid()
        except Exception:
            return None
        return sum(by_pid.get(pid, 0) for pid in pids)

    def _disk(self, root: int) -> Breach | None:
        limit = self.limits.disk_gb
        now = time.monotonic()
        if limit is None or now < self._next_disk_at:
            return None
        size = _disk_bytes(self.disk_path)  # the folder the caller named: the agent's writable one
        cost = time.monotonic() - now
        # At least a second apart, and never more than ~5% of a core on a big directory.
        pause = 1.0 if self._in_cell else 5.0
        self._next_disk_at = time.monotonic() + max(pause, 20 * cost)
        floor = self._disk_floor
        if floor is None:  # the first sample of this kernel or cell sets the floor
            self._disk_floor = size
        elif size > limit * _GB and size > floor:
            return Breach("disk", limit, size / _GB,
                          f"the working directory {self.disk_path} holds {size / _GB:.2f} GB, over the limit "
                          f"of {limit:g} GB (its files outlive a restart: delete the big ones, e.g. "
                          f"os.remove('working/NAME'), to make room)", root)
        return None
