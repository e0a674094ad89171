"""The text an agent reads: `obs["feedback"]` for every kind of step.

Plain text, short headers, numbers with units; what went wrong says how to go on.
Nothing here runs code or grades: it formats what the env hands it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from .actions import ActionError, usage
from .grading import Grade
from .limits import Limits
from .printable import without_surrogates
from .rundir import WORKING_DIR

_PREVIEW_LINES = 6
_LISTED_FILES = 60


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "no limit"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def size(n_bytes: float | None) -> str:
    if n_bytes is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n_bytes) < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GB"


def number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def budget(left: dict[str, Any]) -> str:
    steps = ("no step limit" if left["max_steps"] is None
             else f"{left['steps_left']} of {left['max_steps']} steps left")
    time_text = ("no time limit" if left["episode_time_s"] is None
                 else f"{duration(left['time_left_s'])} of {duration(left['episode_time_s'])} left")
    return f"Budget: {steps}; {time_text}."


def first_observation(competition: Any, isolation_warning: str | None, budget_text: str,
                      action_set: Any = None) -> str:
    parts = [f"# Competition: {competition.title or competition.name}",
             _description(competition),
             f"Metric: {competition.metric} ({'higher' if competition.higher_is_better else 'lower'} is better). "
             f"Write your predictions to working/{competition.submission_file} in the format of "
             f"input/{Path(competition.sample_submission_path).name}.",
             "Files in input/ (read-only):\n" + _file_list(Path(competition.public_dir)),
             "Your code runs in a persistent Jupyter kernel whose working directory holds input/ and "
             "working/: variables stay between steps. Actions:\n" + usage(action_set),
             budget_text]
    if isolation_warning:
        parts.append(f"Warning: {isolation_warning}")
    return "\n\n".join(part for part in parts if part)


def invalid_action(problem: ActionError, action_set: Any = None) -> str:
    return f"Invalid action: {problem.message}\nNothing ran. The actions are:\n{usage(action_set)}"


def cell_result(action: str, result: Any) -> str:
    """The header of a cell's result, then its output (which holds any traceback)."""
    count = f" [{result.execution_count}]" if result.execution_count is not None else ""
    header = f"{action}{count}: {result.status} in {result.duration_s:.2f}s, peak memory {size(result.peak_rss_bytes)}"
    if result.peak_gpu_bytes:
        header += f", peak GPU memory {size(result.peak_gpu_bytes)}"
    lines = [header]
    if result.limit_event is not None:
        lines.append(f"Limit reached: {result.limit_event.message}")
    if result.restarted:
        lines.append("The kernel was restarted: every variable is gone (files in working/ remain). "
                     "Rerun your imports and data loading.")
    for warning in result.warnings:
        lines.append(f"Warning: {warning}")
    output = without_surrogates(result.text).rstrip()
    lines.append(output if output else "(no output)")
    if action == "validate_code" and result.status == "ok":
        lines.append("The code ran without error (validate_code grades nothing).")
    return "\n".join(lines)


def grade(result: Grade, competition: Any, rewards: Any) -> str:
    where = f"{WORKING_DIR}/{competition.submission_file}"
    if not result.valid:
        return f"Submission {where} is invalid ({result.split} split): {result.error}"
    direction = "higher" if competition.higher_is_better else "lower"
    text = f"Submission {where} graded on the {result.split} split: {competition.metric} = {number(result.score)} " \
           f"({direction} is better)"
    if result.position is not None:
        text += f", beats {result.position:.1%} of the leaderboard"
        if result.rank is not None and result.teams is not None:
            text += f" (rank {result.rank} of {result.teams})"
    text += "."
    if rewards.best_score is not None:
        text += f" Best so far: {number(rewards.best_score)} (step {rewards.best_step})."
    return text


def episode_end(reason: str | None, final: Grade | None, public: Grade | None, competition: Any) -> str:
    why = {"final_submit": "you made your final submission", "max_steps": "the step budget is spent",
           "episode_time": "the time budget is spent"}.get(reason or "", reason or "it ended")
    lines = [f"The episode is over: {why}."]
    if final is None or not final.valid:
        lines.append(f"Final submission (private split): invalid: {final.error if final else 'none'}")
        return "\n".join(lines)
    lines.append(f"Final submission, private split: {competition.metric} = {number(final.score)}"
                 + (f", beats {final.position:.1%} of the private leaderboard" if final.position is not None else "")
                 + (f", medal: {final.medal}" if final.medal else ", no medal")
                 + ("" if final.above_median is None else
                    (", above the median" if final.above_median else ", not above the median")) + ".")
    if public is not None and public.valid:
        lines.append(f"Same submission, {public.split} split: {competition.metric} = {number(public.score)}.")
    return "\n".join(lines)


