"""`dojo report`: a table of runs, a reward and score curve per run (PNG), the episode trees
of forked runs (tree.json, see episode_tree), and one HTML page.

A run is a directory the env made (it holds the env's marker and a `rewards.jsonl`); its
`summary.json` and `trajectory.ipynb`, where present, add the final numbers and the link.
Everything in a run dir is untrusted (agent code wrote beside it): a run whose files do not
read as the env writes them is skipped with a warning, never allowed to stop the report.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, expected
from .metrics.registry import is_better
from .run_branch import BranchOf, branch_of
from .rundir import REWARDS_FILE, RunDir, find_run_dirs, read_run

if TYPE_CHECKING:
    from .episode_tree import EpisodeTree

REPORT_FILE = "report.html"


@dataclass
class RunRecord:
    """One episode, read back from its run dir."""

    path: Path
    name: str
    competition: str | None = None
    agent: str | None = None
    steps: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)  # per step; None where nothing was graded
    statuses: list[str | None] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    branch: BranchOf | None = None  # a fork inside another run's episode (see run_branch); None for a root

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def best_score(self) -> float | None:
        value = _number(self.summary.get("best_score"))
        if value is not None:
            return value
        graded = [score for score in self.scores if score is not None]
        if not graded:
            return None
        return _best_of(graded, self.summary.get("higher_is_better"))

    @property
    def final_score(self) -> float | None:
        return _number(self.summary.get("final_score"))

    @property
    def notebook(self) -> Path | None:
        notebook = RunDir(self.path).notebook
        return notebook if notebook.exists() else None

    @property
    def ended(self) -> str:
        """How the episode ended, or 'running' where no summary.json exists yet."""
        if not self.summary:
            return "running"
        return str(self.summary.get("end_reason") or self.summary.get("stopped_by")
                   or self.summary.get("reason") or "done")


def _best_of(scores: list[float], higher_is_better: bool | None) -> float:
    best = scores[0]
    for score in scores[1:]:
        if is_better(score, best, higher_is_better):
            best = score
    return best


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(float(value)) else float(value)


def _score_of(entry: dict[str, Any]) -> float | None:
    """The step's graded score: a top-level 'score', else one inside a 'grade' object."""
    score = _number(entry.get("score"))
    grade = entry.get("grade")
    if score is None and isinstance(grade, dict) and grade.get("valid", True):
        score = _number(grade.get("score"))
    return score


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def load_run(run_dir: str | os.PathLike[str]) -> RunRecord:
    """Read one run dir. Lines of rewards.jsonl that are cut short (a crash mid-write) are
    skipped; fields of the wrong type read as missing. Raises ConfigError where the files
    cannot be read at all (not UTF-8, unreadable)."""
    try:
        run = read_run(run_dir)
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise ConfigError(expected(f"a readable {REWARDS_FILE} in {run_dir}", f"{type(error).__name__}: {error}")) from None
    record = RunRecord(path=run.path, name=run.path.name, summary=run.summary, branch=branch_of(run))
    for number, entry in run.lines:
        step = entry.get("step")
        record.steps.append(step if isinstance(step, int) and not isinstance(step, bool) else number)
        record.rewards.append(_number(entry.get("reward")) or 0.0)
        record.scores.append(_score_of(entry))
        record.statuses.append(_text(entry.get("status")))
        record.competition = record.competition or _text(entry.get("competition"))
        record.agent = record.agent or _text(entry.get("agent"))
    record.competition = _text(record.summary.get("competition")) or record.competition
    record.agent = _text(record.summary.get("agent")) or record.agent
    if not isinstance(record.summary.get("higher_is_better"), (bool, type(None))):
        record.summary = {**record.summary, "higher_is_better": None}
    return record


def load_runs(runs: list[Path]) -> list[RunRecord]:
    """`load_run` of each run; one that cannot be read is skipped with a warning."""
    records = []
    for run in runs:
        try:
            records.append(load_run(run))
        except Exception as error:  # untrusted files: whatever they hold, the other runs are reported
            warnings.warn(f"dojo-kernel: skipped the run {run}: {type(error).__name__}: {error}", stacklevel=2)
    return records


