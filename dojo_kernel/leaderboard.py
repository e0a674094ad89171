"""Results across runs, as papers report them: one row per run, and per-agent totals.

Per agent: medal rate and above-median rate (MLE-bench's measures), the mean leaderboard
rank, the valid-submission rate, the mean HumanRank-style position (MLE-Dojo's: the share of
the leaderboard a final private score beats), and an Elo rating from head-to-head results
on shared competitions. Runs are read through `read_runs`, the one place that knows the run
dir's files. Totals count one run per episode (`counted_runs`): branches that
`DojoEnv.fork()` made inside an episode are listed per run (`branch_of`), not counted.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from .errors import ConfigError, expected
from .run_branch import BranchOf

ELO_BASE = 1500.0  # the mean rating; 400 points = 10:1 odds, as chess and MLE-Dojo's leaderboard scale it

RUN_COLUMNS = ("competition", "agent", "seed", "steps", "time_s", "tokens", "cost_usd", "final_score",
               "rank", "teams", "position", "medal", "above_median", "valid", "run", "branch_of", "counted")
AGENT_COLUMNS = ("agent", "runs", "competitions", "medal_rate", "gold", "silver", "bronze", "above_median_rate",
                 "valid_rate", "mean_rank", "mean_position", "elo", "tokens", "cost_usd")


@dataclass
class RunResult:
    """One finished (or running) episode, as its run dir records it."""

    path: Path
    competition: str | None = None
    agent: str | None = None
    seed: int | None = None
    steps: int = 0
    time_s: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    final_score: float | None = None
    rank: int | None = None
    teams: int | None = None
    position: float | None = None  # share of the private leaderboard beaten (HumanRank-style)
    medal: str | None = None
    above_median: bool | None = None
    valid: bool = False
    finished: bool = False
    higher_is_better: bool | None = None
    metric: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # the private leaderboard's medal lines
    timeline: list[dict[str, Any]] = field(default_factory=list)  # one dict per step
    error_categories: Counter = field(default_factory=Counter)
    branch: BranchOf | None = None  # a fork inside another run's episode: listed, never counted in totals

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def branch_of(self) -> str | None:
        """The parent run dir's name for a branch run ('?' where its files do not say); None for a root."""
        return None if self.branch is None else self.branch.parent or "?"

    def row(self, root: Path | None = None) -> dict[str, Any]:
        run = os.path.relpath(self.path, root) if root is not None else str(self.path)
        return {"competition": self.competition, "agent": self.agent, "seed": self.seed, "steps": self.steps,
                "time_s": self.time_s, "tokens": self.tokens, "cost_usd": self.cost_usd,
                "final_score": self.final_score, "rank": self.rank, "teams": self.teams, "position": self.position,
                "medal": self.medal, "above_median": self.above_median, "valid": self.valid, "run": run,
                "branch_of": self.branch_of}


def read_runs(roots: Sequence[str | os.PathLike[str]]) -> list[RunResult]:
    """Every run dir under `roots`, read. A root that is not a folder is a ConfigError."""
    from .report import find_runs  # the run-dir finder (it decides what counts as a run dir)

    if not roots:
        raise ConfigError(expected("at least one RUNS_DIR", "none", "e.g. dojo leaderboard runs"))
    results = []
    for root in roots:
        results.extend(read_run(path) for path in find_runs(root))
    if not results:
        raise ConfigError(expected(f"run dirs (with rewards.jsonl) under {', '.join(map(str, roots))}", "none",
                                   "run episodes first: dojo run COMPETITION --out DIR"))
    return results


def read_run(path: Path) -> RunResult:
    """One run dir: summary.json for the final numbers, rewards.jsonl for the steps."""
    from .report import load_run

    record = load_run(path)  # tolerant of torn lines and missing summaries
    summary = record.summary
    result = RunResult(path=Path(path), competition=record.competition, agent=record.agent,
                       steps=len(record.steps), finished=bool(summary), branch=record.branch)
    result.seed = _int(summary.get("seed"))
    result.time_s = _number(summary.get("elapsed_s"))
    usage = _dict(summary.get("usage"))
    result.tokens = _int(usage.get("total_tokens"))
    result.cost_usd = _number(usage.get("cost_usd"))
    result.final_score = _number(summary.get("final_score"))
    result.position = _number(summary.get("final_position"))
    result.medal = summary.get("medal") if summary.get("medal") in ("gold", "silver", "bronze") else None
    result.above_median = summary.get("above_median") if isinstance(summary.get("above_median"), bool) else None
    result.valid = summary.get("final_valid") is True
    result.higher_is_better = summary.get("higher_is_better") if isinstance(summary.get("higher_is_better"), bool) else None
    result.metric = str(summary["metric"]) if summary.get("metric") else None
    grade = _dict(summary.get("final_grade"))
    result.rank, result.teams = _int(grade.get("rank")), _int(grade.get("teams"))
    thresholds = _dict(_dict(grade.get("details")).get("thresholds"))
    result.thresholds = {key: value for key, value in thresholds.items()
                         if key in ("gold", "silver", "bronze", "median") and _number(value) is not None}
    result.timeline = [_timeline_entry(entry) for entry in _entries(path)]
    for entry in result.timeline:
        if entry["error_category"]:
            result.error_categories[entry["error_category"]] += 1
    return result