def history(steps: list[dict[str, Any]], competition: Any) -> str:
    if not steps:
        return "No steps yet."
    lines = [f"{'step':>4}  {'action':<15} {'status':<8} {'score':>12} {'reward':>8}  note"]
    for entry in steps:
        score = number(entry["score"]) if entry["score"] is not None else ""
        note = (entry["error"] or "")[:160].replace("\n", " ")
        lines.append(f"{entry['step']:>4}  {entry['action']:<15} {entry['status'] or '':<8} {score:>12} "
                     f"{entry['reward']:>8.4g}  {note}")
    return f"History ({competition.metric}, {'higher' if competition.higher_is_better else 'lower'} is better):\n" \
        + "\n".join(lines)


def limits_info(limits: Limits, left: dict[str, Any], plan: Any) -> str:
    shown = {
        "memory": f"{limits.memory_gb} GB" if limits.memory_gb else "no limit",
        "cell timeout": duration(limits.cell_timeout_s),
        "episode time": duration(limits.episode_time_s),
        "GPU": "none" if limits.gpu_device is None else f"device {limits.gpu_device}"
               + (f", {limits.gpu_memory_gb} GB" if limits.gpu_memory_gb else ""),
        "CPU threads": limits.cpus or "no limit",
        "processes": limits.max_processes or "no limit",
        "disk (working/)": f"{limits.disk_gb} GB" if limits.disk_gb else "no limit",
        "output kept per cell": f"{limits.max_output_chars} characters" if limits.max_output_chars else "all",
        "isolation": plan.mode + (f" ({plan.warning})" if plan.warning else ""),
    }
    return "## Limits\n" + "\n".join(f"- {name}: {value}" for name, value in shown.items()) + "\n" + budget(left)


def competition_info(competition: Any, info_type: str, submission: str) -> str:
    public = Path(competition.public_dir)
    if info_type == "overview":
        return f"## Overview: {competition.title or competition.name}\n{_description(competition)}"
    if info_type == "metadata":
        fields = ("name", "title", "metric", "higher_is_better", "id_column", "target_columns", "category", "task",
                  "level", "submission_file", "tags")
        return "## Metadata\n" + "\n".join(f"- {name}: {getattr(competition, name, None)}" for name in fields)
    if info_type == "data_path":
        return ("## Data path\nThe public data is in input/ (relative to the kernel's working directory), "
                "read-only:\n" + _file_list(public))
    if info_type == "output_path":
        return (f"## Output path\nWrite your submission to {submission}; working/ is yours for any other "
                "file (models, caches).")
    if info_type == "data_structure":
        return "## Data structure\n" + _data_structure(public)
    if info_type == "sample_submission":
        path = Path(competition.sample_submission_path)
        return f"## Sample submission: input/{path.name}\n" + _preview(path)
    raise ValueError(f"unknown info_type {info_type!r}")


def _description(competition: Any) -> str:
    description = competition.description
    return description.strip() if isinstance(description, str) else ""


def _files(root: Path) -> list[Path]:
    found = []
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        found += [Path(directory, name) for name in sorted(filenames)]
    return found


def _file_list(root: Path) -> str:
    files = _files(root)
    lines = [f"- input/{path.relative_to(root)} ({size(path.stat().st_size)})" for path in files[:_LISTED_FILES]]
    if len(files) > _LISTED_FILES:
        lines.append(f"- ... and {len(files) - _LISTED_FILES} more files")
    return "\n".join(lines) if lines else "(no files)"


def _data_structure(root: Path) -> str:
    parts = []
    for path in _files(root)[:_LISTED_FILES]:
        entry = f"### input/{path.relative_to(root)} ({size(path.stat().st_size)})"
        if path.suffix.lower() in (".csv", ".tsv"):
            entry += "\n" + _preview(path)
        parts.append(entry)
    return "\n\n".join(parts) if parts else "(no files)"


def _preview(path: Path) -> str:
    """The columns and first rows of a CSV, read without loading the whole file."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            rows = []
            for row in reader:
                rows.append(row)
                if len(rows) > _PREVIEW_LINES:
                    break
    except OSError as error:
        return f"(cannot read: {error})"
    if not rows:
        return "(empty file)"
    columns = rows[0]
    shown = columns if len(columns) <= 30 else columns[:30] + [f"... {len(columns) - 30} more"]
    lines = [f"columns ({len(columns)}): {', '.join(shown)}", "first rows:"]
    lines += [",".join(cell[:40] for cell in row[:30]) for row in rows[1:_PREVIEW_LINES]]
    return "\n".join(lines)
