"""The adaptive warm pool, through DojoEnv with real kernels: back-to-back resets grow it, and
once it has caught up they find kernels ready."""

from __future__ import annotations

import os

import pytest

import dojo_kernel
from dojo_kernel.errors import ConfigError
from dojo_kernel.pool import WarmPool

import tiny_competition as tiny
from waiting import wait_until

pytestmark = pytest.mark.timeout(240)


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