def _entries(path: Path) -> list[dict[str, Any]]:
    from .trajectory import read_rewards

    try:
        return read_rewards(path)
    except (OSError, UnicodeDecodeError):
        return []


def _timeline_entry(entry: dict[str, Any]) -> dict[str, Any]:
    error = entry.get("error")
    category = error.get("category") if isinstance(error, dict) else None
    return {"step": _int(entry.get("step")), "action": str(entry.get("action") or "?"),
            "status": str(entry.get("status") or "-"), "cell_s": _number(entry.get("duration_s")),
            "peak_rss_bytes": _int(entry.get("peak_rss_bytes")), "reward": _number(entry.get("reward")),
            "score": _step_score(entry), "error_category": str(category) if category else None}


def _step_score(entry: dict[str, Any]) -> float | None:
    score = _number(entry.get("score"))
    grade = entry.get("grade")
    if score is None and isinstance(grade, dict) and grade.get("valid", True):
        score = _number(grade.get("score"))
    return score


# -- per-agent totals ----------------------------------------------------------------------------

def counted_runs(runs: Iterable[RunResult]) -> list[RunResult]:
    """The runs per-agent totals count: one per episode. A branch (a fork inside an episode;
    a tree search makes dozens) is part of its root's episode and is not counted, except the
    branch a tree search chose as its result (tree.json), which stands for its root."""
    runs = list(runs)
    by_name = {(run.path.parent, run.name): run for run in runs}
    stands_for: dict[Path, RunResult] = {}  # root path (the branch's own where its root is absent) -> branch
    for run in sorted(runs, key=lambda r: str(r.path)):
        if run.branch is not None and run.branch.chosen:
            root = _root_of(run, by_name)
            stands_for.setdefault(root.path if root is not None else run.path, run)
    chosen = {id(run) for run in stands_for.values()}
    return [run for run in runs if id(run) in chosen or (run.branch is None and run.path not in stands_for)]


def run_rows(runs: Sequence[RunResult], root: Path | None = None) -> list[dict[str, Any]]:
    """The per-run table (RUN_COLUMNS): every run, branches with `branch_of`, and whether the
    per-agent totals count it."""
    counted = {id(run) for run in counted_runs(runs)}
    return [{**run.row(root), "counted": id(run) in counted} for run in runs]


def uncounted_note(runs: Sequence[RunResult]) -> str | None:
    """One sentence on the runs listed but not counted in the totals; None where every run counts."""
    counted = {id(run) for run in counted_runs(runs)}
    branches = sum(1 for run in runs if run.branch is not None and id(run) not in counted)
    roots = sum(1 for run in runs if run.branch is None and id(run) not in counted)
    if not branches and not roots:
        return None
    note = f"{branches} branch run(s) (forks inside an episode) are listed, not counted in the agent totals"
    if roots:
        note += (f"; {roots} root run(s) are counted through the branch their tree search chose "
                 "(the episode's result)")
    return note + "."


def _root_of(run: RunResult, by_name: dict[tuple[Path, str], RunResult]) -> RunResult | None:
    """The root run of a branch's episode, by parent names in the same folder; None where a
    parent is missing or the names form a cycle (the files are untrusted)."""
    seen: set[Path] = set()
    while run.branch is not None:
        if run.path in seen:
            return None
        seen.add(run.path)
        parent = by_name.get((run.path.parent, run.branch.parent or ""))
        if parent is None:
            return None
        run = parent
    return run


