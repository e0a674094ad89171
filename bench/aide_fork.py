"""The aide agent with and without fork mode: the same scripted model, the same AIDE search,
the same best score; the wall time of each.

    nice -n 10 python bench/aide_fork.py [--competition flight-delays] [--repeats 3] [--out bench/results/aide_fork.md]

The scripted model (a ChatServer on 127.0.0.1, tests/chat_server.py) answers AIDE's prompts as a
model would, on the built-in flight-delays (14,000 flights to join with hourly weather and
planes): a weak draft (logistic regression on the flight columns), a strong draft that joins
the files and fits gradient boosting, then fails writing its submission (a NameError), a debug,
and two improvements of the best node (a random forest blended in; other blend weights). AIDE's
settings make the search deterministic: num_drafts=2, debug_prob=1.0, steps=5.

Without fork (AIDE's way) every node is a whole script run from scratch in a fresh kernel:
each reloads and joins the data and refits the boosting model. With fork=true the debug and
improve nodes run in forks of their parents' kernels, and the model, told so by the prompt,
writes only the new code: the debug writes the submission from the fitted model, the first
improvement fits only the forest, the second only blends. The fork run then rebuilds the best
node from scratch once in the episode's own kernel for the final submission (the no-fork run's
best node is its last, already there); "search" is the time until that final part starts.
Reported: median wall time of each mode over --repeats episodes (alternated), the ratio, and
the best and final scores, which must be equal.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import dojo_kernel  # noqa: E402
from chat_server import ChatServer, completion  # noqa: E402
from dojo_kernel.agents import get_agent, run_episode  # noqa: E402
from dojo_kernel.agents.aide_search import FORK_GUIDELINE  # noqa: E402

LOAD = '''import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
weather = pd.read_csv("input/weather.csv").drop(columns=["year", "month", "day", "hour"])
planes = pd.read_csv("input/planes.csv").rename(columns={"year": "plane_year"})


def features(frame):
    frame = frame.merge(weather, on=["origin", "time_hour"], how="left")
    frame = frame.merge(planes[["tailnum", "plane_year", "seats", "engines"]], on="tailnum", how="left")
    out = frame[["month", "day", "hour", "minute", "distance", "sched_dep_time", "sched_arr_time", "temp", "dewp",
                 "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib", "plane_year",
                 "seats", "engines"]].copy()
    for column in ("carrier", "origin", "dest"):
        out[column] = frame[column].astype("category").cat.codes
    return out.fillna(-1)


X, X_test, y = features(train), features(test), train["delayed"]
'''
BOOST = "model = GradientBoostingClassifier(n_estimators=80, max_depth=3, random_state=0).fit(X, y)\n"
FOREST = ("forest = RandomForestClassifier(n_estimators=60, max_depth=10, min_samples_leaf=5, n_jobs=1, "
          "random_state=0).fit(X, y)\n")
PREDICT = "proba = model.predict_proba(X_test)[:, 1]\n"
BLEND = ("proba = {w} * model.predict_proba(X_test)[:, 1] + {v} * forest.predict_proba(X_test)[:, 1]\n")
WRITE = "pd.DataFrame({'id': test['id'], 'delayed': proba}).to_csv('working/submission.csv', index=False)\n"
BUGGY_WRITE = "pd.DataFrame({'id': test['id'], 'delayed': probas}).to_csv('working/submission.csv', index=False)\n"
SIMPLE = ("import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
          "train = pd.read_csv('input/train.csv')\ntest = pd.read_csv('input/test.csv')\n"
          "cols = ['month', 'hour', 'distance', 'sched_dep_time']\n"
          "simple = LogisticRegression(max_iter=500).fit(train[cols], train['delayed'])\n"
          "proba = simple.predict_proba(test[cols])[:, 1]\n" + WRITE)
ANSWERS = {
    "draft_0": ("A logistic regression on the flight's own columns.", SIMPLE),
    "draft_1": ("Join weather and planes, fit gradient boosting.", LOAD + BOOST + PREDICT + BUGGY_WRITE),
    ("debug", False): ("Write the predictions under the name they have.", LOAD + BOOST + PREDICT + WRITE),
    ("debug", True): ("The fitted model is in memory: predict and write.", PREDICT + WRITE),
    ("improve_0", False): ("Blend a random forest in.", LOAD + BOOST + FOREST + BLEND.format(w=0.5, v=0.5) + WRITE),
    ("improve_0", True): ("Fit only the forest and blend it in.", FOREST + BLEND.format(w=0.5, v=0.5) + WRITE),
    ("improve_1", False): ("Weigh the forest more.", LOAD + BOOST + FOREST + BLEND.format(w=0.3, v=0.7) + WRITE),
    ("improve_1", True): ("Reweigh the two fitted models.", BLEND.format(w=0.3, v=0.7) + WRITE),
}


def scripted_model(log: list[str]):
    def answer(body):
        prompt = body["messages"][-1]["content"]
        in_fork = FORK_GUIDELINE in prompt
        if "Previous (buggy) implementation" in prompt:
            key = ("debug", in_fork)
        elif "Previous solution" in prompt:
            key = (f"improve_{sum(k.startswith('improve') for k in log)}", in_fork)
        else:
            key = f"draft_{sum(k.startswith('draft') for k in log)}"
        log.append(key if isinstance(key, str) else key[0])
        plan, code = ANSWERS[key]
        return completion(f"{plan}\n\n```python\n{code}```\n")
    return answer


def episode(competition: str, fork: bool, out: Path, isolation: str) -> dict:
    log: list[str] = []
    final_started: list[float] = []

    def on_action(_step: int, action) -> None:
        message = str(action.get("message", "")) if isinstance(action, dict) else ""
        if not final_started and message.startswith(("AIDE: the best node", "AIDE's best node")):
            final_started.append(time.monotonic())

    with ChatServer(scripted_model(log)) as server:
        agent = get_agent("aide", model="scripted", base_url=server.base_url, api_key="none", fork=fork, steps=5,
                          num_drafts=2, debug_prob=1.0, seed=0, data_preview=False)
        env = dojo_kernel.make(competition, output_dir=out, warm_pool=0, agent="aide", isolation=isolation,
                               cell_timeout_s=1200)
        started = time.monotonic()
        summary = run_episode(env, agent, seed=0, on_action=on_action)
        wall = time.monotonic() - started
    stats = summary["agent_stats"]
    return {"fork": fork, "wall_s": wall, "search_s": (final_started[0] - started) if final_started else wall,
            "best_score": summary["best_score"], "final_score": summary["final_score"], "log": log,
            "steps": summary["steps"], "in_forks": stats["nodes_in_forks"], "fresh": stats["nodes_fresh"],
            "metrics": [None if n.metric.value is None else round(n.metric.value, 5) for n in agent.journal.nodes]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition", default="flight-delays")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "aide_fork.md")
    args = parser.parse_args()
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for fork in (False, True) if repeat % 2 == 0 else (True, False):  # alternate: load drifts
                run = episode(args.competition, fork, Path(scratch) / f"{repeat}-{int(fork)}", args.isolation)
                runs.append(run)
                print(f"fork={fork}: {run['wall_s']:.1f}s (search {run['search_s']:.1f}s), best {run['best_score']}, "
                      f"final {run['final_score']}, nodes {run['log']} {run['metrics']}", flush=True)
    table = []
    medians = {}
    for fork in (False, True):
        mine = [run for run in runs if run["fork"] is fork]
        medians[fork] = statistics.median(run["wall_s"] for run in mine)
        search = statistics.median(run["search_s"] for run in mine)
        best = sorted({run["best_score"] for run in mine})
        final = sorted({run["final_score"] for run in mine})
        table.append(f"| {'fork=true' if fork else 'fork=false (AIDE)'} | {medians[fork]:.1f} | {search:.1f} | "
                     f"{', '.join(f'{b:.5f}' for b in best)} | {', '.join(f'{f:.5f}' for f in final)} | "
                     f"{mine[0]['steps']} | {mine[0]['fresh']} / {mine[0]['in_forks']} |")
    same = ({run["best_score"] for run in runs if run["fork"]} == {run["best_score"] for run in runs if not run["fork"]})
    lines = [
        f"# aide with and without fork mode ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`nice -n 10 python bench/aide_fork.py --competition {args.competition} --repeats {args.repeats}` on "
        f"{platform.node()} ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end), isolation {args.isolation}.",
        f"Nodes, both modes: {runs[0]['log']}; node metrics {runs[0]['metrics']}.",
        "",
        "| mode | wall s (median) | search s (median) | best public score | final private score | env steps | nodes fresh / in forks |",
        "|---|---|---|---|---|---|---|",
        *table,
        "",
        f"Ratio fork / no fork (wall, medians): **{medians[True] / medians[False]:.2f}**; same best score: {same}.",
        "",
        "All runs: " + "; ".join(f"{'fork' if r['fork'] else 'fresh'} {r['wall_s']:.1f}s" for r in runs),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
