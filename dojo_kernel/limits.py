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
    cpus:            thread count for BLAS/OpenMP/torch, and the cores the kernel runs on (a
                     cpuset cgroup where cgroups are writable, else CPU affinity).
    max_processes:   tasks (processes and their threads: each takes a PID) of the kernel's tree,
                     the sandbox's own two processes included.
    disk_gb:         growth past the episode's start of every place the kernel can write: the
                     working directory, its runtime folder ($HOME), its private /tmp and /dev/shm.
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


def _task_count(pid: int) -> int:
    """Threads of one process (field 20 of /proc/PID/stat), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return int(data[data.rindex(b")") + 2:].split()[17])
    except (OSError, ValueError, IndexError):
        return 0


def _tmpfs_bytes(pid: int) -> int:
    """Used bytes of the private /tmp and /dev/shm in the mount namespace of sandboxed `pid`
    (statvfs of a tmpfs is exact and O(1): no file walk)."""
    total = 0
    for scratch in ("tmp", "dev/shm"):
        try:
            stats = os.statvfs(f"/proc/{pid}/root/{scratch}")
        except OSError:
            continue
        total += (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    return total


def _memfd_bytes(pids: list[int]) -> int:
    """Bytes held in memfd files (memfd_create) that the tree's processes keep open: RAM that
    no RSS shows until it is mapped. Counted once per file."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if not os.readlink(path).startswith("/memfd:"):
                    continue
                info = os.stat(path)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


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

    def minor_number(self, index: int) -> int:
        """The /dev/nvidiaN number of GPU `index` (NVML's order); the index itself where NVML
        cannot tell (then the two agree on every driver we know)."""
        if not 0 <= index < self.device_count():
            return index
        import pynvml
        try:
            return int(pynvml.nvmlDeviceGetMinorNumber(self._handles[index]))
        except pynvml.NVMLError:
            return index

    def memory_by_pid(self) -> dict[int, int]:
        """GPU bytes per PID, summed over devices (compute and graphics contexts).

        Raises pynvml.NVMLError when NVML fails (the watchdog then fails closed); a GPU that
        does not support a query (graphics contexts on compute-only GPUs) counts as none."""
        import pynvml
        used: dict[int, int] = {}
        for handle in self._handles:
            for query in (pynvml.nvmlDeviceGetComputeRunningProcesses,
                          pynvml.nvmlDeviceGetGraphicsRunningProcesses):
                try:
                    processes = query(handle)
                except pynvml.NVMLError as error:
                    if getattr(error, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED:
                        continue
                    raise
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
    """Threads that hold one kernel's process tree to its `Limits`.

    The sampling thread runs fast (`cell_interval`) while a cell runs and slowly
    (`idle_interval`) between cells: tasks, memory, GPU memory. Memory: the summed RSS of the
    tree is the cheap signal; only when it crosses the limit is PSS read, which splits
    copy-on-write pages between the processes sharing them. Where the kernel has a cgroup
    (cgroups.KernelCgroup) its anon + shmem counter counts too (tmpfs, memfd, shared memory)
    and an OOM kill inside it is a memory breach; without one, the sandbox's tmpfs usage and
    the tree's open memfd files are added to the tree's memory.

    The disk is measured by a thread of its own, so a slow scan (a working directory of a
    million files) never delays a memory check; it rests 20 times as long as a scan took
    (at most ~5% of a core). The disk baseline is the size at the watchdog's start (the
    episode's), moved only by a disk breach (to what the killed kernel left), never by writes
    between cells.

    Over a limit, `on_breach` is called from the watchdog thread that saw it (the session kills
    the tree there, at once) and sampling pauses until `attach` names the next kernel.
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
        self._cgroup = None  # cgroups.KernelCgroup of the attached kernel, if any
        self._sandboxed = False
        self._writable: tuple[Path, ...] = ()
        self._breach: Breach | None = None
        self._in_cell = False
        self._last_rss = 0
        self._peak_rss = 0
        self._peak_gpu: int | None = None
        self._oom_kills = 0
        self._pss_cache: tuple[int, int] | None = None  # (summed RSS, PSS) at the last PSS read
        self._next_pss_at = 0.0
        self.warnings: list[str] = []
        self._measure_gpu = limits.gpu_memory_gb is not None or limits.gpu_device is not None
        if self._measure_gpu and not NVML.available():
            self._measure_gpu = False
            if limits.gpu_memory_gb is not None:
                self.warnings.append(f"GPU memory limit unenforceable: {NVML.error}; "
                                     f"gpu_memory_gb={limits.gpu_memory_gb} is not checked")
        # The baseline, fixed here at the episode's start (working/ may hold files of a forked
        # or resumed episode: only growth past them counts).
        self._disk_floor = _disk_bytes(disk_path) if limits.disk_gb is not None else 0
        self._disk_wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dojo-kernel-watchdog", daemon=True)
        self._thread.start()
        self._disk_thread = None
        if limits.disk_gb is not None:
            self._disk_thread = threading.Thread(target=self._disk_loop, name="dojo-kernel-disk-watch", daemon=True)
            self._disk_thread.start()

    # -- control, from the session ------------------------------------------------------------
    def attach(self, root_pid: int | None, *, cgroup=None, sandboxed: bool = False,
               writable: tuple[Path, ...] = ()) -> None:
        """Watch the tree of `root_pid` from now on (None: watch nothing). cgroup: the kernel's
        cgroups.KernelCgroup; sandboxed: the tree runs under bwrap (its /tmp and /dev/shm are
        private tmpfs, read through /proc/PID/root); writable: more host folders the kernel can
        write (its runtime folder), counted with disk_path."""
        with self._lock:
            self._root = root_pid
            self._exclude = None
            self._cgroup = cgroup
            self._sandboxed = sandboxed
            self._writable = tuple(writable)
            self._breach = None
            self._pss_cache = None
            self._last_rss = 0
            self._oom_kills = cgroup.oom_kills() if cgroup is not None else 0
        self._wake.set()
        self._disk_wake.set()

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
        self._wake.set()
        self._disk_wake.set()  # a short cell must not write gigabytes before its first disk check

    def cell_peak_rss(self) -> int:
        """The running cell's peak so far (bytes), for a live display; 0 between cells."""
        with self._lock:
            return self._peak_rss if self._in_cell else 0

    def end_cell(self) -> CellPeaks:
        with self._lock:
            self._in_cell = False
            return CellPeaks(self._peak_rss, self._peak_gpu)

    def check_exit(self, root_pid: int) -> Breach | None:
        """After the kernel `root_pid` died: the breach that explains it, if any. Asked at once
        by the session, so an OOM kill inside the cgroup is reported even when the kernel died
        between two samples."""
        with self._lock:
            if self._breach is not None or self._root != root_pid or self._cgroup is None:
                return self._breach
            cgroup = self._cgroup
        if cgroup.oom_kills() > self._oom_kills:
            self._record(self._oom_breach(root_pid), root_pid, notify=False)
        return self.breach

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._disk_wake.set()
        for thread in (self._thread, self._disk_thread):
            if thread is not None and threading.current_thread() is not thread:
                thread.join(timeout=2)

    # -- sampling -----------------------------------------------------------------------------
    def _record(self, breach: Breach, root: int, notify: bool = True) -> None:
        with self._lock:
            if self._root != root or self._breach is not None:
                return  # a new kernel was attached meanwhile, or another thread saw one first
            self._breach = breach
        if notify:
            self._on_breach(breach)

    def _warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

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
                self._warn(f"watchdog sample failed: {type(exc).__name__}: {exc}")
                continue
            if breach is not None:
                self._record(breach, root)

    def _disk_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                root = None if self._breach else self._root
            pause = self._idle_interval
            if root is not None:
                started = time.monotonic()
                try:
                    breach = self._disk(root)
                except Exception as exc:
                    self._warn(f"disk check failed: {type(exc).__name__}: {exc}")
                    breach = None
                if breach is not None:
                    self._record(breach, root)
                # At least a second apart, and never more than ~5% of a core on a big directory.
                pause = max(1.0, 20 * (time.monotonic() - started))
            self._disk_wake.wait(pause)
            self._disk_wake.clear()

    def sample(self, root: int) -> Breach | None:
        """Measure the tree once (tasks, memory, GPU); return the first limit it crosses, if any."""
        exclude = self._exclude
        pids = tree_pids(root, exclude() if exclude is not None else ())
        if not pids:
            return None
        limits = self.limits
        cgroup = self._cgroup
        if limits.max_processes is not None:
            counted = cgroup.tasks() if cgroup is not None else None
            tasks = counted if counted is not None else sum(_task_count(pid) for pid in pids)
            if tasks > limits.max_processes:
                return Breach("processes", limits.max_processes, tasks,
                              f"the kernel's process tree reached {tasks} tasks (processes and their "
                              f"threads), over the limit of {limits.max_processes}", root)
        memory = self._memory(pids)
        if cgroup is not None:
            if cgroup.oom_kills() > self._oom_kills:
                return self._oom_breach(root)
            memory = max(memory, cgroup.memory_bytes() or 0)
        else:
            memory += _memfd_bytes(pids) + (_tmpfs_bytes(pids[-1]) if self._sandboxed and len(pids) > 1 else 0)
        gpu = self._gpu(pids) if self._measure_gpu else None  # ~0.1 ms: cheap enough when idle too
        if isinstance(gpu, Breach):
            return gpu
        with self._lock:
            self._last_rss = memory
            if self._in_cell:
                self._peak_rss = max(self._peak_rss, memory)
                if gpu is not None:
                    self._peak_gpu = max(self._peak_gpu or 0, gpu)
        if limits.memory_gb is not None and memory > limits.memory_gb * _GB:
            return Breach("memory", limits.memory_gb, memory / _GB,
                          f"the kernel's process tree used {memory / _GB:.2f} GB of memory (tmpfs and "
                          f"memfd files included), over the limit of {limits.memory_gb:g} GB", root)
        if gpu is not None and limits.gpu_memory_gb is not None and gpu > limits.gpu_memory_gb * _GB:
            return Breach("gpu_memory", limits.gpu_memory_gb, gpu / _GB,
                          f"the kernel's processes used {gpu / _GB:.2f} GB of GPU memory, over "
                          f"the limit of {limits.gpu_memory_gb:g} GB", root)
        return None

    def _oom_breach(self, root: int) -> Breach:
        from .cgroups import HEADROOM  # the hard limit the OOM killer enforced
        limit = self.limits.memory_gb or 0.0
        return Breach("memory", limit, limit * HEADROOM,
                      f"the kernel's processes grew past the memory limit of {limit:g} GB (tmpfs and memfd "
                      f"files included) faster than the watchdog samples, and the kernel's cgroup stopped "
                      f"them at {limit * HEADROOM:g} GB", root)

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

    def _gpu(self, pids: list[int]) -> int | Breach | None:
        """The tree's GPU bytes; where NVML fails and a GPU limit is set, a breach (fail closed:
        a limit that can no longer be checked stops the kernel rather than lapse silently)."""
        try:
            by_pid = NVML.memory_by_pid()
        except Exception as exc:
            limit = self.limits.gpu_memory_gb
            if limit is None:
                self._warn(f"GPU memory not measured: NVML failed ({type(exc).__name__}: {exc})")
                return None
            return Breach("gpu_memory", limit, 0.0,
                          f"NVML failed while checking the GPU memory limit of {limit:g} GB "
                          f"({type(exc).__name__}: {exc}); a limit that cannot be checked is not "
                          f"left to lapse", pids[0])
        return sum(by_pid.get(pid, 0) for pid in pids)

    def _disk(self, root: int) -> Breach | None:
        limit = self.limits.disk_gb
        if limit is None:
            return None
        with self._lock:
            writable, sandboxed = self._writable, self._sandboxed
        size = _disk_bytes(self.disk_path) + sum(_disk_bytes(path) for path in writable)
        pids = tree_pids(root) if sandboxed else []
        if len(pids) > 1:
            size += _tmpfs_bytes(pids[-1])
        floor = self._disk_floor
        if size > limit * _GB and size > floor:
            # What the killed kernel leaves (working/'s files outlive it) becomes the floor, so
            # that the next cell can run and delete them instead of being killed at once.
            self._disk_floor = size
            return Breach("disk", limit, size / _GB,
                          f"the kernel's writable places (working directory {self.disk_path}, $HOME, /tmp, "
                          f"/dev/shm) hold {size / _GB:.2f} GB, over the limit of {limit:g} GB (files in "
                          f"working/ outlive a restart: delete the big ones, e.g. os.remove('working/NAME'), "
                          f"to make room)", root)
        return None
