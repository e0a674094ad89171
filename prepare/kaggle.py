"""Fetching a competition's files, pages and leaderboard through the Kaggle API.

The `kaggle` package is imported lazily, only when something is fetched: importing it
authenticates at once (and prints a help text and exits when it finds no credentials),
so we look for the credentials ourselves first and turn every failure into one line a
person can act on. Everything that talks to Kaggle takes an ``api`` argument, an object
with the methods of ``kaggle.api.kaggle_api_extended.KaggleApi``; by default it is the
real, authenticated client.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from . import safe_files

RULES_URL = "https://www.kaggle.com/competitions/{name}/rules"
COMPETITION_URL = "https://www.kaggle.com/competitions/{name}"
TOKEN_URL = "https://www.kaggle.com/settings/api"
MANUAL_ROUTE = "or download the files by hand and run `dojo prepare {name} --raw-dir DIR`"

# The raw archive, its extracted files and the prepared copy each take about the data's
# size; we ask for all three to be free before starting a download.
DISK_SPACE_FACTOR = 3
DOWNLOADED_MARKER = ".dojo-extracted"


class KaggleError(RuntimeError):
    """A Kaggle download or look-up failed; the message is one line that says what to do."""


class KaggleNotInstalled(KaggleError):
    pass


class NoCredentials(KaggleError):
    pass


class BadCredentials(KaggleError):
    pass


class RulesNotAccepted(KaggleError):
    pass


class UnknownCompetition(KaggleError):
    pass


class DiskSpaceShort(KaggleError):
    pass


class DownloadInterrupted(KaggleError):
    pass


@dataclass(frozen=True)
class Credentials:
    """Where the Kaggle credentials were found (never the secret itself)."""

    kind: str  # "token" (KAGGLE_API_TOKEN / access_token) or "key" (username + key)
    source: str  # an environment variable's name or a file's path
    username: str | None = None


def config_dirs(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """The folders the kaggle package reads kaggle.json / access_token from, in its order."""
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if environ.get("KAGGLE_CONFIG_DIR"):
        return [Path(environ["KAGGLE_CONFIG_DIR"]).expanduser()]
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return [home / ".kaggle", xdg]


def find_credentials(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Credentials | None:
    """Look for Kaggle credentials where the kaggle package looks, without importing it.

    Order: KAGGLE_API_TOKEN; KAGGLE_USERNAME with KAGGLE_KEY; then, in the config folder
    (KAGGLE_CONFIG_DIR, else ~/.kaggle, else ~/.config/kaggle), access_token and kaggle.json.
    """
    environ = os.environ if environ is None else environ
    if environ.get("KAGGLE_API_TOKEN"):
        return Credentials("token", "KAGGLE_API_TOKEN")
    if environ.get("KAGGLE_USERNAME") and environ.get("KAGGLE_KEY"):
        return Credentials("key", "KAGGLE_USERNAME/KAGGLE_KEY", environ["KAGGLE_USERNAME"])
    for folder in config_dirs(environ, home):
        token_file = folder / "access_token"
        if token_file.is_file() and token_file.read_text().strip():
            return Credentials("token", str(token_file))
        key_file = folder / "kaggle.json"
        if key_file.is_file():
            try:
                data = json.loads(key_file.read_text() or "{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise BadCredentials(
                    f"{key_file} is not valid JSON: expected "
                    '{"username": "...", "key": "..."}; download a fresh one from ' + TOKEN_URL
                ) from None
            if not (isinstance(data, dict) and data.get("username") and data.get("key")):
                raise BadCredentials(
                    f"{key_file} lacks a username or key: expected "
                    '{"username": "...", "key": "..."}; download a fresh one from ' + TOKEN_URL
                )
            return Credentials("key", str(key_file), str(data["username"]))
    return None


def require_credentials(name: str = "NAME") -> Credentials:
    """The credentials, or NoCredentials with the ways to provide them."""
    found = find_credentials()
    if found is None:
        where = " or ".join(str(d / "kaggle.json") for d in config_dirs())
        raise NoCredentials(
            f"no Kaggle credentials found: put the kaggle.json from {TOKEN_URL} at {where} "
            f"(chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY, {MANUAL_ROUTE.format(name=name)}"
        )
    return found


def kaggle_api(name: str = "NAME") -> Any:
    """An authenticated KaggleApi; imports the kaggle package only now."""
    require_credentials(name)
    # The package prints a help page on stdout when it fails to authenticate at import
    # time; we have already checked the credentials, so anything it prints is noise.
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi  # type: ignore[import-not-found]
    except ImportError as exc:
        raise KaggleNotInstalled(
            f"the kaggle package is not installed ({exc}): run pip install 'dojo-kernel[kaggle]', "
            f"{MANUAL_ROUTE.format(name=name)}"
        ) from None
    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.authenticate()
    except SystemExit:
        raise NoCredentials(
            f"the kaggle package rejected the credentials it found: create a new token at {TOKEN_URL}"
        ) from None
    return api


def translate_error(exc: BaseException, name: str) -> KaggleError | None:
    """Our one-line error for an exception raised by the kaggle package, or None if not ours.

    HTTP errors are recognised by their ``response.status_code`` (requests' HTTPError, which
    kaggle 2.x raises) or their ``status`` (kaggle 1.x's ApiException); network faults by
    the exception types requests and the standard library raise.
    """
    if isinstance(exc, KaggleError):
        return exc
    status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(exc, "status", None)
    if status == 401:
        return BadCredentials(
            f"Kaggle refused the credentials (HTTP 401): create a new token at {TOKEN_URL}"
        )
    if status == 403:
        return RulesNotAccepted(
            f"Kaggle denied access to {name!r} (HTTP 403): accept the competition's rules at "
            f"{RULES_URL.format(name=name)} while logged in, then run this again"
        )
    if status == 404:
        return UnknownCompetition(
            f"Kaggle has no competition named {name!r} (HTTP 404): check the name in "
            f"{COMPETITION_URL.format(name=name)}"
        )
    if status == 429:
        return DownloadInterrupted("Kaggle is rate-limiting requests (HTTP 429): wait a few minutes and run this again")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DiskSpaceShort(f"the disk filled up while fetching {name!r}: free some space and run this again")
    if _is_network_fault(exc):
        return DownloadInterrupted(
            f"the download of {name!r} was interrupted ({type(exc).__name__}: {_one_line(exc)}): "
            "run the same command again to resume"
        )
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _is_network_fault(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests
    except ImportError:
        return False
    return isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.Timeout,
        ),
    )


def call_kaggle(name: str, fn: Callable[[], Any], *, retries: int = 3, wait_s: float = 2.0) -> Any:
    """Run one API call; retry network faults (kaggle resumes partial downloads), translate errors."""
    for attempt in range(1, retries + 1):
        try:
            return fn()
        except Exception as exc:
            mine = translate_error(exc, name)
            if mine is None:
                raise
            retriable = isinstance(mine, DownloadInterrupted)
            if not retriable or attempt == retries:
                raise mine from exc
            time.sleep(wait_s * attempt)
    raise AssertionError("unreachable")


def parse_size(text: str | None) -> int | None:
    """'351.45 kB' / '5.7 GB' (as Kaggle's data pages show sizes) -> bytes."""
    if not text:
        return None
    match = re.fullmatch(r"\s*([\d.,]+)\s*([kKMGT]?B)\s*", text)
    if not match:
        raise ValueError(f"expected a size like '351.45 kB' or '5.7 GB', got {text!r}")
    units = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    return int(float(match.group(1).replace(",", "")) * units[match.group(2)])


def check_disk_space(folder: Path, data_bytes: int | None, name: str) -> None:
    """Raise DiskSpaceShort when the folder's disk has less free than the download will need."""
    if not data_bytes:
        return
    probe = Path(folder)
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    needed = DISK_SPACE_FACTOR * data_bytes
    if free < needed:
        raise DiskSpaceShort(
            f"{name!r} needs about {_human(needed)} free in {probe} (data {_human(data_bytes)} "
            f"x{DISK_SPACE_FACTOR}: archive, files, prepared copy), got {_human(free)}: free space "
            "or set DOJO_DATA to a folder on a larger disk"
        )


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def extract_archives(
    folder: Path, *, bundle: str | None = None, progress: bool = True, budget: safe_files.Budget | None = None
) -> list[Path]:
    """Extract every .zip under folder in place, nested ones too, and delete the archives.

    ``bundle`` names the archive Kaggle serves for a whole competition (<name>.zip); its
    files go straight into folder. Any other archive holding loose files (train.zip
    with 1.jpg, 2.jpg...) is extracted into a folder named like it (train/), so the
    layout is the same whichever way Kaggle packed it. Returns the archives extracted.
    Each archive is size-checked first and streamed (see ``safe_files.extract_zip``); the
    ``budget`` (default ``safe_files.MAX_EXTRACT_BYTES``) is shared by nested archives.
    """
    budget = budget if budget is not None else safe_files.Budget.default()
    done: list[Path] = []
    while True:
        archives = sorted(p for p in Path(folder).rglob("*.zip") if p.is_file() and not p.is_symlink() and p not in done)
        if not archives:
            return done
        for archive in archives:
            _extract_one(archive, into_own_folder=archive.name != bundle, progress=progress, budget=budget)
            archive.unlink()
            done.append(archive)


def _macos_metadata(member: zipfile.ZipInfo) -> bool:
    return member.filename.startswith("__MACOSX/")


def _extract_one(archive: Path, *, into_own_folder: bool, progress: bool, budget: safe_files.Budget) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not _macos_metadata(m)]
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise safe_files.BadArchive(
            f"expected a valid zip archive, got {archive.name} which is damaged ({safe_files.one_line(exc)}): "
            "download it again"
        ) from None
    tops = {m.filename.split("/", 1)[0] for m in members}
    target = archive.parent
    if into_own_folder and len(members) > 1 and tops != {archive.stem}:
        target = archive.parent / archive.stem
    total = sum(m.file_size for m in members)
    with _progress(progress, f"extracting {archive.name}", total) as advance:
        safe_files.extract_zip(archive, target, budget=budget, advance=advance, skip=_macos_metadata)


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int):
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task(label, total=total or None)
        yield lambda n: bar.advance(task, n)


