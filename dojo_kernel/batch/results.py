"""The results of a batch: results.csv, results.md, the per-competition scores chart and
the `dojo report` page of its runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..rundir import RunDir
from .episode import EpisodeResult, EpisodeStatus, _atomic_write

SCORES_CHART = "scores.png"
RESULT_COLUMNS: tuple[str, ...] = ("competition", "agent", "seed", "status", "attempts", "best_score", "final_score",
                  "position", "medal", "steps", "episode_s", "wall_s", "tokens", "cost_usd", "isolation",
                  "limit_events", "cpus", "gpu_device", "gpu_memory_gb", "error", "run_dir")


@dataclass
class BatchResult:
    out: Path
    episodes: list[EpisodeResult]
    results_csv: Path | None = None
    results_md: Path | None = None
    report: Path | None = None

    @property
    def failed(self) -> list[EpisodeResult]:
        return [e for e in self.episodes if e.status == "failed"]

    def count(self, status: EpisodeStatus) -> int:
        return sum(1 for e in self.episodes if e.status == status)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# A spreadsheet opening results.csv reads a cell starting with one of these as a formula;
# error messages and names can be agent text. Numbers are written as numbers (a negative
# score keeps its sign), text gets a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    text = _cell(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def write_results(out: Path, episodes: Sequence[EpisodeResult]) -> tuple[Path, Path]:
    """results.csv (every column) and results.md (the table plus a mean per competition and agent)."""
    rows = [episode.row(out) for episode in sorted(episodes, key=lambda e: e.spec.key)]
    csv_path = out / "results.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    _atomic_write(csv_path, buffer.getvalue())

    shown = ("competition", "agent", "seed", "status", "best_score", "final_score", "position", "medal",
             "steps", "episode_s", "wall_s", "tokens", "cost_usd", "isolation", "limit_events", "error")
    lines = [f"# Batch results: {len(rows)} episode(s)", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]).replace("|", "\\|").replace("\n", " ") for c in shown) + " |")
    lines += ["", "## Per competition and agent", "",
              "| competition | agent | episodes | failed | mean best score | mean final score | mean position | medals |",
              "|---|---|---|---|---|---|---|---|"]
    for (competition, agent), group in _groups(rows).items():
        medals = sum(1 for r in group if r["medal"])
        lines.append(f"| {competition} | {agent} | {len(group)} | {sum(r['status'] == 'failed' for r in group)} | "
                     f"{_cell(_mean(r['best_score'] for r in group))} | {_cell(_mean(r['final_score'] for r in group))} | "
                     f"{_cell(_mean(r['position'] for r in group))} | {medals} |")
    if (out / SCORES_CHART).is_file():
        lines += ["", f"![final score (else best) per competition and agent]({SCORES_CHART})"]
    md_path = out / "results.md"
    _atomic_write(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path


def _groups(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["competition"], row["agent"]), []).append(row)
    return groups


def _mean(values: Iterable[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def write_scores_chart(out: Path, episodes: Sequence[EpisodeResult]) -> Path | None:
    """scores.png: the final (else best) score of every episode, one panel per competition,
    one column of points per agent with its mean marked."""
    rows = [e.row(out) for e in episodes]
    by_competition: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        score = row["final_score"] if row["final_score"] is not None else row["best_score"]
        if score is not None:
            by_competition.setdefault(row["competition"], {}).setdefault(row["agent"], []).append(float(score))
    if not by_competition:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    panels = len(by_competition)
    figure = Figure(figsize=(max(4.0, 3.2 * panels), 3.4), dpi=100, layout="constrained")
    axes_list = figure.subplots(1, panels, squeeze=False)[0]
    for axes, (competition, agents) in zip(axes_list, sorted(by_competition.items())):
        names = sorted(agents)
        for x, name in enumerate(names):
            scores = agents[name]
            axes.plot([x] * len(scores), scores, "o", color="#37a", alpha=0.7)
            axes.plot([x - 0.25, x + 0.25], [sum(scores) / len(scores)] * 2, color="#c33", linewidth=2)
        axes.set_xticks(range(len(names)), names, rotation=20, fontsize="small")
        axes.set_xlim(-0.6, len(names) - 0.4)
        axes.set_title(competition, fontsize="medium")
        axes.set_ylabel("final score (else best)")
    chart = out / SCORES_CHART
    figure.savefig(chart)
    return chart


def write_batch_report(out: Path, episodes: Sequence[EpisodeResult]) -> Path | None:
    """The `dojo report` page for the batch's runs, and the per-competition chart beside it."""
    write_scores_chart(out, episodes)
    if not any(RunDir(e.run_dir).has_record for e in episodes):
        return None
    from ..report import write_report

    return write_report(out)

