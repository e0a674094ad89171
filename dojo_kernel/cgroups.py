"""A cgroup per kernel, nested under this process's own, where cgroups are writable.

The kernel (bwrap and everything inside the sandbox) joins its cgroups between fork and
exec, so nothing it starts escapes them. What the kernel itself then enforces:

- memory: memory.limit_in_bytes (v1) / memory.max (v2) = HEADROOM x Limits.memory_gb. It is
  charged for tmpfs (/tmp, /dev/shm), memfd and shared memory pages, which the process
  tree's RSS/PSS does not show; the watchdog reads the same counters (anon + shmem) and
  reports a kill by the OOM killer as a memory breach.
- pids: pids.max = Limits.max_processes, counting every task (a thread takes a PID).
- cpuset: Limits.cpus cores (cpuset.cpus), so the kernel runs on that many cores only.

Only cgroups this module created are written or removed (their names start with "dojo-"
and hold this process's PID); it never changes its own or any other cgroup. Where none can
be created (no root, no delegated subtree, cgroup v2 without the controllers enabled
below this process's cgroup) `KernelCgroup.create` returns None and the watchdog alone
holds the limits; `mode()` says which applies.
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_CONTROLLERS = ("memory", "pids", "cpuset")
HEADROOM = 1.25  # the cgroup's memory limit, as a multiple of Limits.memory_gb
_COUNTER = itertools.count()


@dataclass(frozen=True)
class Hierarchy:
    controller: str  # memory | pids | cpuset, or "" for the unified (v2) hierarchy
    own: Path        # this process's cgroup folder in it
    version: int


def _mounts() -> dict[str, tuple[str, str]]:
    """Mounted cgroup hierarchies: controller (or "" for v2) -> (mount root, mount point)."""
    found: dict[str, tuple[str, str]] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            found.setdefault("", (fields[3], fields[4]))
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in _CONTROLLERS:
                    found.setdefault(option, (fields[3], fields[4]))
    return found


def _own_hierarchies() -> list[Hierarchy]:
    """This process's cgroup folders, from /proc/self/cgroup and the mount table."""
    mounts = _mounts()
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        number, _, rest = line.partition(":")
        names, _, path = rest.partition(":")
        for name in (names.split(",") if names else [""]):
            if name not in mounts or (name == "" and number != "0"):
                continue
            root, point = mounts[name]
            relative = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
            if relative.startswith(".."):
                continue  # our cgroup lies outside what is mounted here: cannot reach it
            found.append(Hierarchy(name, Path(point, relative).resolve(), 2 if name == "" else 1))
    return found


