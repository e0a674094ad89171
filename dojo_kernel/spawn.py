"""Starting and reaping kernel processes.

Kernels are forked from one long-lived thread and die with the parent (PR_SET_PDEATHSIG);
without a sandbox's PID namespace a tiny watcher process kills a kernel's whole process group
once the parent is gone; `kill_tree` stops a tree so that nothing forks past the kill.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import seccomp
from .errors import ConfigError, expected
from .kernel_user import StagePlan
from .limits import tree_pids

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when its parent goes away."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Spawner:
    """Starts processes from one daemon thread that lives as long as the interpreter.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process:
    a kernel started from a short-lived worker thread (a pool filling itself) would be killed
    when that thread finished. Forking from this thread ties kernels to the process instead.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="dojo-kernel-spawner", daemon=True)
                self._thread.start()
        done = threading.Event()
        box: dict[str, Any] = {}
        self._jobs.put((argv, kwargs, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["process"]

    def _serve(self) -> None:
        while True:
            argv, kwargs, box, done = self._jobs.get()
            try:
                box["process"] = subprocess.Popen(argv, **kwargs)
            except BaseException as exc:  # handed back to the caller's thread
                box["error"] = exc
            finally:
                done.set()


_SPAWNER = _Spawner()


def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen:
    """subprocess.Popen(argv, **kwargs), forked from the spawner thread (see _Spawner)."""
    return _SPAWNER.popen(argv, **kwargs)


def _new_spawner_after_fork() -> None:
    """A forked child (multiprocessing's default start method) inherits the spawner but not
    its thread: without a fresh one it would hang on its first kernel."""
    global _SPAWNER
    _SPAWNER = _Spawner()


os.register_at_fork(after_in_child=_new_spawner_after_fork)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"



# PR_SET_PDEATHSIG takes the launched process down with its parent, but not what it started:
# without a sandbox, the kernel's children (joblib workers, subprocesses); with one, the
# sandbox's init, whose own parent-death signal is all that ends the sandbox. This watcher, a
# separate tiny process on the host (no sandboxed code can see, signal or trace it; the
# seccomp filter refuses ptrace anyway), kills once the parent is gone (it is then
# re-parented, so getppid() changes): the launched process's group, its tree as last seen
# (the sandbox's init: killing it ends its whole PID namespace), and everything in the
# kernel's cgroups, which it then removes. It exits by itself once the group is empty, so it
# can never hit a recycled group id.
_GROUP_REAPER = """
import os, sys, time
parent, group, cgroups = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def tree(root):
    pids, index = [root], 0
    while index < len(pids):
        try:
            for tid in os.listdir("/proc/%d/task" % pids[index]):
                with open("/proc/%d/task/%s/children" % (pids[index], tid)) as handle:
                    pids.extend(int(pid) for pid in handle.read().split())
        except (OSError, ValueError):
            pass
        index += 1
    return pids
def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
def in_cgroups():
    found = []
    for folder in cgroups:
        try:
            found += [int(pid) for pid in open(folder + "/cgroup.procs").read().split()]
        except (OSError, ValueError):
            pass
    return found
seen = [group]
while True:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        break
    if os.getppid() != parent:
        kill(seen + tree(group))
        try:
            os.killpg(group, 9)
        except OSError:
            pass
        break
    seen = tree(group)
    time.sleep(0.5)
for attempt in range(100):
    kill(in_cgroups())
    for folder in reversed(cgroups):
        try:
            os.rmdir(folder)
        except OSError:
            pass
    if not any(os.path.isdir(folder) for folder in cgroups) or os.getppid() == parent:
        break  # done, or the env lives on and removes its cgroups itself
    time.sleep(0.1)
"""


def _start_group_reaper(kernel_pid: int, cgroup_folders: tuple[Path, ...] = ()) -> subprocess.Popen:
    return _SPAWNER.popen([sys.executable, "-S", "-c", _GROUP_REAPER, str(os.getpid()), str(kernel_pid),
                           *map(str, cgroup_folders)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True, env={}, cwd="/")


def popen_kernel(argv: list[str], *, cgroup: Any = None, cores: list[int] | None = None,
                 seccomp_fd: int | None = None, stage: StagePlan | None = None, **kwargs: Any) -> subprocess.Popen:
    """Launch a kernel (or its sandbox) in a session of its own, dying with this process, in
    `cgroup` (removed again if the launch fails), pinned to `cores`, handing bwrap seccomp_fd,
    staging bwrap's binds and dropping to an unprivileged uid where `stage` says (kernel_user.py)."""
    try:
        return popen(argv, start_new_session=True, preexec_fn=child_setup(cgroup, cores, stage),
                     pass_fds=() if seccomp_fd is None else (seccomp_fd,), **kwargs)
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise


def child_setup(cgroup: Any = None, cores: list[int] | None = None,
                stage: StagePlan | None = None) -> Callable[[], None]:
    """What the launched process does between fork and exec: die with its parent, join the
    kernel's cgroups (a cgroups.KernelCgroup; before exec, so nothing it starts escapes them),
    without a cpuset cgroup keep to `cores` by CPU affinity, and last (it gives up root)
    stage bwrap's binds and drop to the kernel's host uid."""
    def setup() -> None:
        _die_with_parent()
        if cgroup is not None:
            cgroup.join()
        if cores:
            os.sched_setaffinity(0, cores)
        if stage is not None:
            stage.apply()
    return setup


@contextmanager
def seccomp_descriptor(sandboxed: bool) -> Iterator[int | None]:
    """A descriptor holding the sandbox's seccomp filter for bwrap to read (`--seccomp FD`,
    pass it in pass_fds); None without a sandbox or on an architecture the filter does not know.
    The child inherits its own copy of the descriptor (bwrap reads it after exec), so the
    parent closes its copy as soon as Popen has returned."""
    program = seccomp.program() if sandboxed else None
    if program is None:
        yield None
        return
    fd = os.memfd_create("dojo-seccomp", 0)  # no file on disk, gone with its last descriptor
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def kill_tree(root_pid: int, process_group: int | None = None) -> None:
    """SIGKILL `root_pid`, every descendant, and `process_group` (if given).

    The tree is frozen with SIGSTOP first and walked again, so that a process forking in a
    loop cannot slip a new child past the kill. The process group catches descendants that
    were orphaned earlier (their parent died, so the tree walk no longer reaches them).
    """
    seen: set[int] = set()
    for _ in range(2):
        for pid in tree_pids(root_pid):
            if pid not in seen:
                seen.add(pid)
                _signal(pid, signal.SIGSTOP)
    for pid in seen:
        _signal(pid, signal.SIGKILL)
    if process_group is not None and process_group > 1 and process_group != os.getpgid(0):
        try:
            os.killpg(process_group, signal.SIGKILL)
        except OSError:  # the group is already empty
            pass


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def prepare_workspace(run_dir: Path, input_source: Path | None) -> Path | None:
    """Give an episode's run dir what its kernel expects: `working/` (where agent code writes)
    and `input/` linking the public data (see link_input). Host side, run by the env and
    replay before they launch, so that the sandbox module changes no file. Idempotent."""
    (Path(run_dir) / "working").mkdir(parents=True, exist_ok=True)
    return link_input(run_dir, input_source)


def link_input(run_dir: Path, input_source: Path | None) -> Path | None:
    """Make `run_dir/input` a link to the public data (idempotent); None without public data.

    The same link serves every isolation mode and outlives the episode, so a person can rerun
    the notebook in the run dir. Mode "none" enforces nothing through it; under "namespaces"
    the public data is mounted read-only at the link's target, and nothing else of the data root.
    """
    if input_source is None:
        return None
    source = Path(input_source).resolve()
    if not source.is_dir():
        raise ConfigError(expected("the competition's public data directory", str(input_source),
                                   "prepare the competition first (`dojo prepare NAME`)"))
    link = Path(run_dir) / "input"
    if link.is_symlink():
        if os.readlink(link) == str(source):
            return link
        link.unlink()
    elif link.exists():
        if link.is_dir() and not any(link.iterdir()):
            link.rmdir()
        else:
            raise ConfigError(expected(f"no file or an empty directory at {link}", "existing content",
                                       "use a fresh output directory for each episode"))
    link.symlink_to(source, target_is_directory=True)
    return link
