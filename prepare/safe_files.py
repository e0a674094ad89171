"""Reading raw competition files that someone else made: links, paths built from data, archives.

Raw folders and archives come from Kaggle, from a download someone shared, or from a folder
a user points ``--raw-dir`` at; none of it is trusted. The rules here:

- a link under a raw folder may not lead out of it (it could pull another competition's
  private answers into ``public/``); we refuse the folder and say which link;
- a path built from data (an id in a CSV filling ``train/{id}.tif``) must stay inside its
  folder, or a crafted id (``../../victim``) reads or replaces files elsewhere;
- an archive is checked before a byte is written: its declared sizes against a cap and the
  free space, its expansion ratio against zip bombs; it is then streamed with a byte count,
  entries stay inside the target, and a failed extraction removes what it wrote;
- scratch copies live in fresh folders of their own, removed when the preparation ends, so
  nothing the user pointed at is ever deleted.

Every refusal is a :class:`RawFileError` whose message is one line: what was expected, what
came, what to do.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

# An archive that expands more than this many times is refused once it expands past
# RATIO_FLOOR_BYTES: real data (CSV, images) compresses far less; deflate's limit is ~1032x.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 * 1024**2
# A cap on everything one preparation extracts (None: the free disk space is the cap).
MAX_EXTRACT_BYTES: int | None = None
# Kept free on the disk after extracting, so that the prepared copy still fits somewhere.
FREE_SPACE_RESERVE_BYTES = 256 * 1024**2
CHUNK_BYTES = 1024**2

_T = TypeVar("_T")


class RawFileError(ValueError):
    """A raw file or folder cannot be used safely or read; the message is one line."""


class BadArchive(RawFileError):
    """An archive is damaged (not a zip, CRC mismatch, sizes that lie)."""


class ArchiveTooLarge(RawFileError):
    """An archive would expand past the cap, the free space or the ratio a real dataset has."""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


# ---------------------------------------------------------------------- paths and links


def inside(base: Path, relative: str, *, what: str) -> Path:
    """``base / relative``, refused where it leaves ``base``: absolute, '..', or through a link."""
    base = Path(base)
    pure = PurePosixPath(str(relative).replace("\\", "/"))
    candidate = base / pure
    if pure.is_absolute() or ".." in pure.parts or not candidate.resolve().is_relative_to(base.resolve()):
        raise RawFileError(
            f"expected {what} to be a path inside {base}, got {str(relative)!r} which leads out of it; "
            "check the raw file's values (an id may not hold '/' or '..')"
        )
    return candidate


def refuse_links_out(folder: Path, *, label: str = "--raw-dir") -> None:
    """Raise RawFileError for the first link under ``folder`` that leads outside it (or nowhere).

    Links that stay inside are allowed; what they point at is copied as a regular file, so no
    link ever reaches ``public/``."""
    root = Path(folder).resolve()
    pending = [root]
    while pending:  # scandir's entries know whether they are links without another stat per file
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    path = Path(entry.path)
                    target = path.resolve()
                    if not target.is_relative_to(root) or not target.exists():
                        raise RawFileError(
                            f"expected only files inside {label} {root}, got {path.relative_to(root)}, a link to "
                            f"{os.readlink(path)} outside it: copy the file itself into the folder "
                            "(links are not followed)"
                        )
                    if target.is_dir() and path.parent.resolve().is_relative_to(target):
                        raise RawFileError(
                            f"expected only files inside {label} {root}, got {path.relative_to(root)}, a link to "
                            "a folder that holds it (copying would never end): remove the link"
                        )
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))


# ---------------------------------------------------------------------- scratch folders

_scratch: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("dojo_prepare_scratch", default=None)


def removes_scratch(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Decorate a preparation: scratch folders made by :func:`new_scratch` during the call are
    removed when it ends, whether it succeeded or failed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        made: list[Path] = []
        token = _scratch.set(made)
        try:
            return fn(*args, **kwargs)
        finally:
            _scratch.reset(token)
            for folder in made:
                shutil.rmtree(folder, ignore_errors=True)

    return wrapper


def new_scratch(parent: Path, prefix: str) -> Path:
    """A fresh, empty folder under ``parent`` that nobody else names (removed after the
    preparation when called under :func:`removes_scratch`)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    made = _scratch.get()
    if made is not None:
        made.append(folder)
    return folder


# ---------------------------------------------------------------------- archives


