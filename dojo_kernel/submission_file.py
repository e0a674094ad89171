"""Reading an untrusted submission file safely: a regular file inside the allowed folder, no link
out of it, no FIFO, under a size cap, parsed as CSV text; kept apart from checking and scoring it.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# A submission may be at most this many times the size of the answers file (plus a fixed
# margin): generous for extra decimals, small enough that a runaway file is refused
# before it is read into memory.
SIZE_FACTOR = 10
SIZE_MARGIN_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20  # one CSV line longer than this is refused without parsing


class SubmissionProblem(Exception):
    """Raised inside grading for an agent's mistake; always turned into Grade.error."""


def submission_size_cap(answers_path: Path) -> int:
    """The largest submission accepted for these answers, in bytes."""
    return SIZE_FACTOR * os.stat(answers_path).st_size + SIZE_MARGIN_BYTES


def _as_agent_sees(path: Path, allowed_dir: str | os.PathLike[str] | None) -> str:
    """The path as agent code writes it: relative to the run dir (``working/submission.csv``)."""
    if allowed_dir is not None:
        allowed = Path(os.path.abspath(allowed_dir))
        try:
            return str(Path(allowed.name) / Path(os.path.abspath(path)).relative_to(allowed))
        except ValueError:
            pass
    return str(path)


def read_submission(
    path: str | os.PathLike[str],
    *,
    allowed_dir: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    text_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a submission CSV safely; raise SubmissionProblem with a message otherwise.

    ``text_columns`` (the id, and labels) are read as text, so ids keep their exact
    spelling (``007`` stays ``007``); the rest is parsed as numbers where it is clean and
    left as text where it is not, to be checked later where a bad value can be named.
    No value is silently turned into NaN: "NA" could be a real id or label.
    """
    path = Path(path)
    shown = _as_agent_sees(path, allowed_dir)
    if allowed_dir is not None:
        data = _read_fd(_open_inside(Path(allowed_dir), path, shown), path, max_bytes)
        return _parse_submission(data, path, max_line_bytes, text_columns)
    real = Path(os.path.realpath(path))
    try:
        info = os.lstat(real)
    except FileNotFoundError:
        raise SubmissionProblem(
            f"expected a submission file at {shown}, found none. Write your predictions there, "
            f"e.g. df.to_csv('{shown}', index=False)."
        ) from None
    except OSError as exc:
        raise SubmissionProblem(f"expected a readable submission file at {path}, got {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SubmissionProblem(
            f"expected {path} to be a regular file, got a {_file_type(info.st_mode)}. "
            "Write the CSV with df.to_csv(...)."
        )
    data = _read_capped(real, max_bytes)
    return _parse_submission(data, path, max_line_bytes, text_columns)


def _open_inside(allowed_dir: Path, path: Path, shown: str) -> int:
    """A descriptor of `path`, opened one component at a time from `allowed_dir` without
    following any link: the host's file system is never consulted outside it, so the answer
    is the same for every refused path, whether or not its target exists."""
    refused = SubmissionProblem(
        f"expected the submission to be a regular file inside {allowed_dir.name}/, got {shown}, which is a link "
        f"or lies outside it. Write the CSV itself there, e.g. df.to_csv('{shown}', index=False).")
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(allowed_dir))
    parts = relative.split(os.sep)
    if relative == "." or parts[0] == ".." or os.path.isabs(relative):
        raise refused
    folder_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(allowed_dir, folder_flags)
    except OSError:
        raise refused from None
    try:
        for part in parts[:-1]:
            inner = os.open(part, folder_flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except FileNotFoundError:
        raise SubmissionProblem(f"expected a submission file at {shown}, found none. Write your predictions "
                                f"there, e.g. df.to_csv('{shown}', index=False).") from None
    except OSError:  # ELOOP, ENOTDIR: a link on the way; EACCES
        raise refused from None
    finally:
        os.close(fd)


def _parse_submission(data: bytes, path: Path, max_line_bytes: int, text_columns: Sequence[str]) -> pd.DataFrame:
    if not data.strip():
        raise SubmissionProblem(
            f"expected CSV rows in {path}, got an empty file. Write a header line and one row per test id."
        )
    _check_line_lengths(data, max_line_bytes)
    if data.lstrip()[:1] in (b"{", b"["):
        raise SubmissionProblem(
            f"expected a CSV file, got what looks like JSON in {path}. Save it with df.to_csv(path, index=False)."
        )
    if b"\x00" in data[:65536]:
        raise SubmissionProblem(
            f"expected a CSV text file, got binary data in {path} (e.g. a pickle, parquet or "
            "Excel file). Save it with df.to_csv(path, index=False)."
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionProblem(
            f"expected UTF-8 text, got an undecodable byte at offset {exc.start}. "
            "Save it with df.to_csv(path, index=False)."
        ) from None
    try:
        frame = pd.read_csv(
            io.BytesIO(data), dtype={column: object for column in text_columns}, keep_default_na=False, na_filter=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise SubmissionProblem(
            f"expected a comma-separated CSV file, but it could not be parsed: {_first_line(exc)}. "
            "Save it with df.to_csv(path, index=False)."
        ) from None
    header = data.split(b"\n", 1)[0]
    if frame.shape[1] < 2 and b"," not in header:
        raise SubmissionProblem(
            "expected a comma-separated header (the id and target columns), got "
            f"{header[:200].decode('utf-8', 'replace')!r}. Use commas, not tabs or semicolons: "
            "df.to_csv(path, index=False)."
        )
    return frame


def _read_capped(path: Path, max_bytes: int | None) -> bytes:
    # O_NOFOLLOW and O_NONBLOCK: if the file was swapped for a link or a FIFO since the
    # lstat above, opening fails or returns at once instead of following or blocking.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionProblem(f"expected a readable regular file at {path}, got: {exc.strerror}") from None
    return _read_fd(fd, path, max_bytes)


def _read_fd(fd: int, path: Path, max_bytes: int | None) -> bytes:
    """The bytes of the open file `fd` (closed here): a regular file of at most max_bytes."""
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionProblem(f"expected {path} to be a regular file, got a {_file_type(info.st_mode)}")
        if max_bytes is not None and info.st_size > max_bytes:
            raise SubmissionProblem(
                f"expected a submission of at most {max_bytes:,} bytes, got {info.st_size:,}. "
                "Write one row per test id with only the id and target columns."
            )
        data = handle.read(max_bytes + 1 if max_bytes is not None else -1)
    if max_bytes is not None and len(data) > max_bytes:
        raise SubmissionProblem(f"expected a submission of at most {max_bytes:,} bytes, got more (it grew while read)")
    return data


def _check_line_lengths(data: bytes, max_line_bytes: int) -> None:
    if len(data) <= max_line_bytes:
        return
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], newlines, [len(data)]))
    longest = int(np.diff(bounds).max()) - 1
    if longest > max_line_bytes:
        line = int(np.argmax(np.diff(bounds))) + 1
        raise SubmissionProblem(
            f"expected CSV lines of at most {max_line_bytes:,} bytes, got a line of {longest:,} bytes "
            f"(line {line}). Write one row per line: df.to_csv(path, index=False)."
        )


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
