"""The grid: which episodes a batch runs, from arguments or a grid file."""

from __future__ import annotations

import pytest

from dojo_kernel.batch.grid import build_grid, load_grid
from dojo_kernel.errors import ConfigError


def test_grid_is_every_competition_agent_and_seed_with_deterministic_run_dirs():
    specs = build_grid(["alpha", "beta"], ["baseline", {"name": "pkg.mod:Agent", "options": {"k": 1}}], 2,
                       {"max_steps": 3}, agent_options={"k": 0, "t": 2})
    assert len(specs) == 8
    assert {s.key for s in specs} >= {"alpha/baseline/seed-0", "beta/baseline/seed-1", "alpha/pkg.mod_Agent/seed-1"}
    custom = next(s for s in specs if s.agent == "pkg.mod:Agent")
    assert custom.agent_options == {"k": 1, "t": 2}  # the agent's own option wins over the common one
    assert all(s.settings == {"max_steps": 3} for s in specs)


@pytest.mark.parametrize("competitions, agents, seeds, fragment", [
    ([], ["baseline"], 1, "competition names"),
    (["a"], ["baseline"], 0, "at least one seed"),
    (["a"], ["baseline"], [1, 1], "each episode once"),
    (["a"], [{"agent": "x"}], 1, "agent name or a table"),
])
def test_bad_grids_say_what_was_expected(competitions, agents, seeds, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_grid(competitions, agents, seeds)


def test_grid_file_gives_episodes_and_run_options(tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text('competitions = ["a", "b"]\nagents = ["baseline"]\nseeds = [3, 7]\nparallel = 2\n'
                         '[settings]\nmax_steps = 4\nmemory_gb = 1.5\n')
    grid = load_grid(grid_file)
    assert [s.key for s in grid.specs()] == ["a/baseline/seed-3", "a/baseline/seed-7",
                                             "b/baseline/seed-3", "b/baseline/seed-7"]
    assert grid.run_options == {"parallel": 2}
    assert grid.specs()[0].settings == {"max_steps": 4, "memory_gb": 1.5}
    grid_file.write_text('competitions = ["a"]\nparalel = 2\n')
    with pytest.raises(ConfigError, match="paralel"):
        load_grid(grid_file)
