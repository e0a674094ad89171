"""Shared fixtures: real kernel sessions that are always closed, and a check that nothing
they started is left running afterwards."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits


def processes_under(path: Path) -> list[psutil.Process]:
    """Live processes whose working directory is `path` or below it (a kernel and its children
    all start in the session's cwd, so this finds them even after they were orphaned)."""
    root = str(path.resolve())
    found = []
    for process in psutil.process_iter(["cwd", "status"]):
        cwd = process.info.get("cwd")
        if cwd and (cwd == root or cwd.startswith(root + "/")) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def assert_nothing_left(path: Path, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        left = processes_under(path)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"processes left running in {path}: {[(p.pid, p.info) for p in left]}"


@pytest.fixture
def make_session(tmp_path):
    """A factory of KernelSessions (isolation "none" unless asked) in tmp_path; after the test
    every session is closed and no process may be left running in tmp_path."""
    sessions: list[KernelSession] = []

    def make(limits: Limits | None = None, **options) -> KernelSession:
        options.setdefault("isolation", "none")
        session = KernelSession(tmp_path, limits or Limits(cell_timeout_s=30), **options)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
    assert_nothing_left(tmp_path)


@pytest.fixture
def episode(tmp_path, make_session):
    """A small recorded episode from a real kernel (see recorded_episode.py): (run_dir, records)."""
    from recorded_episode import LIMITS, record_episode

    return record_episode(tmp_path / "run", make_session(LIMITS))


# The reference data (published leaderboards, the MLE-Dojo catalogue's facts) lives beside the
# repository in ../shared/reference, never inside it; DOJO_REFERENCE points elsewhere.
REFERENCE_ROOT = Path(os.environ.get("DOJO_REFERENCE") or Path(__file__).resolve().parents[2] / "shared" / "reference")


@pytest.fixture
def reference():
    """`reference(name)`: the folder `name` of the reference data; the test skips, saying
    where it looked, when that folder is absent."""
    def find(name: str) -> Path:
        path = REFERENCE_ROOT / name
        if not path.is_dir():
            pytest.skip(f"the reference data {name}/ is not at {path}: set DOJO_REFERENCE to the folder "
                        "holding it (../shared/reference beside the repository)")
        return path

    return find


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A data root (DOJO_DATA) for the module: each built-in it uses is built once, there."""
    root = tmp_path_factory.mktemp("dojo-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOJO_DATA", str(root))
        yield root


@pytest.fixture
def make_env(competition, tmp_path):
    """Envs on the module's `competition`, closed after the test; warm_pool=0 unless asked (a
    warm kernel is one more process on a small machine). DOJO_TEST_ISOLATION=none runs the
    suite the way a machine without bubblewrap does."""
    import dojo_kernel

    made = []

    def make(**settings):
        settings.setdefault("warm_pool", 0)
        settings.setdefault("isolation", os.environ.get("DOJO_TEST_ISOLATION", "auto"))
        env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", **settings)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
