"""The run dir: an episode's folder, which is also its kernel's working directory.

    input/            read-only view of the competition's public data
    working/          the agent's scratch space; working/<submission file> is what gets graded
    trajectory.ipynb  the episode so far (written by trajectory.py)
    rewards.jsonl     one JSON object per step (written by trajectory.py)
    summary.json      written when the episode ends
    kernel.json       where `dojo attach` finds the running kernel
    kernel.log        the kernel's own stdout and stderr
    attach.json       a copy of the kernel's connection file, for `dojo attach`
    figures/          the PNG images cells displayed, step-<step>-<n>.png (written by figures.py)
    .dojo-run         the marker: the env made this run dir (readers list only marked ones)

This module owns those names, creating a run dir, reading a finished one back (one reader
for the report, the agents' loop, the batch runner and `dojo attach`), the kernel pointer,
the one atomic write, and opening a workspace: a run dir with a kernel started in it, for
the env and for replay alike. The kernel and sandbox modules are imported only by
`open_workspace`, so the recorder can use the names here without importing a kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, RecorderError, expected

if TYPE_CHECKING:  # for annotations only: importing them would start the kernel machinery
    from .isolation import LaunchSpec
    from .limits import Limits

INPUT_DIR = "input"
WORKING_DIR = "working"
NOTEBOOK_FILE = "trajectory.ipynb"
REWARDS_FILE = "rewards.jsonl"
SUMMARY_FILE = "summary.json"
KERNEL_POINTER_FILE = "kernel.json"
KERNEL_LOG_FILE = "kernel.log"
ATTACH_FILE = "attach.json"
FIGURES_DIR = "figures"
# Written by the env into the run dir's top folder, which the sandboxed kernel sees read-only:
# a folder agent code makes under working/ can copy every other file, never this one's place.
RUN_MARKER_FILE = ".dojo-run"

PathLike = str | os.PathLike[str]


# ---------------------------------------------------------------------------------------------
# Writing files so that a crash leaves them whole


def atomic_write(path: PathLike, *parts: bytes | bytearray | str, mode: int = 0o644) -> None:
    """Replace `path` with the concatenated `parts`, so that a crash at any moment leaves the
    old file or the new one, whole (temporary file, fsync, rename, fsync of the folder).
    Text parts are written as UTF-8; a new file gets `mode`. Raises RecorderError (a RuntimeError) on failure."""
    path = Path(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        # a new file with `mode` (less the umask) from its first byte; never written through a link
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode), "wb") as handle:
            for part in parts:
                # a large part goes straight from its buffer to the file
                handle.write(part.encode("utf-8") if isinstance(part, str) else part)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must reach the disk
        finally:
            os.close(directory)
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RecorderError(f"could not write {path}: {error}. Check free disk space and permissions") from error


# ---------------------------------------------------------------------------------------------
# JSON that every reader reads back whole

# Characters that str.splitlines() (and many JSON-lines readers) break a line at, which JSON
# leaves unescaped with ensure_ascii=False; JSON escapes every other control character itself.
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK = re.compile("[\x85\u2028\u2029]")


def json_bytes(text: str) -> bytes:
    """JSON text (from json.dumps) as UTF-8 for a file: line separators inside strings escaped,
    so that splitting on anything but `\\n` still reads each line whole, and a lone surrogate
    (kernel output can carry one) written as its `\\udXXX` escape, which JSON reads back,
    instead of making the write raise."""
    text = _LINE_BREAK.sub(lambda match: _LINE_BREAKS[match.group()], text)
    return text.encode("utf-8", "backslashreplace")


def json_line(value: Any) -> bytes:
    """`value` as one line of a JSON-lines file, `\\n` included (see json_bytes)."""
    return json_bytes(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + b"\n"


def split_json_lines(text: str) -> list[str]:
    """A JSON-lines file's lines, split on `\\n` only (never on other line separators)."""
    return text.split("\n")


# ---------------------------------------------------------------------------------------------
# The layout


