"""What `dojo run` shows a person at the terminal: the live table of steps (with the cell that
is running now), the isolation warning, and the summary box at the end.

Paths are never put inside a rich table: a table folds long cells at the terminal's width,
and a folded path cannot be copied. They are printed on lines of their own.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from .printable import plain, printable

JUPYTER_HINT = "pip install 'dojo-kernel[jupyter]'"


def isolation_line(plan: Any) -> str | None:
    """The line said before the first step where the kernel runs unisolated (an IsolationPlan:
    "auto" that fell back carries its warning; "none" was asked for)."""
    if plan.mode != "none":
        return None
    return "dojo run: " + (plan.warning or "the kernel is NOT isolated (--isolation none): agent code can read any "
                           "file this process can, including private answers, and reach the network.")


class LiveSteps:
    """One table of the steps so far, and of the step running now: its elapsed time and the
    peak memory of the kernel's tree so far, redrawn four times a second while it runs, so a
    long fit does not look like a hang."""

    def __init__(self, console: Any, competition: str, agent: str, *, env: Any = None, max_rows: int = 12) -> None:
        self.console, self.competition, self.agent, self.max_rows = console, competition, agent, max_rows
        self.env = env  # a DojoEnv: its run dir, and its session, where the running cell's memory is read
        self.announced = False
        self.rows: list[tuple[str, ...]] = []
        self.running: tuple[int, str, float] | None = None  # step, action, started (monotonic)
        self.live = None

    def __enter__(self) -> LiveSteps:
        from rich.live import Live

        # Live renders `self` (see __rich__) on every refresh, so the running row keeps moving.
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def __rich__(self) -> Any:
        return self.render()

    def render(self) -> Any:
        from rich.table import Table

        table = Table(title=plain(f"{self.competition} / {self.agent}  (Ctrl-C stops the episode)"))
        for column in ("step", "action", "status", "reward", "score", "best", "budget left"):
            table.add_column(column, justify="right" if column in ("step", "reward", "score", "best") else "left")
        hidden = len(self.rows) - self.max_rows
        if hidden > 0:
            table.add_row("...", f"{hidden} earlier", "", "", "", "", "")
        for row in self.rows[-self.max_rows:]:
            table.add_row(*(plain(cell) for cell in row))
        if self.running is not None:
            step, action, started = self.running
            table.add_row(str(step), plain(action), self._running_text(time.monotonic() - started), "", "", "", "")
        elif not self.rows:
            table.add_row("-", "starting the kernel", "", "", "", "", "")
        return table

    def _running_text(self, elapsed_s: float) -> str:
        text = f"running {elapsed_s:.0f}s"
        session = getattr(self.env, "session", None)
        peak = getattr(session, "cell_peak_rss_bytes", 0) if session is not None else 0
        return f"{text}, peak {peak / 1024**2:.0f} MB" if peak else text

    def on_action(self, step: int, action: Any) -> None:
        from .agents.base import action_name

        self.running = (step, action_name(action), time.monotonic())
        run_dir = getattr(self.env, "run_dir", None)
        if run_dir is not None and not self.announced:
            self.announced = True
            # printed above the live table, and never inside it: a path must stay whole
            print(attach_lines(run_dir))
        self._refresh()

    def on_step(self, event: Any) -> None:
        self.running = None
        self.rows.append((str(event.index), event.action_name, str(event.status or "-"), f"{event.reward:.4g}",
                          fmt(event.score), fmt(event.best_score), budget_text(event.budget)))
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.refresh()


def attach_lines(run_dir: Any) -> str:
    return (f"run dir: {run_dir}\n"
            f"  its kernel, beside the agent: dojo attach {run_dir}")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def budget_text(budget: dict[str, Any]) -> str:
    parts = []
    for key, label, unit in (("steps_left", "steps", ""), ("time_left_s", "time", "s")):
        value = budget.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.0f}{unit}")
    return ", ".join(parts) or "-"


def summary_table(summary: dict[str, Any]) -> Any:
    """The episode's numbers in a box; its paths are printed after it, by `print_paths`."""
    from rich.table import Table

    env = summary.get("env_summary") or {}
    table = Table(title="episode summary", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("competition", summary.get("competition")), ("agent", summary.get("agent")),
        ("steps", summary.get("steps")), ("ended by", summary.get("stopped_by")),
        ("return", f"{summary.get('total_reward', 0.0):.4g}"),
        ("best score (public)", fmt(summary.get("best_score"))),
        ("final score (private)", fmt(summary.get("final_score")))]
    if env.get("final_position") is not None:
        rows.append(("final position", f"beats {env['final_position']:.1%} of the private leaderboard"))
    for key in ("medal", "above_median"):
        if env.get(key) is not None:
            rows.append((key.replace("_", " "), env[key]))
    rows.append(("time", f"{summary.get('duration_s', 0.0):.1f}s"))
    usage = env.get("usage") or {}
    stats = summary.get("agent_stats") or {}
    tokens = usage.get("total_tokens") or stats.get("total_tokens")
    if tokens:
        cost = usage.get("cost_usd")
        rows.append(("tokens", f"{tokens} ({stats.get('requests', usage.get('requests', 0))} requests)"
                               + (f", ${cost:.4f}" if cost else "")))
    if env.get("isolation"):
        rows.append(("isolation", "none: NOT isolated, agent code could read the answers"
                     if env["isolation"] == "none" else env["isolation"]))
    for key, value in rows:
        table.add_row(key, plain("-" if value is None else str(value)))
    return table


def print_paths(summary: dict[str, Any]) -> None:
    """The run dir and the notebook with the commands that open it, each whole on its line."""
    if summary.get("run_dir"):
        print(f"run dir:  {printable(summary['run_dir'])}")
    notebook = printable(summary["notebook"], newlines=False) if summary.get("notebook") else None
    if notebook:
        print(f"notebook: {notebook}")
        print(f"  open it:   jupyter lab {notebook}")
        print(f"  replay it: dojo replay {notebook}")
        if shutil.which("jupyter-lab") is None:
            print(f"  (jupyter lab is not installed here: {JUPYTER_HINT})")
