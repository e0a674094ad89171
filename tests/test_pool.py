"""pool.py: the warm pool hands out ready workspaces (a run dir with a real kernel) and
ends every kernel it still holds when closed."""

from __future__ import annotations

import pytest

from dojo_kernel.errors import ConfigError
from dojo_kernel.isolation import resolve_mode
from dojo_kernel.limits import Limits
from dojo_kernel.pool import WarmPool
from dojo_kernel.rundir import RunDir, new_run_dir, open_workspace

from conftest import assert_nothing_left
from waiting import wait_until


@pytest.fixture
def start(tmp_path):
    """A workspace factory on a one-file competition, as the env's is."""
    public, private = tmp_path / "comp" / "public", tmp_path / "comp" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    (public / "train.csv").write_text("a\n1\n")

    def start():
        return open_workspace(new_run_dir(tmp_path / "runs"), public_dir=public, private_dir=private,
                              limits=Limits(cell_timeout_s=30), plan=resolve_mode("none"))

    yield start
    assert_nothing_left(tmp_path)


def test_without_warm_kernels_take_starts_one_and_waits(start):
    pool = WarmPool(start, 0)
    workspace = pool.take()
    try:
        assert pool.ready == 0 and workspace.session.run("1 + 1").text.strip() == "2"
        assert RunDir(workspace.run_dir).working.is_dir()
    finally:
        pool.close()
        workspace.discard()


def test_a_warm_workspace_is_handed_out_and_close_ends_the_rest(start, tmp_path):
    pool = WarmPool(start, 1)
    pool.fill()
    wait_until(lambda: pool.ready == 1, timeout=60, message="the warm kernel to start")
    workspace = pool.take()  # the warm one; the pool starts the next in the background
    try:
        assert workspace.session.is_alive
        pool.close()
        pool.close()  # twice is fine
        assert [path for path in (tmp_path / "runs").iterdir()] == [workspace.run_dir]  # the unused one is gone
        with pytest.raises(RuntimeError, match="closed"):
            pool.take()
    finally:
        workspace.discard()


@pytest.mark.parametrize("size", [-1, 1.5, True, "2"])
def test_a_bad_size_is_refused(size):
    with pytest.raises(ConfigError, match="warm_pool as an int >= 0"):
        WarmPool(lambda: None, size)
