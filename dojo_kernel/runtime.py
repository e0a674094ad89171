"""A session's runtime folder (`/tmp/dk-*`): the kernel's sockets and connection file (its
HMAC key), its `$HOME`, and the env's own view of the sockets; and the kernel's log.

What agent code can reach of it is written as if hostile:
- the folder is created 0700 and holds an owner lock; folders whose owner died (an env that
  was SIGKILLed) are reaped when the next session starts;
- each kernel writes only its own `g<N>/` folder; once the kernel has bound its sockets the env
  hard-links them into `e<N>/`, a folder the kernel cannot see, checks that each is a socket,
  and connects there: a socket the kernel later swaps for a symlink redirects nothing;
- the kernel's stdout and stderr go through a pipe the env reads and writes, capped, to the
  log: the kernel holds no descriptor of any file of the record.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

PREFIX = "dk-"
_LOCK = ".owner.lock"
LOG_MAX_BYTES = 5 * 1024**2  # of a session's kernel log; past it the log says what was cut
_CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


def reap_stale(folder: str = "/tmp") -> list[Path]:
    """Remove runtime folders whose owner is gone (its lock is free); those of live sessions
    and folders without a lock (another version's, or still being made) are left alone."""
    reaped = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return reaped
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            fd = os.open(os.path.join(entry.path, _LOCK), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its owner is alive
            os.close(fd)
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # rmtree never follows links
        os.close(fd)
        reaped.append(Path(entry.path))
    return reaped


def create_runtime_dir(folder: str = "/tmp") -> tuple[Path, int]:
    """A fresh runtime folder (mode 0700) and the descriptor of its owner lock, held (flock)
    until closed; stale folders are reaped first."""
    reap_stale(folder)
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=folder))
    os.chmod(path, 0o700)
    # Locked under a temporary name and then renamed, so a reaper never sees it unlocked.
    fd = os.open(path / ".lock.tmp", os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(path / ".lock.tmp", path / _LOCK)
    return path, fd


def link_sockets(info: dict[str, Any], env_dir: Path, *, alive: Callable[[], bool], deadline: float) -> dict[str, Any]:
    """Wait until the kernel has bound its ipc sockets, hard-link each into `env_dir` (made
    here, 0700) and return the connection info that connects there. Raises TimeoutError or
    ChildProcessError (the kernel exited), or FileExistsError if a path is not a socket."""
    prefix = str(info["ip"])
    env_dir.mkdir(mode=0o700)
    env_prefix = env_dir / "k"
    pending = {channel: f"{prefix}-{info[f'{channel}_port']}" for channel in _CHANNELS}
    while pending:
        for channel, path in list(pending.items()):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue
            target = f"{env_prefix}-{info[f'{channel}_port']}"
            if not stat.S_ISSOCK(mode):
                raise FileExistsError(f"expected a socket at {path}, got another kind of file")
            os.link(path, target, follow_symlinks=False)
            if not stat.S_ISSOCK(os.lstat(target).st_mode):
                raise FileExistsError(f"expected a socket at {path}, got another kind of file")
            del pending[channel]
        if pending:
            if not alive():
                raise ChildProcessError("the kernel exited before binding its sockets")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not bind its sockets ({', '.join(pending)})")
            time.sleep(0.02)
    return {**info, "ip": str(env_prefix)}


class LogPipe:
    """Copies what a kernel writes to its stdout/stderr pipe into the log, capped at
    LOG_MAX_BYTES for the whole log; the rest is read and counted, so the kernel never blocks."""

    def __init__(self, pipe: IO[bytes], log_path: Path) -> None:
        self.pipe = pipe
        self.log_path = log_path
        self.thread = threading.Thread(target=self._copy, name="dojo-kernel-log", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        dropped = 0
        try:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError:
            fd = None
        try:
            while chunk := self.pipe.read1(65536):  # type: ignore[attr-defined]  (a buffered pipe has read1)
                if fd is None:
                    continue
                room = LOG_MAX_BYTES - os.fstat(fd).st_size
                if room > 0:
                    os.write(fd, chunk[:room])
                dropped += max(0, len(chunk) - max(room, 0))
            if fd is not None and dropped:
                os.write(fd, f"\n[dojo-kernel] {dropped:,} more bytes of kernel log were dropped: the log is "
                             f"capped at {LOG_MAX_BYTES:,} bytes]\n".encode())
        except (OSError, ValueError):  # the pipe was closed under us
            pass
        finally:
            if fd is not None:
                os.close(fd)
            self.pipe.close()