@dataclass
class Budget:
    """Bytes one preparation may still extract (across nested archives)."""

    left: int | None = None  # None: no cap beyond the free space

    @classmethod
    def default(cls) -> Budget:
        return cls(MAX_EXTRACT_BYTES)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _free_bytes(folder: Path) -> int:
    probe = Path(folder)
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_archive(archive: Path, members: list[zipfile.ZipInfo], target: Path, budget: Budget) -> int:
    """The bytes ``members`` declare; ArchiveTooLarge when they exceed the cap, the free
    space (less a reserve) or a plausible expansion ratio. Nothing is written."""
    declared = sum(m.file_size for m in members)
    packed = max(1, archive.stat().st_size)
    fix = "extract it yourself where there is room and point --raw-dir at the folder"
    if budget.left is not None and declared > budget.left:
        raise ArchiveTooLarge(
            f"expected {archive.name} to expand to at most {_human(budget.left)} (the extraction cap), "
            f"got {_human(declared)} declared: nothing was extracted; {fix}"
        )
    if declared > RATIO_FLOOR_BYTES and declared / packed > MAX_RATIO:
        raise ArchiveTooLarge(
            f"expected {archive.name} to expand at most {MAX_RATIO}x like real data, got {declared / packed:.0f}x "
            f"({_human(packed)} -> {_human(declared)}), which looks like a zip bomb: nothing was extracted; {fix}"
        )
    free = _free_bytes(target) - FREE_SPACE_RESERVE_BYTES
    if declared > free:
        raise ArchiveTooLarge(
            f"expected room for {archive.name} ({_human(declared)} when extracted) in {target}, got "
            f"{_human(max(free, 0))} free: nothing was extracted; free space or set DOJO_DATA to a larger disk"
        )
    return declared


def _member_path(target: Path, name: str) -> Path | None:
    """Where an entry goes: its name's plain parts under ``target`` (as zipfile does, '..',
    '.' and absolute prefixes dropped); None for an entry with no name left."""
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    if not parts:
        return None
    return inside(target, "/".join(parts), what="an archive entry")


def extract_zip(
    archive: Path,
    target: Path,
    *,
    budget: Budget | None = None,
    advance: Callable[[int], None] = lambda n: None,
    skip: Callable[[zipfile.ZipInfo], bool] = lambda m: False,
) -> list[Path]:
    """Extract ``archive`` into ``target`` after :func:`check_archive`, streaming every entry
    with a byte count; returns the files written. On any failure what was written is removed
    and a RawFileError (BadArchive, ArchiveTooLarge) says why in one line."""
    archive, target = Path(archive), Path(target)
    budget = budget if budget is not None else Budget.default()
    written: list[Path] = []
    made_dirs: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not skip(m)]
            check_archive(archive, members, target, budget)
            for member in members:
                path = _member_path(target, member.filename)
                if path is None:
                    continue
                _make_dirs(path if member.is_dir() else path.parent, made_dirs)
                if member.is_dir():
                    continue
                written.append(path)
                _stream(zf, member, path, budget, archive)
                advance(member.file_size)
    except RawFileError:
        _remove(written, made_dirs)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        _remove(written, made_dirs)
        raise BadArchive(
            f"expected a valid zip archive, got {archive.name} which is damaged ({one_line(exc)}): "
            "nothing was kept from it; download it again"
        ) from None
    except BaseException:
        _remove(written, made_dirs)
        raise
    return written


def _stream(zf: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path, budget: Budget, archive: Path) -> None:
    # A file already there may be a hard link into the user's own folder (scratch copies are
    # linked): replace it with a new file rather than write through the link.
    if path.is_symlink() or path.is_file():
        path.unlink()
    count = 0
    with zf.open(member) as source, open(path, "wb") as sink:
        while chunk := source.read(CHUNK_BYTES):
            count += len(chunk)
            if count > member.file_size or (budget.left is not None and count > budget.left):
                raise ArchiveTooLarge(
                    f"expected {member.filename} in {archive.name} to hold {member.file_size} bytes as declared, "
                    f"got more (or past the extraction cap): nothing was kept from it"
                )
            sink.write(chunk)
    if budget.left is not None:
        budget.left -= count


def _make_dirs(folder: Path, made: list[Path]) -> None:
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
        made.append(path)


def _remove(files: list[Path], dirs: list[Path]) -> None:
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink()
    for folder in reversed(dirs):
        with contextlib.suppress(OSError):
            folder.rmdir()


# ---------------------------------------------------------------------- reading tables


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn a parser's failure on a raw file (bad encoding, quoting, ragged rows, bad JSON)
    into one RawFileError line that names the file."""
    try:
        yield
    except RawFileError:
        raise
    except (UnicodeError, ValueError) as exc:  # pandas' ParserError, EmptyDataError; JSONDecodeError
        kind = "text in UTF-8" if isinstance(exc, UnicodeError) else "a well-formed table"
        raise RawFileError(
            f"expected {Path(path).name} to be {kind}, got: {one_line(exc)}; check the file is the one the "
            "competition serves (download it again), or convert it"
        ) from None
