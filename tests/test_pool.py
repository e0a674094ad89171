"""pool.py: the warm pool hands out ready workspaces (a run dir with a real kernel) and
ends every kernel it still holds when closed."""

from __future__ import annotations

import os

import pytest

import dojo_kernel

from dojo_kernel.errors import ConfigError
from dojo_kernel.kernel import default_launch_spec
from dojo_kernel.limits import Limits
from dojo_kernel.pool import WarmPool
from dojo_kernel.rundir import RunDir, new_run_dir, open_workspace

import tiny_competition as tiny
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
        limits = Limits(cell_timeout_s=30)
        launch = default_launch_spec(limits, isolation="none", input_source=public, hidden_paths=[private])
        return open_workspace(new_run_dir(tmp_path / "runs"), launch=launch, limits=limits)

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


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"))


def test_back_to_back_resets_grow_the_pool_until_they_find_kernels_ready(competition, tmp_path):
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", warm_pool=1, warm_pool_max=3,
                           isolation=os.environ.get("DOJO_TEST_ISOLATION", "auto"))
    try:
        env.reset()
        env.reset()  # at once: the one warm kernel is still starting, a miss
        pool = env._pool
        assert pool is not None and pool.misses >= 1 and pool.size >= 2
        env.reset()
        assert pool.size == 3 or pool.misses == 2
        wait_until(lambda: pool.ready >= pool.size, timeout=120, message="the grown pool to fill")
        size = pool.size
        warm = []
        for _ in range(size):  # as many back-to-back resets as it holds: every one is served warm
            _, info = env.reset()
            warm.append(info["warm_kernel"])
        assert all(warm), warm
        obs, *_ = env.step("print('works')")
        assert "works" in obs["feedback"]
    finally:
        env.close()


def test_a_pool_cannot_be_asked_to_shrink_below_its_floor():
    with pytest.raises(ConfigError, match="warm_pool_max"):
        WarmPool(lambda: None, 2, 1)  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigError, match="warm_pool_max"):
        dojo_kernel.make("tiny-threshold-unused", warm_pool=2, warm_pool_max=1)
