"""A GRPO-style rollout loop over the Ray rollout service, with a scripted policy standing in
for the model (no weights here): each iteration asks the service for a group of episodes per
prompt, computes each member's advantage within its group, and appends the trajectories to a
JSONL file in the fine-tuning export's chat layout, with the return and advantage as metadata.
A trainer would take its gradient step where the comment says.

    python examples/grpo_rollouts.py --competition penguin-species --prompts 2 --group-size 4
    python examples/grpo_rollouts.py --address 127.0.0.1:6379 ...   # an existing cluster

Needs the ray extra.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Any

EXPLORE = ("import os\n"
           "print(sorted(os.listdir('input')))\n"
           "import pandas as pd\n"
           "print(pd.read_csv('input/sample_submission.csv').head(3))\n")
SAMPLE = ("import pandas as pd\n"
          "pd.read_csv('input/sample_submission.csv').to_csv('working/submission.csv', index=False)\n")
MAJORITY = ("import os\nimport pandas as pd\n"
            "submission = pd.read_csv('input/sample_submission.csv')\n"
            "train = pd.read_csv('input/train.csv') if os.path.exists('input/train.csv') else None\n"
            "for column in submission.columns[1:]:\n"
            "    if train is not None and column in train:\n"
            "        submission[column] = train[column].mode()[0]\n"
            "submission.to_csv('working/submission.csv', index=False)\n")


def scripted_policy(messages: list[dict[str, Any]], metadata: dict[str, Any]) -> str:
    """A stand-in for the model: look at the data, then write one of three submissions at
    random (the sample as it is, the majority value of each target, or none), then stop. The
    group's members differ, so their advantages do."""
    turn = metadata.get("turn", 0)
    if turn == 0:
        return f"First I look at the files.\n\n```python\n{EXPLORE}```"
    if turn == 1:
        choice = random.choice(["sample", "majority", "nothing"])
        if choice == "nothing":
            return "I think the data needs more thought before I write anything."
        code = SAMPLE if choice == "sample" else MAJORITY
        return f"I write a {choice} submission.\n\n```python\n{code}```"
    return "That is my answer. SUBMIT FINAL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competition", default="penguin-species")
    parser.add_argument("--prompts", type=int, default=2, help="prompts (seeds) per iteration")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per prompt (the GRPO group)")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--max-kernels", type=int, default=8, help="kernels per node at once")
    parser.add_argument("--out", default="grpo_rollouts.jsonl")
    parser.add_argument("--runs", default="runs/grpo", help="run dirs, on each node")
    parser.add_argument("--address", default=None, help="a Ray cluster's address (default: start a local Ray)")
    args = parser.parse_args(argv)

    import ray

    from dojo_kernel.adapters.ray_service import NodeLimits, RolloutService
    from dojo_kernel.adapters.trajectories import chat_record, group_advantages, write_chat_jsonl

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=args.address, log_to_driver=False)
    try:
        settings = {"output_dir": str(Path(args.runs).resolve()), "warm_pool": 1}
        with RolloutService(node_limits=NodeLimits(max_kernels=args.max_kernels), settings=settings) as service:
            for iteration in range(args.iterations):
                prompts = [{"competition": args.competition, "seed": iteration * args.prompts + index, "max_turns": 4}
                           for index in range(args.prompts)]
                trajectories = service.rollout(prompts, scripted_policy, group_size=args.group_size)
                failed = [t for t in trajectories if t["error"]]
                records = []
                for group in range(len(prompts)):
                    members = [t for t in trajectories if t["group"] == group and not t["error"]]
                    advantages = group_advantages([t["return"] for t in members])
                    records += [chat_record(t, group=f"{iteration}-{group}", member=t["member"], iteration=iteration,
                                            advantage=advantage, node_id=t["node_id"])
                                for t, advantage in zip(members, advantages)]
                # A trainer's gradient step goes here: the records hold the token-level
                # inputs (messages) and each episode's advantage.
                written = write_chat_jsonl(records, args.out)
                returns = [t["return"] for t in trajectories if not t["error"]]
                print(f"iteration {iteration}: {written} trajectories to {args.out}, {len(failed)} failed, "
                      f"mean return {statistics.mean(returns) if returns else float('nan'):.3f}")
                for failure in failed[:3]:
                    print("  failed:", failure["error"], file=sys.stderr)
    finally:
        if started_ray:
            ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