def find_runs(runs_dir: str | os.PathLike[str]) -> list[Path]:
    """Run dirs under `runs_dir` (itself included), sorted by path."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise ConfigError(expected("a directory of runs", str(root), "pass the --out folder of `dojo run` or `dojo batch`"))
    return find_run_dirs(root)


def load_trees(runs_root: Path, runs: list[Path]) -> list[EpisodeTree]:
    """The episode trees (tree.json) beside the runs; one that cannot be read is skipped with a warning."""
    from .episode_tree import find_trees, read_tree_file

    trees = []
    for path in find_trees(runs_root, runs):
        try:
            trees.append(read_tree_file(path))
        except Exception as error:  # untrusted files: whatever they hold, the runs are reported
            warnings.warn(f"dojo-kernel: skipped the episode tree {path}: {error}", stacklevel=2)
    return trees


def plot_run(record: RunRecord, png_path: Path) -> Path:
    """Two panels: reward per step with the running return, and score per graded step with the best so far."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, safe in threads and servers
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 3.2), dpi=100, layout="constrained")
    reward_axes, score_axes = figure.subplots(1, 2)
    steps = record.steps
    reward_axes.bar(steps, record.rewards, color="#8ab", label="reward")
    running, total = [], 0.0
    for reward in record.rewards:
        total += reward
        running.append(total)
    reward_axes.plot(steps, running, color="#124", marker=".", label="return so far")
    reward_axes.set_title("reward")
    reward_axes.set_xlabel("step")
    reward_axes.legend(loc="best", fontsize="small")

    graded = [(step, score) for step, score in zip(steps, record.scores) if score is not None]
    if graded:
        xs, ys = zip(*graded)
        higher_is_better = record.summary.get("higher_is_better")
        best, best_curve = None, []
        for score in ys:
            best = score if is_better(score, best, higher_is_better) else best
            best_curve.append(best)
        score_axes.plot(xs, ys, "o", color="#c63", label="score")
        score_axes.step(xs, best_curve, where="post", color="#333", label="best so far")
        score_axes.legend(loc="best", fontsize="small")
    else:
        score_axes.text(0.5, 0.5, "no graded submission", ha="center", va="center", transform=score_axes.transAxes)
    metric = str(record.summary['metric']).replace('$', r'\$') if record.summary.get('metric') else ''
    score_axes.set_title('score' + (f' ({metric})' if metric else ''))
    score_axes.set_xlabel("step")
    for axes in (reward_axes, score_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    # usetex off and $ escaped: matplotlib must not read a run's names as mathtext
    title = f"{record.name}: {record.competition or '?'} / {record.agent or '?'}".replace("$", r"\$")
    figure.suptitle(title, fontsize="medium", usetex=False)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png_path)
    return png_path


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def summary_rows(records: list[RunRecord]) -> list[dict[str, str]]:
    """The report table's rows, as text (`dojo report`'s terminal table); a "branch" column
    ("branch of NAME at step N") where any run is a fork inside another's episode."""
    branches = any(r.branch for r in records)
    return [{"run": r.name, "competition": r.competition or "-", "agent": r.agent or "-",
             "steps": str(len(r.steps)), "return": f"{r.total_reward:.4g}", "best score": _fmt(r.best_score),
             "final score": _fmt(r.final_score), "ended": r.ended,
             **({"branch": r.branch.label() if r.branch else "-"} if branches else {})} for r in records]


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def write_report(runs_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write one PNG per run (reward and score curves, for slides and papers) and the
    self-contained `report.html` (see report_html) into `out_dir` (default: `runs_dir`)."""
    from .leaderboard import read_run
    from .report_html import write_page

    runs_root = Path(runs_dir)
    runs = find_runs(runs_root)
    if not runs:
        raise ConfigError(expected(f"run dirs (with {REWARDS_FILE}) under {runs_root}", "none",
                                   "run an episode first: dojo run <competition> --out " + str(runs_root)))
    records = load_runs(runs)  # a run that does not read is skipped with a warning
    if not records:
        raise ConfigError(expected(f"run dirs under {runs_root} that can be read", "none (see the warnings)"))
    out = Path(out_dir) if out_dir is not None else runs_root
    out.mkdir(parents=True, exist_ok=True)
    used_names: set[str] = set()
    for record in records:
        run = record.path
        # Runs in different folders may share a name; the image file names must not collide.
        label = _relative(run, runs_root).replace("/", "__") if run != runs_root else run.name
        while label in used_names:
            label += "_"
        used_names.add(label)
        try:
            plot_run(record, out / f"{label}.png")
        except Exception as error:  # a run's odd numbers must not cost the others their page
            warnings.warn(f"dojo-kernel: no chart for the run {record.path}: {type(error).__name__}: {error}",
                          stacklevel=2)
    return write_page([read_run(record.path) for record in records], out / REPORT_FILE,
                      title=f"dojo-kernel report: {runs_root}", trees=load_trees(runs_root, runs))
