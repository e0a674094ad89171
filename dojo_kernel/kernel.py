"""`KernelSession`: one persistent ipykernel, driven over ZMQ ipc sockets.

The session launches the kernel itself (so that it owns the whole process tree: its own
session and process group, death with the parent, the command wrapped for isolation) and
talks to it with jupyter_client's client and session classes. A `Watchdog` thread holds the
tree to its `Limits`; a cell that runs too long is interrupted, then killed.
"""

from __future__ import annotations

import ast
import atexit
import dataclasses
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from nbformat.v4 import output_from_msg

from .errors import ConfigError, KernelDeadError, KernelStartError, expected
from .isolation import IsolationPlan, LaunchSpec, kernel_environment, resolve_mode, wrap_command
from .limits import Breach, Limits, Watchdog
from .outputs import _OutputCollector, render_text, strip_ansi
from .prepare.names import default_data_root
from .spawn import _describe_exit, _die_with_parent, _log_tail, _start_group_reaper, kill_tree, link_input
from .spawn import popen as _popen

CellStatus = Literal["ok", "error", "timeout", "killed", "died"]


@dataclass
class CellError:
    """The exception a cell raised, as the kernel reported it (traceback without ANSI colour)."""

    name: str
    value: str
    traceback: list[str] = field(default_factory=list)


@dataclass
class LimitEvent:
    """A limit that stopped a cell: which one, the limit, and the peak that crossed it."""

    kind: Literal["memory", "gpu_memory", "processes", "disk", "timeout", "died"]
    limit: float | None
    peak: float | None
    message: str


@dataclass
class CellResult:
    status: CellStatus
    outputs: list[dict[str, Any]] = field(default_factory=list)  # nbformat v4 output dicts
    text: str = ""  # the plain text an LLM reads: streams, results, error, limit messages
    error: CellError | None = None
    duration_s: float = 0.0
    peak_rss_bytes: int = 0  # peak PSS/RSS of the kernel's whole process tree during the cell
    peak_gpu_bytes: int | None = None  # None where NVML could not measure
    restarted: bool = False  # the kernel was restarted: every variable was lost
    execution_count: int | None = None
    limit_event: LimitEvent | None = None
    exit_code: int | None = None  # for status "died": the exit code, or -signal
    truncated_chars: int = 0  # how many characters of output the cap cut
    warnings: list[str] = field(default_factory=list)  # e.g. "GPU limit unenforceable: ..."
    cwd: str | None = None  # the kernel's working directory after the cell, where it could tell
    # Output that threads of earlier cells printed after their cell had finished; it is also
    # at the start of `text`, marked as such, but not in `outputs` (it is not this cell's).
    background_outputs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------

# Evaluated by the kernel after every cell (Jupyter's user_expressions, not stored in history).
_CWD_EXPRESSION = "__import__('os').getcwd()"


def _evaluated_text(expression_reply: dict[str, Any] | None) -> str | None:
    """The str value of a user expression from its text/plain repr, or None if it failed."""
    if not expression_reply or expression_reply.get("status") != "ok":
        return None
    try:
        value = ast.literal_eval(expression_reply.get("data", {}).get("text/plain", ""))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


_GRACE_S = 2.5  # after an interrupt, how long a cell may take to stop before the kill
_POLL_S = 0.05  # how often a waiting run checks that the kernel is alive


