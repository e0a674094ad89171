"""CPU shares and GPU slots (no GPU needed), and how a slot becomes an episode's limits."""

from __future__ import annotations

import pytest

from dojo_kernel.batch.slots import Slot, episode_settings, plan_slots
from dojo_kernel.errors import ConfigError
from dojo_kernel.limits import Limits


def test_cpu_shares_split_the_cores_between_parallel_episodes():
    assert plan_slots(parallel=2, cpu_count=8) == [Slot(cpus=4)] * 2
    assert plan_slots(parallel=4, cpu_count=2) == [Slot(cpus=1)] * 4  # never below one CPU
    assert plan_slots(parallel=3, cpus=1, cpu_count=64) == [Slot(cpus=1)] * 3


def test_gpu_slots_spread_episodes_over_gpus_with_a_memory_share_each():
    slots = plan_slots(parallel=None, gpus=[0, 1], per_gpu=2, gpu_memory_gb=16, cpu_count=8)
    assert [s.gpu_device for s in slots] == [0, 1, 0, 1]
    assert {s.gpu_memory_gb for s in slots} == {8.0}
    assert {s.cpus for s in slots} == {2}
    # fewer episodes than slots still use every GPU
    assert [s.gpu_device for s in plan_slots(parallel=2, gpus=[2, 5], per_gpu=3, gpu_memory_gb=24,
                                             cpu_count=8)] == [2, 5]


def test_gpu_slot_mistakes_are_explained():
    with pytest.raises(ConfigError, match="--parallel at most 2"):
        plan_slots(parallel=3, gpus=[0], per_gpu=2, gpu_memory_gb=16)
    with pytest.raises(ConfigError, match="--gpu-memory-gb"):
        plan_slots(parallel=1, gpus=[97], per_gpu=1)  # NVML has no GPU 97 (or no NVML at all)
    with pytest.raises(ConfigError, match="distinct GPU indices"):
        plan_slots(parallel=1, gpus=[0, 0], gpu_memory_gb=8)


def test_episode_settings_carry_the_slot_unless_the_grid_sets_a_limit():
    slot = Slot(cpus=2, gpu_device=1, gpu_memory_gb=8.0)
    assert episode_settings({"max_steps": 3, "memory_gb": 2}, slot) == {
        "max_steps": 3, "memory_gb": 2, "cpus": 2, "gpu_device": 1, "gpu_memory_gb": 8.0}
    assert episode_settings({"cpus": 1}, slot)["cpus"] == 1
    merged = episode_settings({"limits": Limits(memory_gb=1.0)}, slot)["limits"]
    assert isinstance(merged, Limits) and (merged.memory_gb, merged.gpu_device, merged.cpus) == (1.0, 1, 2)
    assert episode_settings({"limits": {"memory_gb": 1}}, slot)["limits"] == {
        "memory_gb": 1, "cpus": 2, "gpu_device": 1, "gpu_memory_gb": 8.0}
    with pytest.raises(ConfigError, match="gpu_device"):
        episode_settings({"gpu_device": 0}, slot)
