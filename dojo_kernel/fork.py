"""The host's half of `KernelSession.fork()`: ask a kernel to fork, then adopt the child.

The kernel forks itself (see fork_inside.py, whose source is sent to it); here the env
writes the child's connection file (new ipc sockets, new HMAC key), asks the parent over
its own shell channel with a silent execute_request that agent code never sees, checks the
PID the parent names (every byte from a kernel is untrusted: it must be a process started
just now that leads its own session, and under the sandbox one inside it), marks the fork
adopted (a fork never adopted exits by itself), and wraps the child in a `KernelSession`
of its own, watched by its own watchdog.

Lifetime, without a sandbox: the child is in a session and process group of its own and
was re-parented to init, so closing or restarting the parent cannot reach it; a group
reaper (as for every kernel) kills its group if the env dies, even by SIGKILL; the env
holds a pidfd on it, so a recycled PID is never signalled.

Lifetime, under the sandbox: the child was forked inside the parent's sandbox, so it has
the same view of the files, the same network (none) and the same limits. A PID namespace
ends when the process bubblewrap started ends, so the root kernel must outlive its
branches: closing (or restarting) the root while branches live *retires* it (its own
child processes are killed and it is stopped with SIGSTOP, so it runs nothing) and the
sandbox is torn down when the last branch closes. If the root kernel dies on its own (it
crashed, called exit(), or the watchdog killed it), the whole sandbox ends and its
branches report a dead kernel and restart fresh, as any dead kernel does.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from . import cgroups
from .adopted_process import AdoptedProcess, _host_pid, _session_id
from .errors import ForkError, expected
from .kernel_user import hand_over
from .limits import NVML, tree_pids
from .messages import Rejected
from .spawn import _start_group_reaper, kill_tree

if TYPE_CHECKING:
    from .kernel import KernelSession, _Kernel

_SOURCE = Path(__file__).with_name("fork_inside.py")
_MARK = "__dojo_fork__ "
_ANSWER_LINE = re.compile(r"\n?" + re.escape(_MARK) + r"[^\n]*\n?")  # the kernel writes "\n" MARK json "\n"
_MAX_REPLY_CHARS = 64_000  # what the env reads of the fork cell's output; a kernel could flood it


# ---------------------------------------------------------------------------------------------
# A sandbox that several branches share
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class SharedSandbox:
    """One bubblewrap sandbox and the kernels (branches) living in it.

    `launcher` is the bwrap process the root session started; `root_dir` the root kernel's
    runtime folder, the only host folder the sandbox can write besides working/: every
    branch's connection file and sockets go below it, and so do the working directories of
    forked episodes (`scratch`), which outlive the sandbox until their episode has copied
    them out (`release_scratch`). The root session's close leaves `root_dir` to this object.
    """

    launcher: subprocess.Popen
    root_dir: Path
    root_pid: int  # host PID of the kernel bwrap started
    branches: dict[int, AdoptedProcess] = field(default_factory=dict)
    root_retired: bool = False
    torn_down: bool = False
    owner_closed: bool = False  # the root session is closed: its runtime folder goes with root_dir
    scratch: set[Path] = field(default_factory=set)
    # The root kernel's group reaper and cgroups, taken over when its session closes before the
    # sandbox goes: the root's own dispose() never reaches them, so tear_down() ends them.
    root_reaper: subprocess.Popen | None = None
    root_cgroup: Any = None
    _count: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        _LIVE_SANDBOXES.add(self)

    def new_dir(self, *, scratch: bool = False) -> Path:
        with self._lock:
            self._count += 1
            folder = self.root_dir / f"f{self._count}"
            folder.mkdir()
            if scratch:
                self.scratch.add(folder)
        return folder

    def add(self, process: AdoptedProcess) -> None:
        with self._lock:
            self.branches[process.pid] = process

    def live_branches(self) -> list[int]:
        with self._lock:
            return [pid for pid, process in self.branches.items() if process.poll() is None]

    def others(self, own: int | None) -> set[int]:
        """Branch kernels (and the root) other than `own`: excluded from `own`'s accounting."""
        pids = set(self.live_branches())
        if not self.root_retired:
            pids.add(self.root_pid)
        pids.discard(own)  # type: ignore[arg-type]
        return pids

    def spare_branches(self, kernel: _Kernel) -> bool:
        """For _Kernel.kill: retire the root instead of killing it while branches live (True)."""
        if kernel.process is not self.launcher or not self.live_branches():
            return False
        self._retire_root()
        kernel.retired = True
        return True

    def release(self, kernel: _Kernel) -> bool:
        """A branch (or the root) is being disposed. True if handled here; False: the caller
        kills the whole sandbox as for an unforked kernel (the root, with no branch alive)."""
        if kernel.process is self.launcher:
            if not self.live_branches():
                with self._lock:
                    self.torn_down = True  # the caller kills it and removes root_dir...
                    kept = bool(self.scratch)
                if kept:  # ...unless a forked episode's files are still there
                    self._take_root_leftovers(kernel)
                    self.tear_down()
                    kernel.client.stop_channels()
                    return True
                _LIVE_SANDBOXES.discard(self)
                return False
            self._retire_root()
            self._take_root_leftovers(kernel)
            kernel.retired = True
            kernel.client.stop_channels()
            return True
        process = kernel.process
        assert isinstance(process, AdoptedProcess)
        process.kill_tree()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        kernel.client.stop_channels()
        shutil.rmtree(kernel.socket_prefix.parent, ignore_errors=True)
        with self._lock:
            self.branches.pop(process.pid, None)
        if self.root_retired and not self.live_branches():
            self.tear_down()
        return True

    def _retire_root(self) -> None:
        """Stop the root kernel for good without ending the PID namespace its branches live in."""
        with self._lock:
            if self.root_retired:
                return
            self.root_retired = True
        spare = set(self.live_branches())
        for pid in tree_pids(self.root_pid)[1:]:
            if pid not in spare:
                _signal(pid, signal.SIGKILL)
        _signal(self.root_pid, signal.SIGSTOP)

    def _take_root_leftovers(self, kernel: _Kernel) -> None:
        self.root_reaper, self.root_cgroup = kernel.reaper, kernel.cgroup
        kernel.reaper = kernel.cgroup = None

    def tear_down(self) -> None:
        kill_tree(self.launcher.pid, process_group=self.launcher.pid)
        try:
            self.launcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.root_cgroup is not None:
            self.root_cgroup.remove()
        if self.root_reaper is not None:  # it exits by itself once the group is gone; reap it
            try:
                self.root_reaper.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.root_reaper.kill()
                self.root_reaper.wait()
        with self._lock:
            self.torn_down = True
        self._remove_folders()

    def release_scratch(self, folder: Path) -> None:
        """A forked episode copied its files out of `folder` (from new_dir(scratch=True))."""
        with self._lock:
            self.scratch.discard(folder)
        shutil.rmtree(folder, ignore_errors=True)
        self._remove_folders()

    def _remove_folders(self) -> None:
        with self._lock:
            if not self.torn_down:
                return
            kept = set(self.scratch)
            for entry in list(self.root_dir.iterdir()) if self.root_dir.is_dir() else []:
                if entry not in kept:
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            if kept:
                return
            shutil.rmtree(self.root_dir, ignore_errors=True)
            if self.owner_closed:
                shutil.rmtree(self.root_dir.parent, ignore_errors=True)
            _LIVE_SANDBOXES.discard(self)


