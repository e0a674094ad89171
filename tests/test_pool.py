"""pool.py: the warm pool hands out ready workspaces (a run dir with a real kernel) and
ends every kernel it still holds when closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dojo_kernel
import tiny_competition as tiny
from conftest import assert_nothing_left
from dojo_kernel.errors import ConfigError
from dojo_kernel.kernel import default_launch_spec
from dojo_kernel.limits import Limits
from dojo_kernel.pool import WarmPool
from dojo_kernel.rundir import RunDir, find_run_dirs, new_run_dir, open_workspace, read_rewards
from dojo_kernel.trajectory import load_trajectory, step_cells
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


# ------------------------------------------------------------------ warm workspaces: the record prepared ahead

def test_warm_workspaces_come_with_their_record_prepared_and_serve_one_episode_each(competition, tmp_path):
    """The pool's thread writes kernel.json and a valid notebook (no reward log yet) into each
    run dir it prepares; reset() hands each to one episode only; close() removes the unused."""
    output = tmp_path / "runs"
    env = dojo_kernel.make(competition.name, output_dir=output, warm_pool=1,
                           isolation=os.environ.get("DOJO_TEST_ISOLATION", "auto"))
    episodes = []
    try:
        env.reset()  # the first episode takes no step: its run dir goes with it
        for number in range(2):
            wait_until(lambda: env._pool.ready == 1, timeout=60, message="the warm kernel to start")
            waiting = env._pool._pending[0].result()
            layout = RunDir(waiting.run_dir)
            assert layout.read_kernel_pointer()["pid"] == waiting.session.pid
            assert load_trajectory(layout.path).metadata["dojo"]["started_at"] is None  # valid, not begun
            assert not layout.rewards.exists() and waiting.run_dir not in episodes
            _, info = env.reset()
            assert info["warm_kernel"] is True and info["run_dir"] == str(waiting.run_dir)
            assert env._episode.recorder is waiting.recorder
            obs, *_ = env.step(f"print('episode {number}')")
            assert f"episode {number}" in obs["feedback"]
            episodes.append(waiting.run_dir)
    finally:
        env.close()
    assert sorted(output.iterdir()) == sorted(episodes)  # no prepared run dir is left
    for run_dir in episodes:
        notebook = load_trajectory(run_dir)
        assert notebook.metadata["dojo"]["run_dir"] == str(run_dir) and notebook.metadata["dojo"]["started_at"]
        assert [cell.metadata["dojo"]["step"] for cell in step_cells(notebook)] == [1]
        assert [entry["step"] for entry in read_rewards(run_dir)] == [1]


CRASH_AFTER_A_WARM_RESET = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    import dojo_kernel
    from dojo_kernel.competition import register
    competition = register(Path(sys.argv[1]))  # into this process's registry too
    env = dojo_kernel.make(competition, output_dir=sys.argv[2], warm_pool=1, isolation=sys.argv[3])
    env.reset()
    env.step("print('one step')")
    deadline = time.monotonic() + 60
    while env._pool.ready < 1 and time.monotonic() < deadline:  # the next workspace, prepared
        time.sleep(0.05)
    _, info = env.reset()
    print(info["warm_kernel"], info["run_dir"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_crash_right_after_a_warm_reset_leaves_a_valid_notebook(competition, tmp_path):
    output = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-c", CRASH_AFTER_A_WARM_RESET, str(Path(competition.public_dir).parent), str(output),
                           os.environ.get("DOJO_TEST_ISOLATION", "auto")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=150)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    warm, run_dir = done.stdout.split()
    assert warm == "True"
    assert_nothing_left(tmp_path, within_s=10)  # the kernels die with the driver
    crashed = Path(run_dir)
    runs = find_run_dirs(output)  # the prepared, never begun ones are not runs
    assert len(runs) == 2 and crashed in runs
    first = next(run for run in runs if run != crashed)
    notebook = load_trajectory(crashed)  # valid: the prepared notebook, fsynced in the pool's thread
    assert step_cells(notebook) == [] and (crashed / "rewards.jsonl").read_bytes() == b""
    assert [cell.metadata["dojo"]["step"] for cell in step_cells(load_trajectory(first))] == [1]
    for other in set(output.iterdir()) - {first, crashed}:  # the next warm workspace, prepared or starting
        assert not (other / "rewards.jsonl").exists()
        if (other / "trajectory.ipynb").exists():
            load_trajectory(other)
