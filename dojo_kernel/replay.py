"""Replay: rerun a recorded notebook's code cells in a fresh workspace and compare.

`replay(notebook)` re-executes the code cells in a fresh kernel session in a fresh run dir
(laid out as the env lays out an episode's) and says, per cell and for the final score,
whether the replay agrees with the record. Output text is compared after masking what
legitimately varies between runs (addresses, times, durations, process ids, paths).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from .errors import ConfigError, expected
from .grading import Grade
from .notebook_cells import jsonable
from .printable import printable
from .rundir import RunDir, notebook_path_of, open_workspace
from .trajectory import load_trajectory, step_cells

if TYPE_CHECKING:
    from .limits import Limits

# ---------------------------------------------------------------------------------------------
# Comparing outputs

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# What legitimately differs between two runs of the same code.
_VARYING = [
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0x…"),  # memory addresses in reprs
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<time>"),
    # durations: "1.23s", "12 ms", "Wall time: 3.1 s", "[00:01<00:00, 5.2it/s]"
    (re.compile(r"\b\d+(?:\.\d+)?\s*(?:ns|µs|us|ms|s|sec|secs|seconds|min|it/s|s/it)\b"), "<dur>"),
    (re.compile(r"\b(?:pid|PID|process)[ =:]+\d+"), "<pid>"),
    (re.compile(r"/tmp/[\w.\-/]+"), "<tmp>"),
]
_PROGRESS = re.compile(r"\d+%\|.*\||\d+/\d+ \[|it/s\]|s/it\]")


def normalize_text(text: str, *, paths: Iterable[str] = ()) -> str:
    """Output text with what varies between runs masked: addresses, times, durations,
    process ids, temporary paths, run-dir paths, and progress bars (tqdm and the like)."""
    text = _ANSI.sub("", text)
    for path in sorted((p for p in paths if p), key=len, reverse=True):
        text = text.replace(path, "<run_dir>")
    lines = []
    for line in text.splitlines():
        line = line.rsplit("\r", 1)[-1]  # a carriage return redraws the line: keep what was shown last
        if _PROGRESS.search(line):
            continue
        for pattern, replacement in _VARYING:
            line = pattern.sub(replacement, line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def outputs_text(outputs: Iterable[dict[str, Any]]) -> str:
    """The comparable text of a cell's outputs: streams, plain-text results, error names;
    images and rich outputs count by their type only (their bytes may differ between runs)."""
    parts = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else text)
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            plain = data.get("text/plain")
            if plain is not None:
                parts.append("".join(plain) if isinstance(plain, list) else plain)
            rich = sorted(mime for mime in data if mime != "text/plain")
            if rich:
                parts.append(f"<{', '.join(rich)}>")
        elif kind == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Run dirs and replay


def _fresh_run_dir(run_dir: str | os.PathLike[str] | None, competition: str) -> Path:
    """A new or empty directory for a replay; a temporary one (kept) where none is given."""
    if run_dir is None:
        return Path(tempfile.mkdtemp(prefix=f"dojo-replay-{competition}-")).resolve()
    path = Path(run_dir).resolve()
    if path.exists() and any(path.iterdir()):
        raise ConfigError(expected("a new or empty run dir for the replay", str(path), "pass another run_dir"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ReplayCell:
    """One code cell of a replay: what was recorded, what came out now, and whether they agree."""

    index: int  # the cell's index in the notebook
    step: int | None
    action: str | None
    recorded_status: str | None
    replay_status: str
    recorded_text: str  # normalized output text
    replay_text: str
    duration_s: float

    @property
    def status_agrees(self) -> bool:
        return self.recorded_status is None or self.recorded_status == self.replay_status

    @property
    def output_agrees(self) -> bool:
        return self.recorded_text == self.replay_text

    @property
    def agrees(self) -> bool:
        return self.status_agrees and self.output_agrees

    def diff(self, max_lines: int = 12) -> str:
        lines = list(difflib.unified_diff(self.recorded_text.splitlines(), self.replay_text.splitlines(),
                                          "recorded", "replay", lineterm="", n=1))
        return "\n".join(lines[:max_lines] + (["…"] if len(lines) > max_lines else []))


@dataclass
class ReplayReport:
    """The result of `replay`: per-cell agreement and whether the final score agrees."""

    notebook: Path
    run_dir: Path
    competition: str
    split: str
    cells: list[ReplayCell] = field(default_factory=list)
    recorded_score: float | None = None
    recorded_score_source: str | None = None  # "submission" | "summary" | "last graded step"
    replay_score: float | None = None
    replay_grade: Grade | None = None
    # What the replay ran under (the caller's choice, else the defaults) and, for comparison
    # only, what the notebook says it was recorded under: a shared notebook is untrusted.
    isolation: str = "auto"
    limits: dict[str, Any] = field(default_factory=dict)
    recorded_isolation: Any = None
    recorded_limits: Any = None

    @property
    def score_agrees(self) -> bool:
        if self.recorded_score is None or self.replay_score is None:
            return self.recorded_score is None and self.replay_score is None
        return math.isclose(self.recorded_score, self.replay_score, rel_tol=1e-9, abs_tol=1e-12)

    @property
    def cells_agree(self) -> bool:
        return all(cell.agrees for cell in self.cells)

    @property
    def agrees(self) -> bool:
        return self.cells_agree and self.score_agrees

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "notebook": self.notebook, "run_dir": self.run_dir, "competition": self.competition,
            "split": self.split, "agrees": self.agrees, "score_agrees": self.score_agrees,
            "recorded_score": self.recorded_score, "recorded_score_source": self.recorded_score_source,
            "replay_score": self.replay_score, "isolation": self.isolation, "limits": self.limits,
            "recorded_isolation": self.recorded_isolation, "recorded_limits": self.recorded_limits,
            "replay_grade": self.replay_grade.to_dict() if self.replay_grade is not None else None,
            "cells": [{"index": cell.index, "step": cell.step, "action": cell.action,
                       "recorded_status": cell.recorded_status, "replay_status": cell.replay_status,
                       "status_agrees": cell.status_agrees, "output_agrees": cell.output_agrees,
                       "duration_s": cell.duration_s} for cell in self.cells],
        })

    def to_text(self) -> str:
        lines = [f"replay of {printable(self.notebook)}", f"in {printable(self.run_dir)}",
                 f"sandbox: {self.isolation} (recorded: {printable(str(self.recorded_isolation))}, not used)"]
        loosened = _loosened(self.limits, self.recorded_limits)
        if loosened:
            lines.append("limits: the defaults and the command line; the notebook's looser "
                         f"{printable(', '.join(loosened))} not used")
        lines += ["", f"{'cell':>4} {'step':>4}  {'recorded':<8} {'replay':<8} output"]
        for cell in self.cells:
            output = "same" if cell.output_agrees else "DIFFERS"
            mark = "" if cell.status_agrees else "  STATUS DIFFERS"
            step = "" if cell.step is None else cell.step
            lines.append(f"{cell.index:>4} {step:>4}  {cell.recorded_status or '-':<8} {cell.replay_status:<8} {output}{mark}")
            if not cell.output_agrees:
                # the diff quotes cell output: control characters shown, never sent to the terminal
                lines.extend("        " + printable(line) for line in cell.diff().splitlines())
        recorded = "none" if self.recorded_score is None else f"{self.recorded_score:.6g} (from {self.recorded_score_source})"
        replayed = "none" if self.replay_score is None else f"{self.replay_score:.6g}"
        if self.replay_grade is not None and not self.replay_grade.valid:
            replayed += f" (invalid: {printable(self.replay_grade.error)})"
        lines += ["", f"final score ({self.split} split): recorded {recorded}, replay {replayed}: "
                      + ("agrees" if self.score_agrees else "DIFFERS")]
        agreeing = sum(cell.agrees for cell in self.cells)
        lines.append(f"{agreeing} of {len(self.cells)} cells agree; replay "
                     + ("AGREES" if self.agrees else "DIFFERS"))
        return "\n".join(lines)


def _loosened(used: dict[str, Any], recorded: Any) -> list[str]:
    """The recorded limits that are looser than those used (None: no limit), as `name=value`."""
    if not isinstance(recorded, dict):
        return []
    looser = []
    for name, value in recorded.items():
        current = used.get(name, value)
        if current is not None and (value is None or (isinstance(value, (int, float)) and value > current)):
            looser.append(f"{name}={value}")
    return looser


def _recorded_score(notebook: nbformat.NotebookNode, notebook_path: Path, competition: Any,
                    split: str) -> tuple[float | None, str | None]:
    """The recorded episode's final score: its submission regraded, else its summary, else its last grade."""
    submission = RunDir(notebook_path.parent).submission(competition.submission_file)
    if submission.is_file():
        grade = competition.grade(submission, split=split, allowed_dir=submission.parent)
        return (grade.score if grade.valid else None), "submission"
    summary = notebook.metadata.get("dojo", {}).get("summary") or {}
    if isinstance(summary.get("final_score"), (int, float)):
        return float(summary["final_score"]), "summary"
    for cell in reversed(step_cells(notebook)):
        grade = cell["metadata"]["dojo"].get("grade")
        if grade and grade.get("valid") and grade.get("score") is not None:
            return float(grade["score"]), "last graded step"
    return None, None