def _usable(limits_memory: bool, limits_cpus: bool) -> list[Hierarchy]:
    """Hierarchies where a child cgroup can be made and given the controllers wanted."""
    result = []
    for hierarchy in _own_hierarchies():
        if hierarchy.version == 2:
            enabled = _read(hierarchy.own / "cgroup.subtree_control").split()
            if "pids" in enabled or "memory" in enabled:
                result.append(hierarchy)
        elif hierarchy.controller != "cpuset" or limits_cpus:
            result.append(hierarchy)
    return [h for h in result if os.access(h.own, os.W_OK)]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _cpu_list(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.strip().split(","):
        if "-" in part:
            low, high = part.split("-")
            cpus.extend(range(int(low), int(high) + 1))
        elif part:
            cpus.append(int(part))
    return cpus


def pick_cpus(count: int, allowed: list[int]) -> list[int]:
    """`count` of the `allowed` cores, rotating from kernel to kernel so that sessions of one
    process spread over the cores instead of all pinning the first."""
    if count >= len(allowed):
        return list(allowed)
    start = (next(_COUNTER) * count) % len(allowed)
    return [allowed[(start + index) % len(allowed)] for index in range(count)]


class KernelCgroup:
    """One kernel's cgroups (one folder per hierarchy used)."""

    def __init__(self, folders: list[tuple[Hierarchy, Path]]) -> None:
        self.folders = folders

    @classmethod
    def create(cls, memory_bytes: int | None, max_tasks: int | None, cpus: int | None) -> KernelCgroup | None:
        """Make and configure the cgroups; None where none can be made (the watchdog then holds
        every limit). A failure half way removes what was made."""
        name = f"dojo-{os.getpid()}-{next(_COUNTER)}"
        made: list[tuple[Hierarchy, Path]] = []
        try:
            for hierarchy in _usable(memory_bytes is not None, cpus is not None):
                _remove_stale(hierarchy.own)
                folder = hierarchy.own / name
                folder.mkdir()
                made.append((hierarchy, folder))
                _configure(hierarchy, folder, memory_bytes, max_tasks, cpus)
        except OSError:
            cls(made).remove()
            return None
        if not any(h.controller in ("memory", "") for h, _ in made):
            cls(made).remove()
            return None  # without the memory controller the point (tmpfs, memfd) is lost
        return cls(made)

    def join(self) -> None:
        """Move the calling process into every folder; runs in the child between fork and exec."""
        self.move(os.getpid())

    def move(self, pid: int) -> None:
        """Move process `pid` (all its threads) into every folder: a forked kernel leaves its
        parent's cgroups for its own, so each branch is limited, counted and ended on its own."""
        for _, folder in self.folders:
            _write(folder / "cgroup.procs", str(pid))

    def _file(self, controller: str, v1_name: str, v2_name: str) -> Path | None:
        for hierarchy, folder in self.folders:
            if hierarchy.version == 2:
                return folder / v2_name
            if hierarchy.controller == controller:
                return folder / v1_name
        return None

    def memory_bytes(self) -> int | None:
        """Anonymous + shared (tmpfs, memfd, shm) memory charged to the kernel; page cache of
        files it read is left out (the OS reclaims it before it would ever kill)."""
        path = self._file("memory", "memory.stat", "memory.stat")
        if path is None:
            return None
        stats = dict(line.split() for line in _read(path).splitlines() if len(line.split()) == 2)
        keys = ("total_rss", "total_shmem") if "total_rss" in stats else ("anon", "shmem")
        try:
            return sum(int(stats[key]) for key in keys)
        except (KeyError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many of the kernel's processes the OOM killer took (the memory limit held)."""
        path = self._file("memory", "memory.oom_control", "memory.events")
        for line in _read(path).splitlines() if path else []:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def tasks(self) -> int | None:
        path = self._file("pids", "pids.current", "pids.current")
        text = _read(path).strip() if path else ""
        return int(text) if text.isdigit() else None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for _, folder in self.folders:
            found.update(int(pid) for pid in _read(folder / "cgroup.procs").split())
        return sorted(found)

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self, timeout_s: float = 5.0) -> None:
        """Kill what is left in the cgroups and delete them (a cgroup with tasks cannot go)."""
        deadline = time.monotonic() + timeout_s
        for _, folder in reversed(self.folders):
            while True:
                self.kill()
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # a task in uninterruptible sleep: the reaper retries later
                    time.sleep(0.02)


def _remove_stale(parent: Path) -> None:
    """Remove empty cgroups an env that died left here (killed between making a kernel's
    cgroups and starting its reaper): ours by name, dojo-<pid>-<n>, with that pid gone."""
    for folder in parent.glob("dojo-*-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                folder.rmdir()  # only succeeds where no task is left in it
            except OSError:
                pass


def _configure(hierarchy: Hierarchy, folder: Path, memory_bytes: int | None, max_tasks: int | None,
               cpus: int | None) -> None:
    if hierarchy.version == 2:
        enabled = _read(hierarchy.own / "cgroup.subtree_control").split()
        if memory_bytes is not None and "memory" in enabled:
            _write(folder / "memory.max", str(memory_bytes))
            if (folder / "memory.swap.max").exists():
                _write(folder / "memory.swap.max", "0")
        if max_tasks is not None and "pids" in enabled:
            _write(folder / "pids.max", str(max_tasks))
        if cpus is not None and "cpuset" in enabled:
            allowed = _cpu_list(_read(hierarchy.own / "cpuset.cpus.effective"))
            _write(folder / "cpuset.cpus", ",".join(map(str, pick_cpus(cpus, allowed))))
        return
    if hierarchy.controller == "memory" and memory_bytes is not None:
        _write(folder / "memory.limit_in_bytes", str(memory_bytes))
        if (folder / "memory.swappiness").exists():
            try:
                _write(folder / "memory.swappiness", "0")
            except OSError:
                pass
    elif hierarchy.controller == "pids" and max_tasks is not None:
        _write(folder / "pids.max", str(max_tasks))
    elif hierarchy.controller == "cpuset" and cpus is not None:
        # A v1 cpuset takes tasks only once both its cores and its memory nodes are set.
        allowed = _cpu_list(_read(hierarchy.own / "cpuset.cpus"))
        _write(folder / "cpuset.cpus", ",".join(map(str, pick_cpus(cpus, allowed))))
        _write(folder / "cpuset.mems", _read(hierarchy.own / "cpuset.mems").strip())


@functools.cache
def mode() -> str:
    """Which enforcement applies in this process: "cgroup v1" / "cgroup v2" (a cgroup per
    kernel: memory with tmpfs and memfd, tasks, cores) or "watchdog" (psutil and /proc only).
    Probed once by making and removing a trial cgroup."""
    trial = KernelCgroup.create(64 * 1024**2, 64, None)
    if trial is None:
        return "watchdog"
    version = trial.folders[0][0].version
    trial.remove()
    return f"cgroup v{version}"


def for_kernel(limits) -> tuple[KernelCgroup | None, list[int] | None]:
    """The cgroup of a kernel held to `limits` (a limits.Limits), and the cores to pin by CPU
    affinity where no cpuset cgroup does it (None: no pinning)."""
    # The watchdog kills at memory_gb (it reads the same counters); the cgroup's hard limit,
    # HEADROOM above, stops a burst faster than its sampling.
    memory = None if limits.memory_gb is None else int(limits.memory_gb * HEADROOM * 1024**3)
    # One task over the limit is allowed in, so the watchdog sees the breach and reports it;
    # the pids controller stops the task after that one.
    tasks = None if limits.max_processes is None else limits.max_processes + 1
    cgroup = KernelCgroup.create(memory, tasks, limits.cpus)
    pinned = cgroup is not None and any(
        h.controller == "cpuset" or (h.version == 2 and "cpuset" in _read(h.own / "cgroup.subtree_control").split())
        for h, _ in cgroup.folders)
    if limits.cpus is None or pinned:
        return cgroup, None
    return cgroup, pick_cpus(limits.cpus, sorted(os.sched_getaffinity(0)))