def download_competition(
    name: str,
    raw_dir: Path,
    *,
    data_bytes: int | None = None,
    api: Any = None,
    progress: bool = True,
    retries: int = 3,
    retry_wait_s: float = 2.0,
) -> Path:
    """Download and extract a competition's files into raw_dir; returns raw_dir.

    A finished download is kept: running this again after an interruption resumes the
    partial archive (the kaggle package keeps a resume marker beside it).
    """
    raw_dir = Path(raw_dir)
    if is_downloaded(raw_dir):
        return raw_dir
    check_disk_space(raw_dir, data_bytes, name)
    api = api if api is not None else kaggle_api(name)
    raw_dir.mkdir(parents=True, exist_ok=True)
    call_kaggle(
        name,
        lambda: api.competition_download_files(name, path=str(raw_dir), quiet=not progress),
        retries=retries,
        wait_s=retry_wait_s,
    )
    try:
        extract_archives(raw_dir, bundle=f"{name}.zip", progress=progress)
    except OSError as exc:
        mine = translate_error(exc, name)
        raise (mine or exc) from exc
    except (zipfile.BadZipFile, safe_files.BadArchive) as exc:
        raise DownloadInterrupted(
            f"the archive of {name!r} in {raw_dir} is damaged ({exc}): delete it and run this again"
        ) from exc
    (raw_dir / DOWNLOADED_MARKER).write_text("ok\n")
    return raw_dir