def replay(notebook_path: str | os.PathLike[str], *, run_dir: str | os.PathLike[str] | None = None,
           competition: str | None = None, limits: Limits | dict[str, Any] | None = None,
           split: str = "private", isolation: str | None = None) -> ReplayReport:
    """Re-execute a recorded notebook's code cells, in order, in a fresh kernel session in a
    fresh run dir, then regrade its `working/submission.csv`.

    competition defaults to the notebook's. limits and isolation come from the caller and the
    defaults only (`Limits()`, "auto"): a notebook is untrusted, so what its metadata says it
    was recorded under is shown in the report for comparison, never obeyed. The score
    compared is the final submission's on `split`, recorded (the original run dir's submission
    regraded, else the summary's final score) against replayed. run_dir defaults to a
    new temporary directory (kept, so it can be inspected; its path is in the report), laid
    out as the env lays out an episode's (`working/`, `input/` linking the public data). A
    `restart_kernel` step restarts the replay's kernel at the same point.
    """
    # imported here: only replay needs a kernel and the answers
    from .competition import get_competition
    from .kernel import default_launch_spec
    from .limits import Limits

    path = notebook_path_of(notebook_path).resolve()
    notebook = load_trajectory(path)
    dojo = notebook.metadata.get("dojo", {})
    name = competition or dojo.get("competition")
    if not name:
        raise ConfigError(expected("a competition name (in the notebook's metadata or as competition=)", name))
    # Never from the notebook: its metadata could turn the sandbox or the limits off.
    if limits is None:
        limits = Limits()
    elif isinstance(limits, dict):
        limits = Limits.from_dict(limits)
    if isolation is None:
        isolation = "auto"
    comp = get_competition(name)
    target = _fresh_run_dir(run_dir, name)
    # The run dir layout the env gives an episode: working/, and input/ linking the public data.
    launch = default_launch_spec(limits, isolation=isolation, input_source=comp.public_dir,
                                 hidden_paths=[comp.private_dir])
    session = open_workspace(target, launch=launch, limits=limits).session
    settings = dojo.get("settings")
    report = ReplayReport(notebook=path, run_dir=target, competition=name, split=split, isolation=isolation,
                          limits=limits.to_dict(), recorded_limits=dojo.get("limits"),
                          recorded_isolation=settings.get("isolation") if isinstance(settings, dict) else None)
    public = str(Path(comp.public_dir).resolve())
    recorded_dirs = [str(dojo.get("run_dir") or ""), str(path.parent), public]

    try:
        for index, cell in enumerate(notebook.cells):
            meta = cell.get("metadata", {}).get("dojo", {})
            if cell.cell_type == "markdown" and meta.get("action") == "restart_kernel":
                session.restart()
                continue
            if cell.cell_type != "code":
                continue
            result = session.run(cell.source)
            report.cells.append(ReplayCell(
                index=index, step=meta.get("step"), action=meta.get("action"),
                recorded_status=meta.get("status"), replay_status=result.status,
                recorded_text=normalize_text(outputs_text(cell.get("outputs", [])), paths=recorded_dirs),
                replay_text=normalize_text(outputs_text(result.outputs), paths=[str(target), public]),
                duration_s=result.duration_s,
            ))
    finally:
        session.close()

    report.recorded_score, report.recorded_score_source = _recorded_score(notebook, path, comp, split)
    submission = RunDir(target).submission(comp.submission_file)
    if submission.is_file():
        report.replay_grade = comp.grade(submission, split=split, allowed_dir=submission.parent)
        report.replay_score = report.replay_grade.score if report.replay_grade.valid else None
    return report