@dataclass(frozen=True)
class RunDir:
    """The paths of one run dir. Building one touches nothing on disk."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, value: RunDir | PathLike) -> RunDir:
        """`value` as a RunDir (a RunDir is returned as it is)."""
        return value if isinstance(value, RunDir) else cls(Path(value))

    @property
    def input(self) -> Path:
        return self.path / INPUT_DIR

    @property
    def working(self) -> Path:
        return self.path / WORKING_DIR

    @property
    def notebook(self) -> Path:
        return self.path / NOTEBOOK_FILE

    @property
    def rewards(self) -> Path:
        return self.path / REWARDS_FILE

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_FILE

    @property
    def kernel_pointer(self) -> Path:
        return self.path / KERNEL_POINTER_FILE

    @property
    def kernel_log(self) -> Path:
        return self.path / KERNEL_LOG_FILE

    @property
    def figures(self) -> Path:
        return self.path / FIGURES_DIR

    def submission(self, file_name: str) -> Path:
        """Where the agent writes its submission: working/<file_name>."""
        return self.working / file_name

    @property
    def has_record(self) -> bool:
        """Whether an episode recorded steps here (rewards.jsonl exists)."""
        return self.rewards.is_file()

    @property
    def is_finished(self) -> bool:
        """Whether the episode here ended (summary.json exists)."""
        return self.summary.is_file()

    def read_summary(self) -> dict[str, Any]:
        """summary.json as a dict; {} where it is missing or unreadable (a run still going)."""
        return read_summary(self.path)

    def read_rewards(self) -> list[dict[str, Any]]:
        return read_rewards(self.rewards)

    @property
    def attach_file(self) -> Path:
        return self.path / ATTACH_FILE

    def write_kernel_pointer(self, connection_file: PathLike, pid: int | None,
                             connection_info: dict[str, Any] | None = None) -> None:
        """kernel.json: where `dojo attach` finds the running kernel of this run dir. With
        `connection_info` (what the env loaded when it started the kernel), a copy of the
        connection file is written as attach.json, beside kernel.json where the kernel cannot
        write, and kernel.json points there: the kernel's own file could be rewritten."""
        if connection_info is not None:
            atomic_write(self.attach_file, json.dumps(connection_info, indent=1), mode=0o600)  # it holds the key
            connection_file = self.attach_file.resolve()
        pointer = {"connection_file": str(connection_file), "pid": pid}
        atomic_write(self.kernel_pointer, json.dumps(pointer))

    def read_kernel_pointer(self) -> dict[str, Any] | None:
        """kernel.json's contents, or None where it is missing or holds no connection file."""
        try:
            data = json.loads(self.kernel_pointer.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("connection_file") else None


def new_run_dir(output_dir: PathLike) -> Path:
    """A new run dir under `output_dir`, `<UTC timestamp>-<short id>` (sorting by time), empty
    but for the marker that says the env made it."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = output_dir / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        try:
            run_dir.mkdir()
        except FileExistsError:  # two envs sharing an output dir in the same second: draw again
            continue
        mark_run_dir(run_dir)
        return run_dir


def mark_run_dir(run_dir: PathLike) -> None:
    """Mark `run_dir` as one the env made (see RUN_MARKER_FILE); call it before any kernel starts."""
    atomic_write(Path(run_dir) / RUN_MARKER_FILE, "dojo-kernel run dir\n")


def is_marked_run_dir(path: PathLike) -> bool:
    """Whether `path` is a real folder holding the env's marker and a rewards.jsonl (no links)."""
    path = Path(path)
    return (not path.is_symlink() and path.is_dir() and (path / RUN_MARKER_FILE).is_file()
            and not (path / RUN_MARKER_FILE).is_symlink() and (path / REWARDS_FILE).is_file()
            and not (path / REWARDS_FILE).is_symlink())


def find_run_dirs(root: PathLike) -> list[Path]:
    """Every run dir the env made under `root`, itself included, sorted: folders with the
    marker and a rewards.jsonl. Links are not followed and nothing inside a run dir is
    searched, so runs that agent code fakes under its working/ are never listed."""
    found = []
    for folder, subfolders, _ in os.walk(root):  # os.walk follows no links to folders
        if is_marked_run_dir(folder):
            found.append(Path(folder))
            subfolders.clear()
        else:
            subfolders.sort()
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Reading a run back


def read_summary(run_dir: PathLike) -> dict[str, Any]:
    """A run dir's summary.json as a dict; {} where it is missing, unreadable or not an object."""
    try:
        loaded = json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def read_rewards(path: PathLike) -> list[dict[str, Any]]:
    """The steps of a rewards.jsonl (a run dir or the file). Lines cut short by a crash
    mid-write, and lines that are not JSON objects, are skipped."""
    return [entry for _, entry in _numbered_rewards(path)]


def _numbered_rewards(path: PathLike) -> list[tuple[int, dict[str, Any]]]:
    """(1-based line number, entry) for each readable line of a rewards.jsonl."""
    path = Path(path)
    if path.is_dir():
        path = path / REWARDS_FILE
    entries = []
    for number, line in enumerate(split_json_lines(path.read_text(encoding="utf-8")), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append((number, entry))
    return entries


@dataclass
class RunLog:
    """A run dir read back: its summary ({} while the episode runs) and its reward log."""

    path: Path
    summary: dict[str, Any]
    lines: list[tuple[int, dict[str, Any]]]  # (line number, entry) per readable line of rewards.jsonl

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [entry for _, entry in self.lines]


def read_run(run_dir: PathLike) -> RunLog:
    """The one reader of a run dir's record: summary.json and rewards.jsonl. Raises
    ConfigError where `run_dir` holds no rewards.jsonl."""
    layout = RunDir(Path(run_dir))
    if not layout.has_record:
        raise ConfigError(expected(f"a run dir with {REWARDS_FILE}", str(layout.path),
                                   "pass the folder `dojo run` printed"))
    return RunLog(layout.path, layout.read_summary(), _numbered_rewards(layout.rewards))


def notebook_path_of(source: PathLike) -> Path:
    """`source` as a notebook path: a run dir means its trajectory.ipynb."""
    path = Path(source)
    if path.is_dir():
        path = path / NOTEBOOK_FILE
    if not path.is_file():
        raise ConfigError(expected(f"a run dir holding {NOTEBOOK_FILE}, or a notebook path", str(source)))
    return path


# ---------------------------------------------------------------------------------------------
# Opening a workspace: a run dir with a kernel started in it


@dataclass
class Workspace:
    """A run dir and the ready kernel whose working directory it is; the env's warm pool also
    prepares its record there (`recorder`: a TrajectoryRecorder made with begin=False, and
    kernel.json written), so that reset() writes nothing that must reach the disk."""

    run_dir: Path
    session: Any  # KernelSession; typed loosely so the pool can be tested with any session-like object
    recorder: Any = None  # a prepared TrajectoryRecorder, or None: the env prepares it at reset

    def discard(self) -> None:
        """End the kernel and remove the run dir: for workspaces no episode has used."""
        try:
            self.session.close()
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def open_workspace(run_dir: RunDir | PathLike, *, launch: LaunchSpec, limits: Limits,
                   startup_timeout: float = 60.0) -> Workspace:
    """Lay out `run_dir` as an episode's (working/, and input/ linking `launch.input_source`)
    and start a kernel in it, launched as `launch` says (built once by the env or replay: what
    is hidden, read-only, writable). The disk limit measures working/. The run dir must exist;
    the caller removes it if this raises, where it made it."""
    # imported here: only a workspace needs a kernel (see the module docstring)
    from .kernel import KernelSession
    from .spawn import prepare_workspace

    layout = RunDir.of(run_dir)
    prepare_workspace(layout.path, launch.input_source)
    session = KernelSession(layout.path, limits, launch=launch, startup_timeout=startup_timeout,
                            log_path=layout.kernel_log, disk_path=layout.working)
    return Workspace(layout.path, session)
