"""The figures a cell displays, kept as files in the run dir for agents that can see images.

The notebook keeps every output whole; the feedback text shows a figure as a placeholder. An
agent that can look at images (a vision model) needs the image itself: each `image/png` that a
cell displays is written to `figures/step-<step>-<n>.png` in the run dir, and the observation
lists them (run-dir path, bytes, pixel size), a few per step at most.

The bytes come from the kernel and are untrusted: only data that decodes as base64 into a PNG
(its signature and header checked) is written, within a byte cap, and the folder is opened
without following links, so agent code that planted a link at `figures` (possible only without
the sandbox, whose kernel sees the run dir's top read-only) writes nothing outside it.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .rundir import FIGURES_DIR

MAX_FIGURES = 8  # listed per observation; a cell that draws more has its first ones kept
MAX_FIGURE_BYTES = 8 * 1024 * 1024  # a larger image is not kept (the notebook still has it)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG from its header, or None where `data` is not a PNG."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def displayed_pngs(outputs: list[dict[str, Any]], limit: int = MAX_FIGURES) -> list[bytes]:
    """The PNG images among a cell's nbformat outputs, decoded, in order, at most `limit`;
    anything that is not a PNG within the byte cap is skipped."""
    found: list[bytes] = []
    for output in outputs:
        if len(found) >= limit:
            break
        if not isinstance(output, dict) or output.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = output.get("data")
        encoded = data.get("image/png") if isinstance(data, dict) else None
        if isinstance(encoded, list):  # nbformat allows a multiline string as a list of lines
            encoded = "".join(part for part in encoded if isinstance(part, str))
        if not isinstance(encoded, str) or len(encoded) > MAX_FIGURE_BYTES * 4 // 3 + 4:
            continue
        try:
            raw = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            continue
        if png_size(raw) is not None:
            found.append(raw)
    return found


def read_figure(run_dir: Path, path: str) -> bytes | None:
    """The PNG at `path` (as an observation lists it: figures/<name>) in `run_dir`, or None
    where it is missing, not a plain file in figures/, over the byte cap or not a PNG. No link
    is followed, at the folder or the file: the bytes go to a model, so they must be a figure."""
    folder_name, _, name = str(path).partition("/")
    if folder_name != FIGURES_DIR or not name or "/" in name or name.startswith("."):
        return None
    try:
        folder = _open_folder(run_dir, create=False)
    except OSError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(MAX_FIGURE_BYTES + 1)
    return data if len(data) <= MAX_FIGURE_BYTES and png_size(data) is not None else None


def save_figures(run_dir: Path, step: int, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the PNGs a cell displayed to figures/ in `run_dir`; their entries for the
    observation: {"path": run-dir relative path, "bytes", "width", "height"}. A folder that
    cannot be made or is not a plain folder means no figures (a note, never an error)."""
    images = displayed_pngs(outputs)
    if not images:
        return []
    try:
        folder = _open_folder(run_dir)
    except OSError:
        return []
    saved = []
    try:
        for number, raw in enumerate(images, start=1):
            name = f"step-{step:04d}-{number}.png"
            try:
                _write(folder, name, raw)
            except OSError:
                continue
            width, height = png_size(raw) or (0, 0)
            saved.append({"path": f"{FIGURES_DIR}/{name}", "bytes": _count(len(raw)),
                          "width": _count(width), "height": _count(height)})
    finally:
        os.close(folder)
    return saved


def _count(value: int) -> np.ndarray:
    return np.array(value, dtype=np.int64)  # what the observation space's Box holds


def _open_folder(run_dir: Path, create: bool = True) -> int:
    """A descriptor of run_dir/figures, made if missing; a link there is refused (ELOOP)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    top = os.open(run_dir, flags)
    try:
        if create:
            try:
                os.mkdir(FIGURES_DIR, 0o755, dir_fd=top)
            except FileExistsError:
                pass
        return os.open(FIGURES_DIR, flags, dir_fd=top)
    finally:
        os.close(top)


def _write(folder: int, name: str, data: bytes) -> None:
    """Write `name` in the folder whole or not at all: a temporary file created exclusively
    (no link followed), then renamed over whatever was there (a rename replaces a link, never
    writes through it)."""
    temporary = f".{name}.{os.getpid()}.tmp"
    try:
        os.unlink(temporary, dir_fd=folder)
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=folder)
        except OSError:
            pass
        raise
