"""Two worked extensions of DojoEnv, registered rather than edited in.

1. `inspect_data`: an action that profiles a DataFrame living in the agent's kernel (shape,
   column types, missing values, a few rows) in a compact block, so the agent need not spend
   a code cell and its token-heavy output on it.
2. `first_valid`: a shaped reward that pays 1.0 for the episode's first valid submission and
   after that the gain in best position score (as the default `improvement` mode does).

Run it:  python examples/custom_extensions.py [competition]   (default: iris-species)
"""

from __future__ import annotations

import sys

import dojo_kernel
from dojo_kernel import ActionResult, EpisodeContext

# The profile is computed in the kernel: the DataFrame never leaves it, only the text does.
_PROFILE = """\
_dojo_df = globals().get({name!r})
if _dojo_df is None or not hasattr(_dojo_df, "dtypes"):
    print("expected a DataFrame named {name}, got " + ("no such variable" if _dojo_df is None
          else type(_dojo_df).__name__) + ". Load it first, e.g. {name} = pd.read_csv('input/train.csv')")
else:
    print(f"{name}: {{_dojo_df.shape[0]}} rows x {{_dojo_df.shape[1]}} columns")
    for _dojo_col in list(_dojo_df.columns)[:{max_columns}]:
        _dojo_s = _dojo_df[_dojo_col]
        print(f"  {{str(_dojo_col)[:30]:30}} {{str(_dojo_s.dtype):10}} missing={{int(_dojo_s.isna().sum())}}"
              f" unique={{int(_dojo_s.nunique())}}")
    if _dojo_df.shape[1] > {max_columns}:
        print(f"  ... {{_dojo_df.shape[1] - {max_columns}}} more columns")
    print(_dojo_df.head({rows}).to_string(max_cols=12, max_colwidth=20))
del _dojo_df
"""

INSPECT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the variable holding the DataFrame, e.g. train"},
        "rows": {"type": "integer", "description": "how many rows to show (default 3, at most 20)"},
    },
    "required": ["name"],
}


def inspect_data(ctx: EpisodeContext, name: str, rows: int = 3) -> ActionResult | str:
    """Show a compact profile of a DataFrame in the kernel: shape, types, missing values, first rows."""
    if not name.isidentifier():
        return f"expected a variable name such as train, got {name!r}"
    code = _PROFILE.format(name=name, max_columns=40, rows=max(0, min(int(rows), 20)))
    result = ctx.kernel.run(code)
    return ActionResult(feedback=result.text.strip() or f"(no output; the cell ended {result.status})", code=code)


def first_valid(grade, tracker) -> float:
    """1.0 for the first valid submission; later, the gain in best position score."""
    if not grade.valid:
        return 0.0
    if tracker.valid == 1:
        tracker.paid_position = grade.position or 0.0
        return 1.0
    before = getattr(tracker, "paid_position", 0.0)
    now = tracker.best_position or 0.0
    tracker.paid_position = max(before, now)
    return max(0.0, now - before)


def register() -> None:
    """Register both (safe to call twice)."""
    dojo_kernel.register_action("inspect_data", inspect_data, schema=INSPECT_SCHEMA, replace=True)
    dojo_kernel.register_reward("first_valid", first_valid, replace=True)


def main(competition: str = "iris-species") -> None:
    register()
    env = dojo_kernel.make(competition, reward_mode="first_valid", max_steps=5)
    try:
        obs, _ = env.reset(seed=0)
        print(obs["feedback"][-800:])
        env.step({"action": "execute_code", "code": "import pandas as pd\ntrain = pd.read_csv('input/train.csv')"})
        obs, *_ = env.step({"action": "inspect_data", "name": "train"})
        print(obs["feedback"])
    finally:
        env.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