_LIVE_SANDBOXES: set[SharedSandbox] = set()


def remove_runtime_dir(runtime_dir: Path) -> None:
    """KernelSession.close: remove the session's runtime folder, except a shared sandbox's
    folder that its branches still use (the sandbox removes it, and this one, at its end)."""
    held = [sandbox for sandbox in list(_LIVE_SANDBOXES) if sandbox.root_dir.parent == runtime_dir]
    if not held:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        return
    keep = {sandbox.root_dir for sandbox in held}
    for sandbox in held:
        with sandbox._lock:
            sandbox.owner_closed = True
    for entry in list(runtime_dir.iterdir()) if runtime_dir.is_dir() else []:
        if entry not in keep:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    for sandbox in held:
        sandbox._remove_folders()


def release_scratch(folder: Path) -> None:
    for sandbox in list(_LIVE_SANDBOXES):
        if folder in sandbox.scratch:
            sandbox.release_scratch(folder)
            return
    shutil.rmtree(folder, ignore_errors=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Forking
# ---------------------------------------------------------------------------------------------

@dataclass
class ForkReport:
    """What the parent said when it forked: the child's PID and what it could not carry."""

    pid: int
    threads: list[str]
    network_sockets: int
    child_processes: list[str]

    def notes(self) -> list[str]:
        """The lines the child's first cell output starts with (empty when all was carried)."""
        lines = []
        if self.threads:
            lines.append(f"threads ({', '.join(self.threads[:10])}{', ...' if len(self.threads) > 10 else ''}) "
                         f"did not come along: only the thread that runs cells survives a fork")
        if self.network_sockets:
            lines.append(f"{self.network_sockets} open network socket(s) were cut off: a connection "
                         f"cannot be shared by two kernels; open it again")
        if self.child_processes:
            lines.append(f"child processes ({', '.join(self.child_processes[:10])}) stay with the parent: "
                         f"pools that own them (joblib, multiprocessing) must be created again")
        if not lines:
            return []
        return ["[dojo-kernel] this kernel is a fork of another one: every variable was carried over, but "
                + "; ".join(lines) + "."]


def fork_session(parent: KernelSession, *, cwd: str | os.PathLike | None = None) -> KernelSession:
    """A new KernelSession whose kernel is a copy-on-write fork of `parent`'s."""
    from .kernel import KernelSession

    with parent._run_lock:
        parent._check_open()
        kernel = parent._kernel
        if kernel is None or not kernel.alive():
            raise ForkError("expected a running kernel to fork, got one that has ended; run a cell "
                            "(which restarts it) or start a new session")
        target_cwd = parent.cwd if cwd is None else Path(cwd).resolve()
        if parent.isolation.mode == "namespaces" and target_cwd != parent.cwd and not (
                kernel.sandbox is not None and target_cwd.is_relative_to(kernel.sandbox.root_dir)):
            raise ForkError(expected(f"the parent's working directory {parent.cwd}, or a folder from "
                                     f"sandbox_scratch(), for a fork under the sandbox (its view of the "
                                     f"files is fixed when it starts)", str(target_cwd)))
        if not target_cwd.is_dir():
            raise ForkError(expected("an existing directory for the fork's cwd", str(target_cwd)))
        _refuse_gpu(parent, kernel)

        def adopt(child: KernelSession) -> _Kernel:
            return _fork_kernel(parent, kernel, child, target_cwd)

        # The same launch spec (sandbox, hidden paths, network, environment): a fork that dies
        # is replaced by a fresh kernel launched exactly as its parent was.
        child = KernelSession(target_cwd, parent.limits, launch=parent.launch,
                              startup_timeout=parent._startup_timeout,
                              disk_path=_disk_path(parent, target_cwd), _adopt=adopt)
    for warning in parent.warnings:
        if warning not in child.warnings:
            child.warnings.append(warning)
    return child


def sandbox_scratch(session: KernelSession) -> Path | None:
    """A new host folder that `session`'s sandbox can write at the same path (a forked
    episode's working directory), or None without a sandbox. It stays, even after the
    sandbox ends, until release_scratch(folder)."""
    if session.isolation.mode != "namespaces":
        return None
    with session._run_lock:
        session._check_open()
        kernel = session._kernel
        assert kernel is not None
        sandbox = kernel.sandbox or _share(session, kernel)
        return sandbox.new_dir(scratch=True)


def _disk_path(parent: KernelSession, cwd: Path) -> Path:
    """The folder the fork's disk limit measures: where the parent's is, relative to its cwd."""
    measured = Path(parent._watchdog.disk_path).resolve()
    if measured.is_relative_to(parent.cwd):
        return cwd / measured.relative_to(parent.cwd)
    return measured


def _refuse_gpu(parent: KernelSession, kernel: _Kernel) -> None:
    """The host's own check, which agent code cannot fool: NVML's per-PID GPU memory."""
    if not NVML.available():
        return
    try:
        used = NVML.memory_by_pid()
    except Exception:
        return
    held = sum(used.get(pid, 0) for pid in tree_pids(kernel.process.pid))
    if held:
        raise ForkError(f"expected a kernel without GPU memory to fork, got one holding "
                        f"{held / 1024**2:,.0f} MiB on the GPU: a CUDA context cannot be copied into "
                        f"a forked process. Fork before the first GPU use (e.g. load data and fit CPU "
                        f"models, fork, then use the GPU in each branch), or free it by restarting")


def _fork_kernel(parent: KernelSession, kernel: _Kernel, child: KernelSession, cwd: Path) -> _Kernel:
    from .kernel import _Kernel

    sandboxed = parent.isolation.mode == "namespaces"
    sandbox: SharedSandbox | None = None
    if sandboxed:
        shared: SharedSandbox = kernel.sandbox or _share(parent, kernel)
        sandbox, folder = shared, shared.new_dir()
    else:
        folder = child.runtime_dir / "f0"
        folder.mkdir()
    home = folder / "home"
    home.mkdir()
    connection_file = folder / "kernel.json"
    socket_prefix = folder / "k"
    write_connection_file(str(connection_file), ip=str(socket_prefix), transport="ipc",
                          key=secrets.token_hex(32).encode(), kernel_name="python3")
    for path in (folder, home, connection_file):  # the fork's own, as its parent's uid (kernel_user.py)
        hand_over(path, parent.isolation.kernel_user if sandboxed else None)
    requested_at = time.time()
    report = _ask_to_fork(parent, kernel, connection_file, home, None if cwd == parent.cwd else cwd)
    if sandboxed:
        assert sandbox is not None
        host_pid = _host_pid(report.pid, sandbox.launcher.pid)
        if host_pid is None or host_pid == sandbox.root_pid or host_pid in sandbox.branches:
            raise ForkError(f"the kernel said it forked process {report.pid}, but no new process of that "
                            f"PID is in its sandbox")
    else:
        host_pid = report.pid
    _check_fresh_session_leader(host_pid, requested_at)
    try:
        process = AdoptedProcess(host_pid, sandbox=sandbox)
    except OSError as error:
        raise ForkError(f"the forked kernel {report.pid} ended before it could be adopted ({error})") from None
    (folder / "adopted").touch()
    if sandbox is not None:
        sandbox.add(process)
    # The fork was born in its parent's cgroups; it gets its own (the same limits), so that
    # closing the parent does not end it and each branch's memory is its own.
    cgroup, _ = cgroups.for_kernel(child.limits)
    if cgroup is not None:
        try:
            cgroup.move(host_pid)
        except OSError:
            cgroup.remove()
            cgroup = None
    folders = tuple(f for _, f in cgroup.folders) if cgroup else ()
    reaper = None if sandboxed else _start_group_reaper(host_pid, folders)
    client = BlockingKernelClient(context=zmq.Context.instance())
    client.load_connection_file(str(connection_file))
    adopted = _Kernel(process, client, connection_file, socket_prefix, reaper,  # type: ignore[arg-type]
                      sandbox=sandbox, cgroup=cgroup)
    adopted.connect()
    try:
        child._wait_ready(adopted)
    except BaseException:
        adopted.dispose()
        raise
    child.fork_report = report
    child._pending_notes.extend(report.notes())
    return adopted


def _share(parent: KernelSession, kernel: _Kernel) -> SharedSandbox:
    """Turn the root kernel's sandbox into one that branches share (on its first fork)."""
    root_pid = _host_pid(2, kernel.process.pid)  # bubblewrap's init is 1; what it runs is 2
    if root_pid is None:
        raise ForkError("could not find the kernel process inside its sandbox")
    sandbox = SharedSandbox(kernel.process, kernel.socket_prefix.parent, root_pid)  # type: ignore[arg-type]
    kernel.sandbox = sandbox
    parent._watchdog.set_exclude(lambda: sandbox.others(root_pid))
    return sandbox


def _check_fresh_session_leader(pid: int, since: float) -> None:
    """The PID the parent named must be a process that started just now and leads its own
    session, as the forked kernel does: never a process the env would wrongly adopt and kill."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        raise ForkError(f"the kernel said it forked process {pid}, which does not exist") from None
    if _session_id(pid) != pid or started < since - 1.0:
        raise ForkError(f"the kernel said it forked process {pid}, which is not a kernel it just forked")


def _ask_to_fork(parent: KernelSession, kernel: _Kernel, connection_file: Path, home: Path,
                 cwd: Path | None) -> ForkReport:
    """Run the fork in the parent, silently (no history, no execution count), and read its answer."""
    call = (f"fork({str(connection_file)!r}, home={str(home)!r}, cwd={None if cwd is None else str(cwd)!r}, "
            f"adopt_within={parent._startup_timeout + 10:g})")
    source = _SOURCE.read_text()
    code = (f"exec(compile({source!r} + '\\n' + {call!r}, '<dojo-kernel fork>', 'exec'), "
            f"{{'__name__': '__dojo_fork__'}})")
    msg_id = kernel.client.execute(code, silent=True, store_history=False, allow_stdin=False,
                                   stop_on_error=False)
    deadline = time.monotonic() + parent._startup_timeout
    text, reply, idle = "", None, False
    while not (reply is not None and idle):
        for channel, message in kernel.receive(0.05):
            if isinstance(message, Rejected) or message["parent_header"].get("msg_id") != msg_id:
                if len(kernel.held) < 1000:  # threads' output: the next cell reports it
                    kernel.held.append((channel, message))
                continue
            kind = message["header"]["msg_type"]
            if channel == "shell" and kind == "execute_reply":
                reply = message["content"]
            elif kind == "status":
                idle = idle or message["content"].get("execution_state") == "idle"
            elif kind == "stream":
                chunk = str(message["content"].get("text", ""))
                if len(text) < _MAX_REPLY_CHARS:
                    text += chunk[:_MAX_REPLY_CHARS]
                # What the parent's threads printed meanwhile (it went out under the fork's
                # request): kept as background output for the parent's next cell.
                other = _ANSWER_LINE.sub("", chunk)
                if other and len(kernel.held) < 1000:
                    message["content"]["text"] = other
                    kernel.held.append(("iopub", message))
        if not kernel.alive():
            raise ForkError("the kernel ended while it was forking")
        if time.monotonic() > deadline:
            parent.interrupt()
            raise ForkError(f"expected the kernel to fork within {parent._startup_timeout:g} s, it did not")
    if reply.get("status") != "ok":
        raise ForkError(f"the kernel could not fork: {reply.get('ename', 'Error')}: {reply.get('evalue', '')}")
    return _parse_answer(text)


def _parse_answer(text: str) -> ForkReport:
    answer: Any = None
    for line in text.splitlines():
        if _MARK in line:  # a thread's unfinished line may precede it
            try:
                answer = json.loads(line.partition(_MARK)[2])
            except ValueError:
                answer = None
    if not isinstance(answer, dict):
        raise ForkError(f"expected the kernel to report the fork, got no report (its output: {text[:300]!r})")
    if "refused" in answer:
        raise ForkError(f"the kernel refused to fork: {str(answer['refused'])[:1000]}. A CUDA context cannot "
                        f"be copied into a forked process: fork before the first GPU use, or restart")
    pid, lost = answer.get("pid"), answer.get("lost")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or not isinstance(lost, dict):
        raise ForkError(expected("a fork report with a pid and what was lost", answer))

    def strings(value: Any) -> list[str]:
        return [str(item)[:100] for item in value[:50]] if isinstance(value, list) else []

    sockets = lost.get("network_sockets")
    return ForkReport(pid, strings(lost.get("threads")),
                      sockets if isinstance(sockets, int) and not isinstance(sockets, bool) else 0,
                      strings(lost.get("child_processes")))
