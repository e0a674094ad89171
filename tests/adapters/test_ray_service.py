"""The Ray rollout service on a local two-node Ray cluster (a head and a second node started
by the test on this machine, ended by PID): trajectories come back from both nodes, within
each node's limits."""

from __future__ import annotations

import os
import sys

import pytest

ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'dojo-kernel[ray]'")

import tiny_competition as tiny  # noqa: E402
from adapters.policies import async_constant_then_final, perfect_then_final  # noqa: E402
from adapters.ray_cluster import two_node_cluster  # noqa: E402
from dojo_kernel.adapters.ray_service import NodeLimits, RolloutService  # noqa: E402
from dojo_kernel.errors import ConfigError  # noqa: E402
from waiting import wait_until  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    data = tmp_path_factory.mktemp("dojo-data")
    tiny.build(data)  # found by name under $DOJO_DATA, which the nodes' workers inherit
    paths = os.pathsep.join(p for p in sys.path if os.path.isdir(p))
    worker_env = {"DOJO_DATA": str(data), "PYTHONPATH": paths}
    with two_node_cluster(env=worker_env) as address:
        ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": worker_env})
        try:
            wait_until(lambda: sum(node["Alive"] for node in ray.nodes()) == 2, timeout=90,
                       message="both Ray nodes alive")
            yield address
        finally:
            ray.shutdown()


def settings(tmp_path) -> dict:
    return {"output_dir": str(tmp_path / "runs"), "warm_pool": 0,
            "isolation": os.environ.get("DOJO_TEST_ISOLATION", "auto")}


def test_a_grouped_batch_runs_on_both_nodes_within_their_limits(cluster, tmp_path):
    limits = NodeLimits(max_kernels=4, memory_gb=4, kernel_memory_gb=2)  # memory allows 2 episodes a node
    with RolloutService(node_limits=limits, settings=settings(tmp_path)) as service:
        assert len(service.node_ids) == 2 and [s["slots"] for s in service.slots] == [2, 2]
        prompts = [{"competition": tiny.NAME, "seed": 0, "max_turns": 3},
                   {"competition": tiny.NAME, "seed": 1, "max_turns": 3},
                   {"competition": "no-such-competition"}]
        trajectories = service.rollout(prompts, perfect_then_final, group_size=2)
        assert [(t["group"], t["member"]) for t in trajectories] == [(g, m) for g in range(3) for m in range(2)]
        good, bad = trajectories[:4], trajectories[4:]
        for trajectory in good:
            assert trajectory["error"] is None, trajectory.get("details")
            assert [m["role"] for m in trajectory["messages"]] == ["system", "user"] + ["assistant", "user"] * 2
            assert trajectory["return"] > 0.9 and trajectory["final_grade"]["valid"] is True
            assert len(trajectory["rewards"]) == 2 and trajectory["turns"][-1]["metadata"]["end_reason"] == "final_submit"
        assert {t["node_id"] for t in good} == set(service.node_ids)  # both nodes played
        assert all("CompetitionNotFound" in t["error"] for t in bad)  # a failed episode, not a failed batch

        # Async policies work too, and the service keeps going after a failure.
        again = service.rollout([{"competition": tiny.NAME, "max_turns": 2}], async_constant_then_final,
                                group_size=2)
        assert all(t["error"] is None and 0 < t["return"] < 0.5 for t in again)

        stats = service.stats()
        assert sum(s["episodes"] for s in stats) == 8
        assert all(s["peak_running"] <= s["slots"] == 2 for s in stats)
        assert sum(s["envs"] for s in stats) <= 4  # envs (and their kernels) are reused between episodes


def test_limits_that_fit_no_episode_are_refused():
    with pytest.raises(ConfigError, match="fit one episode"):
        NodeLimits(max_kernels=1, memory_gb=1, kernel_memory_gb=2).episodes(warm_pool=0)
    with pytest.raises(ConfigError, match="fit one episode"):
        NodeLimits(max_kernels=1).episodes(warm_pool=1)
    assert NodeLimits(max_kernels=8, memory_gb=16, kernel_memory_gb=2).episodes(warm_pool=1) == 4


def test_the_grpo_example_writes_grouped_trajectories_in_the_export_layout(cluster, tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    from dojo_kernel.agents.llm_data import export_chat_jsonl

    path = Path(__file__).resolve().parents[2] / "examples" / "grpo_rollouts.py"
    spec = importlib.util.spec_from_file_location("grpo_rollouts", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "grpo.jsonl"
    assert example.main(["--competition", tiny.NAME, "--prompts", "1", "--group-size", "3", "--max-kernels", "4",
                         "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and {r["metadata"]["group"] for r in records} == {"0-0"}
    advantages = [r["metadata"]["advantage"] for r in records]
    assert abs(sum(advantages)) < 1e-6  # centred within the group

    # The same layout as the fine-tuning export of the same episode's notebook.
    record = records[0]
    exported = tmp_path / "export.jsonl"
    export_chat_jsonl([record["metadata"]["run_dir"]], exported)
    reference = json.loads(exported.read_text())
    assert set(record) == set(reference) == {"messages", "metadata"}
    assert record["messages"][:2] == reference["messages"][:2]  # the system prompt and the task
    roles = [m["role"] for m in record["messages"]]
    assert roles[-1] == "assistant" and roles == ["system", "user"] + ["assistant", "user"] * (len(roles) // 2 - 1) \
        + ["assistant"]