def is_downloaded(raw_dir: Path) -> bool:
    """Whether a download into raw_dir finished and was extracted."""
    return (Path(raw_dir) / DOWNLOADED_MARKER).is_file()


def fetch_description(name: str, api: Any) -> str | None:
    """The competition's pages (overview, evaluation, data...) as one markdown text."""
    pages = call_kaggle(name, lambda: api.competition_list_pages(name))
    parts = []
    for page in pages or []:
        content = (getattr(page, "content", "") or "").strip()
        if content and getattr(page, "name", "") != "rules":
            title = getattr(page, "post_title", None) or getattr(page, "name", "")
            parts.append(f"## {title}\n\n{content}\n")
    return "\n".join(parts) if parts else None


def fetch_leaderboard(
    name: str, api: Any, higher_is_better: bool, workdir: Path
) -> pd.DataFrame | None:
    """The public leaderboard as columns rank,score (best first), or None where not offered."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        call_kaggle(name, lambda: api.competition_leaderboard_download(name, str(workdir)))
    except (RulesNotAccepted, UnknownCompetition):
        return None
    extract_archives(workdir, bundle=f"{name}.zip", progress=False)
    csvs = sorted(workdir.rglob("*.csv"))
    if not csvs:
        return None
    return leaderboard_from_kaggle_csv(pd.read_csv(csvs[0]), higher_is_better)


def leaderboard_from_kaggle_csv(table: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Kaggle's leaderboard export (TeamId, TeamName, SubmissionDate, Score) -> rank,score."""
    scores = cast(pd.Series, pd.to_numeric(table["Score"], errors="coerce")).dropna()  # a Series in, a Series out
    scores = scores.sort_values(ascending=not higher_is_better, kind="stable").reset_index(drop=True)
    ranks = scores.rank(method="min", ascending=not higher_is_better).astype(int)
    return pd.DataFrame({"rank": ranks, "score": scores})