@dataclass
class _Kernel:
    """One launched kernel: its root process and the sockets that talk to it."""

    process: subprocess.Popen
    client: BlockingKernelClient
    connection_file: Path
    socket_prefix: Path
    reaper: subprocess.Popen | None = None  # see _GROUP_REAPER; None inside the sandbox
    sandbox: Any = None  # a fork.SharedSandbox once branches share this kernel's sandbox
    retired: bool = False  # a root kernel stopped, not killed, because branches live in its sandbox
    held: list = field(default_factory=list)  # (channel, message) received between cells (a fork), kept

    def __post_init__(self) -> None:
        self.shell = self.client.shell_channel.socket
        self.iopub = self.client.iopub_channel.socket
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)

    def alive(self) -> bool:
        return not self.retired and self.process.poll() is None

    def receive(self, timeout_s: float):
        """Yield ("shell" | "iopub", message) for every message that arrives within timeout_s."""
        ready = dict(self.poller.poll(int(timeout_s * 1000)))
        session = self.client.session
        for name, socket in (("iopub", self.iopub), ("shell", self.shell)):
            if socket not in ready:
                continue
            while True:
                _, message = session.recv(socket, mode=zmq.NOBLOCK)
                if message is None:
                    break
                yield name, message

    def kill(self) -> None:
        if self.sandbox is not None and self.sandbox.spare_branches(self):
            return  # a root whose sandbox holds live branches is retired instead (see fork.py)
        kill_adopted = getattr(self.process, "kill_tree", None)
        if kill_adopted is not None:  # a forked kernel: signalled through its pidfd
            kill_adopted()
        else:
            kill_tree(self.process.pid, process_group=self.process.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # in uninterruptible sleep (D state): leave it to init
            pass

    def dispose(self) -> None:
        if self.sandbox is not None and self.sandbox.release(self):
            return
        self.kill()
        if self.reaper is not None:
            self.reaper.kill()
            self.reaper.wait()
        self.client.stop_channels()
        # The kernel's own folder: sockets, connection file, HOME (rmtree never follows links).
        shutil.rmtree(self.socket_prefix.parent, ignore_errors=True)


_LIVE_SESSIONS: weakref.WeakSet[KernelSession] = weakref.WeakSet()


@atexit.register
def _close_live_sessions() -> None:
    for session in list(_LIVE_SESSIONS):
        session.close()


def _forget_parent_state_after_fork() -> None:
    """A forked child (multiprocessing's default start method) inherits the parent's
    sessions: without this its exit would close kernels that belong to the parent (the
    spawner renews itself, see spawn.py)."""
    _LIVE_SESSIONS.clear()


os.register_at_fork(after_in_child=_forget_parent_state_after_fork)


def tmpfs_size_bytes(limits: Limits) -> int | None:
    """The cap of a kernel's private /tmp and /dev/shm: its tmpfs files take RAM the watchdog's
    PSS does not see, so they get the working directory's disk allowance, not half the RAM."""
    return None if limits.disk_gb is None else int(limits.disk_gb * 1024**3)


def default_launch_spec(limits: Limits, *, isolation: str | IsolationPlan = "auto", allow_network: bool = False,
                        input_source: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                        hidden_paths: Sequence[str | os.PathLike] = ()) -> LaunchSpec:
    """The LaunchSpec of a kernel held to `limits`, as KernelSession builds it when given none:
    the data root ($DOJO_DATA, else the cache folder: every competition's answers) is hidden
    along with `hidden_paths`, and the private /tmp is sized by `tmpfs_size_bytes`."""
    hidden = (default_data_root().resolve(), *(Path(p) for p in hidden_paths))
    plan = resolve_mode(isolation) if isinstance(isolation, str) else isolation
    return LaunchSpec(plan, allow_network=allow_network,
                      input_source=None if input_source is None else Path(input_source),
                      hidden_paths=hidden, tmp_size_bytes=tmpfs_size_bytes(limits), env=tuple((env or {}).items()))


class KernelSession:
    """One persistent ipykernel with its watchdog. A context manager; `close()` is idempotent.

    cwd: the kernel's working directory (an episode's run dir). limits: what the watchdog and
    the cell timeout enforce. launch: how the kernel is launched (see isolation.LaunchSpec),
    built once by the caller; without it, the options isolation ("auto" | "namespaces" |
    "none"), allow_network, input_source (public data, read-only at cwd/input), env (extra
    variables) and hidden_paths (on top of the data root) build one: `default_launch_spec`.
    disk_path: the folder the disk limit measures (an episode's working/); default cwd.
    """

    def __init__(self, cwd: str | os.PathLike, limits: Limits = Limits(), *, launch: LaunchSpec | None = None,
                 isolation: str = "auto", allow_network: bool = False,
                 input_source: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                 startup_timeout: float = 60.0, log_path: str | os.PathLike | None = None,
                 hidden_paths: Sequence[str | os.PathLike] = (),
                 disk_path: str | os.PathLike | None = None,
                 _adopt: Callable[[KernelSession], _Kernel] | None = None) -> None:
        self.cwd = Path(cwd).resolve()
        if not self.cwd.is_dir():
            raise ConfigError(expected("cwd to be an existing directory", str(cwd), "create it first"))
        if not isinstance(limits, Limits):
            raise ConfigError(expected("a dojo_kernel.Limits", type(limits).__name__,
                                       "build one with Limits(memory_gb=..., ...)"))
        if not (isinstance(startup_timeout, (int, float)) and startup_timeout > 0):
            raise ConfigError(expected("a positive number of seconds for startup_timeout", startup_timeout))
        if launch is None:
            launch = default_launch_spec(limits, isolation=isolation, allow_network=allow_network,
                                         input_source=input_source, env=env, hidden_paths=hidden_paths)
        elif not isinstance(launch, LaunchSpec):
            raise ConfigError(expected("a dojo_kernel.isolation.LaunchSpec for launch", type(launch).__name__))
        elif (isolation, allow_network, input_source, env, tuple(hidden_paths)) != ("auto", False, None, None, ()):
            raise ConfigError(expected("either launch= or the options isolation, allow_network, input_source, "
                                       "env, hidden_paths", "both", "put those options in the LaunchSpec"))
        self.limits = limits
        self.launch = launch
        self.isolation = launch.plan
        # The host-side half of the launch, as before the spec existed: the sandbox needs a
        # working/ to make writable, and the public data shows through the input/ link.
        if self.isolation.mode == "namespaces":
            (self.cwd / "working").mkdir(exist_ok=True)
        link_input(self.cwd, launch.input_source)
        self._startup_timeout = float(startup_timeout)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="dk-", dir="/tmp"))
        self.log_path = Path(log_path) if log_path is not None else self.runtime_dir / "kernel.log"
        self.warnings: list[str] = [self.isolation.warning] if self.isolation.warning else []
        self._run_lock = threading.RLock()  # one cell (or restart) at a time
        self._control_lock = threading.Lock()  # the control socket, used by interrupt()
        self._closed = False
        self._generation = 0
        self._kernel: _Kernel | None = None
        self._pending_notes: list[str] = []  # said at the start of the next cell's output
        self.fork_report: Any = None  # for a fork: what the parent could not carry (fork.ForkReport)
        disk = Path(disk_path) if disk_path is not None else self.cwd
        self._watchdog = Watchdog(limits, disk_path=disk, on_breach=self._on_breach)
        self.warnings.extend(self._watchdog.warnings)
        try:
            # A fork adopts the kernel its parent forked instead of launching one (fork.py).
            self._kernel = self._launch() if _adopt is None else _adopt(self)
        except BaseException:
            self._watchdog.stop()
            if not self.log_path.is_relative_to(self.runtime_dir):
                shutil.rmtree(self.runtime_dir, ignore_errors=True)
            # else only the log is left there, kept for the error message that names it
            raise
        self._watchdog.attach(self._kernel.process.pid)
        _LIVE_SESSIONS.add(self)

    # -- public surface -----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the launched root process (the kernel, or the sandbox that forks it)."""
        return None if self._kernel is None else self._kernel.process.pid

    @property
    def cell_peak_rss_bytes(self) -> int:
        """Peak memory of the kernel's tree during the cell running now (0 when idle)."""
        return self._watchdog.cell_peak_rss()

    @property
    def connection_file(self) -> Path | None:
        return None if self._kernel is None else self._kernel.connection_file

    @property
    def is_alive(self) -> bool:
        return not self._closed and self._kernel is not None and self._kernel.alive()

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid={self.pid}"
        return f"KernelSession(cwd={str(self.cwd)!r}, {state}, isolation={self.isolation.mode!r})"

    def run(self, code: str, timeout: float | None = None) -> CellResult:
        """Run one cell; return its outputs and what happened. Never raises for agent code."""
        if not isinstance(code, str):
            raise ConfigError(expected("a str of Python code", type(code).__name__))
        if timeout is None:
            timeout = self.limits.cell_timeout_s
        elif isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(expected("a positive number of seconds (or None) for timeout", timeout))
        with self._run_lock:
            self._check_open()
            notes, self._pending_notes = self._pending_notes, []
            restarted = False
            # None: an earlier relaunch failed; like a kernel that died, it gets a new one
            if self._kernel is None or not self._kernel.alive():  # died between cells (a thread, exit(), the watchdog)
                notes.append(self._between_cells_death())
                self._replace_kernel()
                restarted = True
            try:
                return self._execute(code, timeout, notes, restarted)
            except KeyboardInterrupt:  # Ctrl-C in the parent (a person at a notebook) stops the cell too
                self.interrupt()
                raise

    def interrupt(self) -> None:
        """Send the running cell a KeyboardInterrupt (as Ctrl-C would)."""
        kernel = self._kernel
        if self._closed or kernel is None or not kernel.alive():
            return
        if self.isolation.mode == "namespaces":
            # The launched process is the sandbox, not the kernel: ask the kernel itself.
            with self._control_lock:
                message = kernel.client.session.msg("interrupt_request", {})
                kernel.client.control_channel.send(message)
        else:
            os.kill(kernel.process.pid, signal.SIGINT)

    def fork(self) -> KernelSession:
        """A new session whose kernel is a copy-on-write fork of this one at this moment: every
        variable, loaded frame and fitted model is there, independent afterwards. Same sandbox,
        same limits. Raises ForkError (this session unchanged) when the kernel holds a GPU."""
        from .fork import fork_session
        return fork_session(self)

    def restart(self) -> None:
        """Kill the kernel (its whole tree) and start a fresh one: every variable is lost."""
        with self._run_lock:
            self._check_open()
            self._replace_kernel()

    def close(self) -> None:
        """Kill the kernel's whole process tree and free its files. Safe from any thread, twice."""
        with self._control_lock:
            if self._closed:
                return
            self._closed = True
        kernel = self._kernel
        if kernel is not None:
            kernel.kill()  # at once, so that a cell running in another thread returns
        with self._run_lock:
            self._watchdog.stop()
            if self._kernel is not None:
                self._kernel.dispose()
            # Not rmtree: a sandbox this session shared with forks may still need its folder.
            from .fork import remove_runtime_dir
            remove_runtime_dir(self.runtime_dir)
        _LIVE_SESSIONS.discard(self)

    # -- launching ------------------------------------------------------------------------------
    def _launch(self) -> _Kernel:
        self._generation += 1
        # Each kernel gets a fresh folder of its own (writable to it under isolation); the log
        # stays outside it, so that links a kernel plants there never redirect the env's writes.
        kernel_dir = self.runtime_dir / f"g{self._generation}"
        kernel_dir.mkdir()
        socket_prefix = kernel_dir / "k"
        connection_file = kernel_dir / "kernel.json"
        write_connection_file(str(connection_file), ip=str(socket_prefix), transport="ipc",
                              key=secrets.token_hex(32).encode(), kernel_name="python3")
        home = kernel_dir / "home"
        home.mkdir()
        environment = kernel_environment(home=home, gpu_device=self.limits.gpu_device, cpus=self.limits.cpus,
                                         extra=dict(self.launch.env))
        # No history database: it would cost start time and write outside working/.
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file),
                "--HistoryManager.enabled=False"]
        command = wrap_command(argv, self.launch, cwd=self.cwd, runtime_dir=kernel_dir)
        with open(self.log_path, "ab") as log:
            process = _popen(command, cwd=self.cwd, env=environment, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_die_with_parent)
        client = BlockingKernelClient(context=zmq.Context.instance())
        client.load_connection_file(str(connection_file))
        # Under namespaces the whole PID namespace dies with the sandbox; without, a watcher must.
        reaper = _start_group_reaper(process.pid) if self.isolation.mode == "none" else None
        kernel = _Kernel(process, client, connection_file, socket_prefix, reaper)
        try:
            self._wait_ready(kernel)
        except BaseException:
            kernel.dispose()
            raise
        return kernel

    def _wait_ready(self, kernel: _Kernel) -> None:
        """Until the kernel answers kernel_info on shell and publishes on iopub.

        A SUB socket misses what was published before it connected, so kernel_info is sent
        again until iopub shows the subscription works.
        """
        deadline = time.monotonic() + self._startup_timeout
        replied = published = False
        next_request = 0.0
        while not (replied and published):
            now = time.monotonic()
            if not kernel.alive():
                raise KernelStartError(
                    f"the kernel exited while starting ({_describe_exit(kernel.process.returncode)}); "
                    f"its log {self.log_path} ends:\n{_log_tail(self.log_path)}")
            if now > deadline:
                raise KernelStartError(
                    f"expected the kernel to be ready within {self._startup_timeout:g} s, it was not; "
                    f"pass a larger startup_timeout if the machine is loaded. Its log {self.log_path} "
                    f"ends:\n{_log_tail(self.log_path)}")
            if not published and now >= next_request:
                kernel.client.kernel_info()
                next_request = now + 0.2
            for channel, message in kernel.receive(_POLL_S):
                if channel == "iopub":
                    published = True
                elif message["header"]["msg_type"] == "kernel_info_reply":
                    replied = True

    def _replace_kernel(self) -> None:
        old = self._kernel
        self._watchdog.attach(None)
        if old is not None:
            old.dispose()
        self._kernel = None
        self._kernel = self._launch()
        self._watchdog.attach(self._kernel.process.pid)

    def _check_open(self) -> None:
        if self._closed:
            raise KernelDeadError("expected an open KernelSession, got one that was closed; "
                                  "start a new KernelSession")

    def _on_breach(self, breach: Breach) -> None:
        """Called from the watchdog thread: kill at once; the waiting run reports it."""
        kernel = self._kernel
        if kernel is not None and kernel.process.pid == breach.root_pid:
            kill_tree(kernel.process.pid, process_group=kernel.process.pid)

    def _between_cells_death(self) -> str:
        breach = self._watchdog.breach
        assert self._kernel is not None
        if breach is not None:
            cause = f"the watchdog killed it: {breach.message}"
        else:
            cause = _describe_exit(self._exit_code(self._kernel))
            if self._kernel.process.returncode == 0:
                cause += ", e.g. exit() or a shutdown requested by a cell"
        return (f"[dojo-kernel] the kernel ended after the previous cell ({cause}); a fresh kernel "
                f"was started for this cell: every earlier variable and import is gone.")

    # -- one cell -------------------------------------------------------------------------------
    def _execute(self, code: str, timeout: float | None, notes: list[str], restarted: bool) -> CellResult:
        kernel = self._kernel
        assert kernel is not None
        cell = _OutputCollector(self.limits.max_output_chars, self.limits.max_image_bytes)
        background = _OutputCollector(self.limits.max_output_chars, self.limits.max_image_bytes)
        queued = [*kernel.held, *kernel.receive(0)]  # output of earlier cells' threads
        kernel.held.clear()
        for channel, message in queued:
            self._route_background(channel, message, background)
        msg_id = kernel.client.execute(code, silent=False, store_history=True, allow_stdin=False,
                                       stop_on_error=False, user_expressions={"cwd": _CWD_EXPRESSION})
        self._watchdog.begin_cell()
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        reply: dict[str, Any] | None = None
        idle = False
        interrupted_at: float | None = None
        ended: str | None = None  # "exited" (died or killed) or "stuck" (ignored the interrupt)
        while not (reply is not None and idle):
            for channel, message in kernel.receive(_POLL_S):
                if message["parent_header"].get("msg_id") != msg_id:
                    self._route_background(channel, message, background)
                    continue
                kind = message["header"]["msg_type"]
                if channel == "shell":
                    if kind == "execute_reply":
                        reply = message["content"]
                elif kind == "status":
                    idle = idle or message["content"]["execution_state"] == "idle"
                elif kind == "clear_output":
                    cell.clear(bool(message["content"].get("wait")))
                elif kind in ("stream", "display_data", "execute_result", "error"):
                    cell.add(output_from_msg(message))
                elif kind == "update_display_data":
                    cell.add({"output_type": "display_data", "data": message["content"]["data"],
                              "metadata": message["content"].get("metadata", {})})
            if reply is not None and idle:
                break
            if self._closed:  # close() from another thread, maybe while a restart ran
                kernel.kill()
            if not kernel.alive():
                ended = "exited"
                break
            now = time.monotonic()
            if deadline is not None and interrupted_at is None and now >= deadline:
                self.interrupt()
                interrupted_at = now
            if interrupted_at is not None and now >= interrupted_at + _GRACE_S:
                ended = "stuck"
                break
        duration = time.monotonic() - started
        peaks = self._watchdog.end_cell()
        outputs = cell.finish()
        result = CellResult(status="ok", outputs=outputs, duration_s=duration,
                            peak_rss_bytes=peaks.rss_bytes, peak_gpu_bytes=peaks.gpu_bytes,
                            restarted=restarted, truncated_chars=cell.cut_chars + background.cut_chars,
                            warnings=list(self.warnings), background_outputs=background.finish())
        if ended is None:
            self._complete(result, reply, interrupted_at is not None, timeout, notes)
        elif ended == "stuck":
            result.status = "timeout"
            result.limit_event = LimitEvent("timeout", timeout, duration,
                f"the cell ran past its {timeout:g} s timeout and did not stop within {_GRACE_S:g} s "
                f"of an interrupt, so the kernel was killed and restarted")
            self._restart_after_loss(result, notes)
        else:
            self._report_exit(result, kernel, notes)
        result.text = self._compose_text(result, notes)
        return result

    def _route_background(self, channel: str, message: dict[str, Any], background: _OutputCollector) -> None:
        if channel == "iopub" and message["header"]["msg_type"] in ("stream", "display_data",
                                                                     "execute_result", "error"):
            if self._from_another_client(message):
                return  # a person's `jupyter console --existing`: their output, not the agent's
            background.add(output_from_msg(message))

    def _from_another_client(self, message: dict[str, Any]) -> bool:
        """Whether the message answers a request of another client session (an attached
        console). Output of the agent's own earlier cells (threads) carries our session."""
        parent = message.get("parent_header")
        session = parent.get("session") if isinstance(parent, dict) else None
        kernel = self._kernel
        return bool(session) and kernel is not None and session != kernel.client.session.session

    def _complete(self, result: CellResult, reply: dict[str, Any] | None, interrupted: bool,
                  timeout: float | None, notes: list[str]) -> None:
        assert reply is not None
        result.execution_count = reply.get("execution_count")
        result.cwd = _evaluated_text(reply.get("user_expressions", {}).get("cwd"))
        if result.cwd is not None and Path(result.cwd) != self.cwd:
            # Agent code uses relative paths (input/, working/submission.csv): say plainly why
            # they stopped resolving, instead of leaving a bare FileNotFoundError to decode.
            notes.append(f"[dojo-kernel] the kernel's working directory is now {result.cwd!r}, not the run "
                         f"dir: relative paths such as input/ and working/submission.csv resolve from there. "
                         f"Run os.chdir({str(self.cwd)!r}) to go back.")
        if reply.get("status") != "ok":
            result.status = "error"
            result.error = CellError(reply.get("ename", "Error"), reply.get("evalue", ""),
                                     [strip_ansi(line) for line in reply.get("traceback", [])])
            if result.error.name == "StdinNotImplementedError":
                notes.append("[dojo-kernel] input() is not available: no one can type into this kernel. "
                             "Put the value in the code instead.")
        if interrupted:
            result.status = "timeout"
            result.limit_event = LimitEvent("timeout", timeout, result.duration_s,
                f"the cell ran past its {timeout:g} s timeout and was interrupted; the kernel kept "
                f"its state")
            notes.append(f"[dojo-kernel] {result.limit_event.message}.")
        if any(payload.get("source") == "ask_exit" and not payload.get("keepkernel")
               for payload in reply.get("payload", [])):
            # exit()/quit() make ipykernel stop its loop and end a moment later: restart now,
            # so that the next cell does not meet a dead kernel.
            kernel = self._kernel
            assert kernel is not None
            try:
                kernel.process.wait(timeout=_GRACE_S)
            except subprocess.TimeoutExpired:
                kernel.kill()
            result.exit_code = self._exit_code(kernel)
            result.status = "died"
            result.limit_event = LimitEvent("died", None, None,
                                            "the cell called exit(), which ends the kernel; it was restarted")
            self._restart_after_loss(result, notes)

    def _exit_code(self, kernel: _Kernel) -> int | None:
        """The kernel's exit code, or -signal. Under namespaces the launched sandbox reports a
        kernel killed by signal N as exit code 128+N, as a shell does: map it back."""
        code = kernel.process.returncode
        if self.isolation.mode == "namespaces" and code is not None and 128 < code < 128 + 65:
            return -(code - 128)
        return code

    def _report_exit(self, result: CellResult, kernel: _Kernel, notes: list[str]) -> None:
        if not kernel.retired:  # a retired root's sandbox runs on for its forks (fork.py)
            kernel.process.wait()
        result.exit_code = self._exit_code(kernel)
        breach = self._watchdog.breach
        if breach is not None and breach.root_pid == kernel.process.pid:
            result.status = "killed"
            result.limit_event = LimitEvent(breach.kind, breach.limit, breach.peak,  # type: ignore[arg-type]
                                            f"{breach.message}; the kernel was killed and restarted")
            if breach.kind == "memory":
                result.peak_rss_bytes = max(result.peak_rss_bytes, int(breach.peak * 1024**3))
            elif breach.kind == "gpu_memory":
                result.peak_gpu_bytes = max(result.peak_gpu_bytes or 0, int(breach.peak * 1024**3))
        elif self._closed:
            result.status = "died"
            result.limit_event = LimitEvent("died", None, None, "the session was closed while the cell ran")
            notes.append(f"[dojo-kernel] {result.limit_event.message}.")
            return
        else:
            result.status = "died"
            result.limit_event = LimitEvent("died", None, None,
                f"the kernel died ({_describe_exit(result.exit_code)}); it was restarted")
        self._restart_after_loss(result, notes)

    def _restart_after_loss(self, result: CellResult, notes: list[str]) -> None:
        assert result.limit_event is not None
        if not self._closed:
            self._replace_kernel()
            result.restarted = True
        notes.append(f"[dojo-kernel] {result.limit_event.message}: every variable and import is gone; "
                     f"re-run what you need.")

    def _compose_text(self, result: CellResult, notes: list[str]) -> str:
        max_chars = self.limits.max_output_chars
        parts = []
        if result.background_outputs:
            parts.append("[output printed after their cell ended, by threads of earlier cells]\n"
                         + render_text(result.background_outputs, max_chars)
                         + "[end of that output; this cell's output follows]\n")
        parts.append(render_text(result.outputs, max_chars))
        parts.extend(note + "\n" for note in notes)
        return "".join(parts)
