"""`KernelSession`: one persistent ipykernel, driven over ZMQ ipc sockets.

The session launches the kernel itself (so that it owns the whole process tree: its own
session and process group, death with the parent, the command wrapped for isolation) and
talks to it with jupyter_client's client and session classes. A `Watchdog` thread holds the
tree to its `Limits`; a cell that runs too long is interrupted, then killed. The launched
kernel itself (its process, sockets, start and readiness) is kernel_process.py's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .cell_result import CellError, CellResult, CellStatus, LimitEvent  # noqa: F401 (re-exported)
from .errors import ConfigError, DojoError, KernelDeadError, expected
from .isolation import LaunchSpec
from .kernel_process import _POLL_S, _Kernel, default_launch_spec, launch_kernel, wait_ready
from .kernel_process import tmpfs_size_bytes as tmpfs_size_bytes
from .limits import Breach, Limits, Watchdog
from .messages import Progress, Rejected, evaluated_text, take
from .outputs import _OutputCollector, clip, render_text, strip_ansi
from .runtime import create_runtime_dir
from .seeding import seed_code
from .spawn import _describe_exit, kill_tree, link_input

# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------

# Evaluated by the kernel after every cell (Jupyter's user_expressions, not stored in history).
_CWD_EXPRESSION = "__import__('os').getcwd()"


_GRACE_S = 2.5  # after an interrupt, how long a cell may take to stop before the kill


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
        self.runtime_dir, self._runtime_lock = create_runtime_dir()
        self.log_path = Path(log_path) if log_path is not None else self.runtime_dir / "kernel.log"
        self.warnings: list[str] = [self.isolation.warning] if self.isolation.warning else []
        self._run_lock = threading.RLock()  # one cell (or restart) at a time
        self._control_lock = threading.Lock()  # the control socket, used by interrupt()
        self._closed = False
        self._generation = 0
        self._seed_code: str | None = None  # run after every restart, see seed()
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
            os.close(self._runtime_lock)  # a folder left for its log is reaped by a later session
            # else only the log is left there, kept for the error message that names it
            raise
        self._watchdog.attach(self._kernel.process.pid, **self._watch_options(self._kernel))
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
    def connection_info(self) -> dict[str, Any] | None:
        """The connection details this process loaded when it started the kernel (held in
        memory: the file on disk sits in a folder the kernel can write)."""
        if self._kernel is None:
            return None
        info = dict(self._kernel.client.get_connection_info())
        key = info.get("key")
        info["key"] = key.decode() if isinstance(key, bytes) else key
        return info

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
            except DojoError:  # the env's own faults (a restart that failed) are typed errors
                raise
            except Exception as error:  # whatever else the kernel made happen: its result, not a raise
                return self._recover(error, notes, restarted)

    def _recover(self, error: Exception, notes: list[str], restarted: bool) -> CellResult:
        """A cell whose run raised in the env (what the kernel sent broke an assumption): the
        kernel is replaced and the cell reported as died, so the step is recorded like any other."""
        event = LimitEvent("died", None, None, f"the env could not read what the kernel sent "
                                               f"({type(error).__name__}: {clip(str(error), 200)}); it was restarted")
        result = CellResult(status="died", restarted=restarted, limit_event=event, warnings=list(self.warnings))
        self._restart_after_loss(result, notes)
        result.text = self._compose_text(result, notes)
        return result

    def evaluate(self, expressions: dict[str, str], timeout: float = 2.0) -> dict[str, str | None]:
        """Evaluate Python expressions in the kernel's namespace without running a cell (no history,
        no execution count, no output): each one's text/plain repr, or None where it failed; at most
        `timeout` seconds. For the env's own looks at the state (hints); see evaluate.py."""
        from .evaluate import evaluate
        return evaluate(self, expressions, timeout)

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

    def seed(self, seed: int | None) -> None:
        """Seed the kernel's random, numpy and torch (see seeding.py), now and after every
        restart; None stops re-seeding after restarts."""
        with self._run_lock:
            self._check_open()
            self._seed_code = None if seed is None else seed_code(seed)
            if self._seed_code is not None:
                self._run_quietly(self._seed_code)

    def _run_quietly(self, code: str, timeout_s: float = 30.0) -> None:
        """Run env code that leaves no trace in the history or the outputs; wait for its reply."""
        kernel = self._kernel
        assert kernel is not None
        msg_id = kernel.client.execute(code, silent=True, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and kernel.alive():
            for channel, message in kernel.receive(_POLL_S):
                if (channel == "shell" and not isinstance(message, Rejected)
                        and message["parent_header"].get("msg_id") == msg_id):
                    return

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
            if not self.runtime_dir.exists():
                os.close(self._runtime_lock)
            # else a sandbox shared with forks still uses the folder: its lock stays held (so no
            # later session reaps it as stale) until that sandbox ends or this process does.
        _LIVE_SESSIONS.discard(self)

    # -- launching ------------------------------------------------------------------------------
    def _launch(self) -> _Kernel:
        self._generation += 1
        return launch_kernel(self.launch, self.limits, cwd=self.cwd, kernel_dir=self.runtime_dir / f"g{self._generation}",
                             links_dir=self.runtime_dir / f"e{self._generation}", log_path=self.log_path,
                             startup_timeout=self._startup_timeout)

    def _wait_ready(self, kernel: _Kernel) -> None:
        wait_ready(kernel, log_path=self.log_path, startup_timeout=self._startup_timeout)

    def _watch_options(self, kernel: _Kernel) -> dict[str, Any]:
        return {"cgroup": kernel.cgroup, "sandboxed": self.isolation.mode == "namespaces",
                "writable": (kernel.socket_prefix.parent,)}

    def _replace_kernel(self) -> None:
        old = self._kernel
        self._watchdog.attach(None)
        if old is not None:
            old.dispose()
        self._kernel = None
        self._kernel = self._launch()
        self._watchdog.attach(self._kernel.process.pid, **self._watch_options(self._kernel))
        if self._seed_code is not None:
            self._run_quietly(self._seed_code)

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
        kernel.inbox.begin_cell()
        progress = Progress(msg_id="")
        queued = [*kernel.held, *kernel.receive(0)]  # output of earlier cells' threads (and of a fork or evaluate)
        kernel.held.clear()
        for channel, message in queued:
            if not self._from_another_client(message):
                take(channel, message, progress, cell, background)
        progress.msg_id = kernel.client.execute(code, silent=False, store_history=True, allow_stdin=False,
                                                stop_on_error=False, user_expressions={"cwd": _CWD_EXPRESSION})
        self._watchdog.begin_cell()
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        interrupted_at: float | None = None
        ended: str | None = None  # "exited" (died or killed), "stuck" (ignored the interrupt), "violation"
        while not (progress.reply is not None and progress.idle):
            # Each receive returns within a slice however fast messages come, so the checks
            # below (the deadline above all) run even while a cell floods its channels.
            for channel, message in kernel.receive(_POLL_S):
                if not self._from_another_client(message):
                    take(channel, message, progress, cell, background)
            if progress.violation is not None:
                ended = "violation"
                break
            if progress.reply is not None and progress.idle:
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
        if kernel.inbox.dropped:
            notes.append(f"[dojo-kernel] {kernel.inbox.dropped:,} message(s) from the kernel "
                         f"({kernel.inbox.dropped_bytes:,} bytes) were dropped unread: "
                         f"{'; '.join(kernel.inbox.drop_reasons)}. Print less, or write large results to a file.")
        if ended is None:
            self._complete(result, progress.reply, interrupted_at is not None, timeout, notes)
        elif ended == "violation":
            kernel.kill()
            result.status = "died"
            result.limit_event = LimitEvent("died", None, None,
                f"the kernel sent {progress.violation}, so the env no longer trusts it: it was killed and restarted")
            self._restart_after_loss(result, notes)
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

    def _from_another_client(self, message: Any) -> bool:
        """Whether the message answers a request of another client session (an attached
        console: a person's `jupyter console --existing`, whose output is not the agent's).
        Output of the agent's own earlier cells (threads) carries our session."""
        if isinstance(message, Rejected) or not isinstance(message, dict):
            return False
        parent = message.get("parent_header")
        session = parent.get("session") if isinstance(parent, dict) else None
        kernel = self._kernel
        return bool(session) and kernel is not None and session != kernel.client.session.session

    def _complete(self, result: CellResult, reply: dict[str, Any] | None, interrupted: bool,
                  timeout: float | None, notes: list[str]) -> None:
        assert reply is not None
        result.execution_count = reply["execution_count"]
        result.cwd = evaluated_text(reply["user_expressions"].get("cwd"))
        if result.cwd is not None and Path(result.cwd) != self.cwd:
            # Agent code uses relative paths (input/, working/submission.csv): say plainly why
            # they stopped resolving, instead of leaving a bare FileNotFoundError to decode.
            notes.append(f"[dojo-kernel] the kernel's working directory is now {result.cwd!r}, not the run "
                         f"dir: relative paths such as input/ and working/submission.csv resolve from there. "
                         f"Run os.chdir({str(self.cwd)!r}) to go back.")
        if reply["status"] != "ok":
            result.status = "error"
            result.error = CellError(reply["ename"], reply["evalue"], [strip_ansi(line) for line in reply["traceback"]])
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
               for payload in reply["payload"]):
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
        breach = self._watchdog.check_exit(kernel.process.pid)
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