def agent_table(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per agent (sorted by Elo, best first): the totals papers report, one run per
    episode (see counted_runs); tokens and cost are summed over every run, branches too (each
    branch records the model calls it made, once)."""
    ratings = elo_ratings(runs)
    by_agent: dict[str, list[RunResult]] = {}
    for run in counted_runs(runs):
        by_agent.setdefault(run.agent or "?", []).append(run)
    usage: dict[str, list[RunResult]] = {}
    for run in runs:
        usage.setdefault(run.agent or "?", []).append(run)
    rows = []
    for agent, group in by_agent.items():
        finished = [run for run in group if run.finished] or group
        medals = Counter(run.medal for run in finished if run.medal)
        rows.append({
            "agent": agent, "runs": len(group), "competitions": len({run.competition for run in group}),
            "medal_rate": sum(medals.values()) / len(finished),
            "gold": medals["gold"], "silver": medals["silver"], "bronze": medals["bronze"],
            "above_median_rate": sum(1 for run in finished if run.above_median) / len(finished),
            "valid_rate": sum(1 for run in finished if run.valid) / len(finished),
            "mean_rank": _mean(run.rank for run in finished),
            # HumanRank-style: a run without a valid final submission beats nobody
            "mean_position": _mean(run.position if run.position is not None else 0.0 for run in finished),
            "elo": ratings.get(agent),
            "tokens": sum(run.tokens or 0 for run in usage[agent]) or None,
            "cost_usd": sum(run.cost_usd or 0.0 for run in usage[agent]) or None,
        })
    rows.sort(key=lambda row: (-(row["elo"] or 0.0), row["agent"]))
    return rows


def head_to_head(runs: Sequence[RunResult]) -> list[tuple[str, str, float]]:
    """(agent a, agent b, a's result: 1 win, 0.5 draw, 0 loss) for every pair of finished runs of
    different agents on the same competition (and the same seed where both have one). A run
    without a valid final submission loses to one with; two without draw."""
    groups: dict[tuple[Any, ...], list[RunResult]] = {}
    for run in counted_runs(runs):  # one game per episode, never one per branch
        if run.finished and run.agent:
            groups.setdefault((run.competition,), []).append(run)
    games = []
    for (_competition,), group in sorted(groups.items(), key=lambda item: str(item[0])):
        for first, second in combinations(sorted(group, key=lambda r: (r.agent or "", str(r.path))), 2):
            if first.agent == second.agent:
                continue
            if first.seed is not None and second.seed is not None and first.seed != second.seed:
                continue
            games.append((first.agent or "?", second.agent or "?", _outcome(first, second)))
    return games


def _outcome(first: RunResult, second: RunResult) -> float:
    a = first.final_score if first.valid else None
    b = second.final_score if second.valid else None
    if a is None or b is None:
        return 0.5 if a is None and b is None else (1.0 if b is None else 0.0)
    if a == b:
        return 0.5
    lower_is_better = first.higher_is_better is False
    return 1.0 if (a < b) == lower_is_better else 0.0


def elo_ratings(runs: Sequence[RunResult], iterations: int = 200) -> dict[str, float]:
    """Elo ratings fitted to every head-to-head game at once (a Bradley-Terry fit, so the order
    of the games does not matter), scaled so the agents' mean is 1500. An agent with no game
    against another has no rating. Draws count half a win each way; a small prior (one
    draw against the mean) keeps an agent that won or lost every game finite."""
    games = head_to_head(runs)
    agents = sorted({agent for game in games for agent in game[:2]})
    if len(agents) < 2:
        return {}
    wins = {agent: 0.5 for agent in agents}  # the prior's half win
    pairs: Counter = Counter()
    for a, b, result in games:
        wins[a] += result
        wins[b] += 1.0 - result
        pairs[(a, b)] += 1
        pairs[(b, a)] += 1
    strength = {agent: 1.0 for agent in agents}
    for _ in range(iterations):  # minorize-maximize updates (Hunter, 2004)
        updated = {}
        for agent in agents:
            denominator = 1.0 / (strength[agent] + 1.0)  # the prior's game against strength 1
            denominator += sum(count / (strength[agent] + strength[other])
                               for (one, other), count in pairs.items() if one == agent)
            updated[agent] = wins[agent] / denominator
        scale = math.exp(sum(math.log(value) for value in updated.values()) / len(updated))
        strength = {agent: value / scale for agent, value in updated.items()}
    return {agent: ELO_BASE + 400.0 * math.log10(strength[agent]) for agent in agents}


# -- output --------------------------------------------------------------------------------------

def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text; a cell that a spreadsheet would read as a formula is written as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(row.get(key)) for key in columns})
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def text_cell(column: str, value: Any) -> str:
    """A value as a person reads it in a table."""
    if value is None:
        return "-"
    if column.endswith("_rate") or column == "mean_position" or column == "position":
        return f"{value:.1%}"
    if column == "elo":
        return f"{value:.0f}"
    if column == "cost_usd":
        return f"${value:.4f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _mean(values: Iterable[Any]) -> float | None:
    numbers = [value for value in values if _number(value) is not None]
    return sum(numbers) / len(numbers) if numbers else None
