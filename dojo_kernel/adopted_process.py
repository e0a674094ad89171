"""A process the env did not start (a forked kernel), followed through a pidfd with Popen's interface;
kept apart from fork.py, which asks for the fork and shares the sandbox.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from .limits import tree_pids
from .spawn import kill_tree

if TYPE_CHECKING:
    from .fork import SharedSandbox

_UNKNOWN_EXIT = 255  # the exit status of a process the env is not the parent of, where /proc lost it


class AdoptedProcess:
    """Popen's interface (pid, poll, wait, returncode, kill) for a forked kernel.

    Its parent is init (or the sandbox's init), not the env, so the exit status is read from
    /proc while the process is a zombie, where that is still possible; a pidfd makes sure a
    recycled PID is never taken for it.
    """

    def __init__(self, pid: int, *, sandbox: SharedSandbox | None = None) -> None:
        self.pid = pid
        self.sandbox = sandbox
        self.returncode: int | None = None
        self._killed = False
        self._lock = threading.Lock()
        self._fd: int | None = os.pidfd_open(pid)
        self._start_ticks = _start_ticks(pid)

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None and self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], 0)
                if ready:
                    self.returncode = self._exit_status()
                    os.close(self._fd)
                    self._fd = None
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            with self._lock:
                fd = self._fd
            if fd is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                select.select([fd], [], [], 0.2 if left is None else min(0.2, left))
            if deadline is not None and time.monotonic() >= deadline and self.poll() is None:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    signal.pidfd_send_signal(self._fd, signum)
                except ProcessLookupError:
                    pass
        if signum == signal.SIGKILL:
            self._killed = True

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def kill_tree(self) -> None:
        """SIGKILL the process, its descendants and its process group (it leads one)."""
        if self.poll() is None:
            self._killed = True
            kill_tree(self.pid, process_group=self.pid)

    def _exit_status(self) -> int:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as handle:
                data = handle.read()
            fields = data[data.rindex(b")") + 2:].split()
            if fields[0] == b"Z" and int(fields[19]) == self._start_ticks:
                status = int(fields[-1])
                return -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF
        except (OSError, ValueError, IndexError):
            pass
        return -signal.SIGKILL if self._killed else _UNKNOWN_EXIT


def _stat_field(pid: int, index: int) -> int | None:
    """Field ``index`` of /proc/PID/stat counted after the command name, or None (gone, unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return int(data[data.rindex(b")") + 2:].split()[index])  # the name may hold spaces and ')'
    except (OSError, ValueError, IndexError):
        return None


def _start_ticks(pid: int) -> int | None:
    return _stat_field(pid, 19)


def _session_id(pid: int) -> int | None:
    return _stat_field(pid, 3)


def _host_pid(namespace_pid: int, sandbox_root: int) -> int | None:
    """The host PID of the process that is `namespace_pid` inside the sandbox under `sandbox_root`."""
    for pid in tree_pids(sandbox_root):
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == namespace_pid and len(line.split()) > 2:
                            return pid
                        break
        except (OSError, ValueError):
            continue
    return None
