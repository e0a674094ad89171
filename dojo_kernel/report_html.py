"""The report page: one self-contained HTML file (styles and charts inline, nothing fetched)
that a researcher can put in a paper's appendix.

Sections: the per-agent totals (medal rate, mean rank, valid-submission rate, HumanRank-style
position, Elo), every run (competition, agent, seed, steps, time, tokens, final private score,
rank, medal, above median), error categories per agent where the reward logs carry them, one
chart per competition (every run's public score over steps, with the private leaderboard's
medal lines), and per run its step timeline and a link to its notebook.

Everything read from run dirs is text from elsewhere: it is escaped, never trusted as markup.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .episode_tree import EpisodeTree, html_tree
from .leaderboard import AGENT_COLUMNS, RunResult, agent_table, counted_runs, text_cell, uncounted_note

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}
td.text,th{text-align:left}
th{background:#f3f3f3}
tr.gold td.medal{background:#f6e27a}tr.silver td.medal{background:#dcdcdc}tr.bronze td.medal{background:#e8b58a}
.chart svg{max-width:100%;height:auto}
details{margin:0.4em 0}summary{cursor:pointer}
.muted{color:#777}
ul.tree,ul.tree ul{list-style:none;padding-left:1.2em;border-left:1px dotted #bbb}li.chosen>a,li.chosen{font-weight:bold}
"""

_RUN_HEADERS = (("competition", "competition"), ("agent", "agent"), ("seed", "seed"), ("steps", "steps"),
                ("time_s", "time (s)"), ("tokens", "tokens"), ("cost_usd", "cost"),
                ("final_score", "final score (private)"), ("position", "position"), ("medal", "medal"),
                ("above_median", "above median"))
_AGENT_HEADERS = {"agent": "agent", "runs": "runs", "competitions": "competitions", "medal_rate": "medal rate",
                  "gold": "gold", "silver": "silver", "bronze": "bronze", "above_median_rate": "above median",
                  "valid_rate": "valid submission", "mean_rank": "mean rank", "mean_position": "HumanRank-style position",
                  "elo": "Elo", "tokens": "tokens", "cost_usd": "cost"}
_TEXT_COLUMNS = {"competition", "agent", "medal", "action", "status", "error category"}


def render_page(runs: Sequence[RunResult], *, title: str, out_dir: Path, trees: Sequence[EpisodeTree] = ()) -> str:
    """The page as text; links to notebooks are relative to `out_dir`, where the page goes."""
    runs = sorted(runs, key=lambda r: (r.competition or "", r.agent or "", r.seed if r.seed is not None else -1,
                                       str(r.path)))
    anchors = _anchors(runs)
    note = uncounted_note(runs)
    branch_note = f" {note} (Branches are marked in the runs table.)" if note else ""
    parts = ["<!doctype html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f"<p>{len(runs)} run(s), {len({r.agent for r in runs})} agent(s), "
             f"{len({r.competition for r in runs})} competition(s).{_e(branch_note)} Final scores are graded once, on the private "
             "split; positions are the share of the private leaderboard a final score beats (MLE-Dojo's "
             "HumanRank-style measure); medals and above-median follow MLE-bench's rules. Elo is fitted to the "
             "head-to-head results of agents on shared competitions (400 points: 10 to 1 odds).</p>"]
    parts += _agents_section(runs)
    parts += _runs_section(runs, anchors)
    parts += _errors_section(runs)
    parts += _charts_section(runs)
    parts += _trees_section(trees, runs, anchors)
    parts += _timelines_section(runs, anchors, out_dir)
    # The page marks itself rendered once loaded: a headless browser's check that it loads.
    parts.append("<script>document.documentElement.setAttribute('data-rendered','yes');</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(runs: Sequence[RunResult], page: Path, *, title: str, trees: Sequence[EpisodeTree] = ()) -> Path:
    page.parent.mkdir(parents=True, exist_ok=True)
    temporary = page.with_name(page.name + ".tmp")
    temporary.write_text(render_page(runs, title=title, out_dir=page.parent, trees=trees), encoding="utf-8")
    temporary.replace(page)  # a browser reloading mid-write sees the old page or the new one
    return page


# -- sections ------------------------------------------------------------------------------------

def _agents_section(runs: Sequence[RunResult]) -> list[str]:
    rows = agent_table(runs)
    columns = [c for c in AGENT_COLUMNS if c not in ("tokens", "cost_usd") or any(row[c] for row in rows)]
    out = ["<h2 id='agents'>Agents</h2>", "<table id='agents-table'><tr>"]
    out += [f"<th>{_e(_AGENT_HEADERS[c])}</th>" for c in columns] + ["</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(_td(c, text_cell(c, row[c])) for c in columns) + "</tr>")
    out.append("</table>")
    return out


def _runs_section(runs: Sequence[RunResult], anchors: dict[int, str]) -> list[str]:
    show_usage = any(run.tokens for run in runs)
    headers = [(key, label) for key, label in _RUN_HEADERS if show_usage or key not in ("tokens", "cost_usd")]
    out = ["<h2 id='runs'>Runs</h2>", "<table id='runs-table'><tr>"]
    out += [f"<th>{_e(label)}</th>" for _, label in headers] + ["<th>run</th></tr>"]
    for index, run in enumerate(runs):
        row = run.row()
        cells = []
        for key, _ in headers:
            value = row[key]
            if key == "position" and run.rank is not None and run.teams is not None:
                text = f"{text_cell(key, value)} (rank {run.rank} of {run.teams})"
            elif key == "final_score" and not run.finished:
                text = "running"
            elif key == "final_score" and not run.valid:
                text = "no valid submission"
            else:
                text = text_cell(key, value)
            cells.append(_td(key, text))
        branch = f" <span class='muted branch'>{_e(run.branch.label())}</span>" if run.branch else ""
        cells.append(f"<td class='text'><a href='#{anchors[index]}'>{_e(run.name)}</a>{branch}</td>")
        out.append(f"<tr class='{_e(run.medal or '')}'>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return out


def _errors_section(runs: Sequence[RunResult]) -> list[str]:
    by_agent: dict[str, Counter] = {}
    for run in counted_runs(runs):  # per-agent counts, as every total: one run per episode
        by_agent.setdefault(run.agent or "?", Counter()).update(run.error_categories)
    categories = sorted({category for counts in by_agent.values() for category in counts})
    if not categories:
        return []
    out = ["<h2 id='errors'>Error categories per agent</h2>", "<table id='errors-table'><tr><th>agent</th>"]
    out += [f"<th>{_e(category)}</th>" for category in categories] + ["</tr>"]
    for agent, counts in sorted(by_agent.items()):
        out.append("<tr>" + _td("agent", agent) + "".join(_td("n", str(counts[c])) for c in categories) + "</tr>")
    out.append("</table>")
    return out


def _charts_section(runs: Sequence[RunResult]) -> list[str]:
    by_competition: dict[str, list[RunResult]] = {}
    for run in runs:
        by_competition.setdefault(run.competition or "?", []).append(run)
    out = ["<h2 id='competitions'>Score over steps, per competition</h2>"]
    for competition, group in sorted(by_competition.items()):
        out.append(f"<h3>{_e(competition)}</h3><div class='chart'>{_score_chart(competition, group)}</div>")
    return out


def _trees_section(trees: Sequence[EpisodeTree], runs: Sequence[RunResult], anchors: dict[int, str]) -> list[str]:
    """Each episode tree with every node's scores; a node that is a run on this page links to it."""
    if not trees:
        return []
    by_path = {Path(run.path): anchors[index] for index, run in enumerate(runs)}
    out = ["<h2 id='trees'>Episode trees</h2>"]
    for tree in trees:
        links = {name: by_path[tree.folder / name] for name in tree.nodes if tree.folder / name in by_path}
        out.append(html_tree(tree, links))
    return out


def _timelines_section(runs: Sequence[RunResult], anchors: dict[int, str], out_dir: Path) -> list[str]:
    out = ["<h2 id='timelines'>Step timelines</h2>"]
    for index, run in enumerate(runs):
        notebook = run.path / "trajectory.ipynb"
        link = (f"<a href='{_e(_relative(notebook, out_dir))}'>trajectory.ipynb</a>"
                if notebook.is_file() else "<span class='muted'>no notebook</span>")
        out.append(f"<h3 id='{anchors[index]}'>{_e(run.competition or '?')} / {_e(run.agent or '?')}"
                   f"{'' if run.seed is None else f' / seed {run.seed}'}</h3>")
        out.append(f"<p class='muted'>{_e(str(run.path))} &middot; {link}</p>")
        out.append("<details><summary>steps</summary><table class='timeline'><tr><th>step</th><th>action</th>"
                   "<th>status</th><th>cell (s)</th><th>memory (MB)</th><th>reward</th><th>score</th>"
                   "<th>error category</th></tr>")
        for step in run.timeline:
            memory = None if step["peak_rss_bytes"] is None else step["peak_rss_bytes"] / 1024**2
            cells = [("n", step["step"]), ("action", step["action"]), ("status", step["status"]),
                     ("n", step["cell_s"]), ("n", memory), ("n", step["reward"]), ("n", step["score"]),
                     ("error category", step["error_category"])]
            out.append("<tr>" + "".join(_td(key, text_cell(key, value)) for key, value in cells) + "</tr>")
        out.append("</table></details>")
    return out


# -- the chart -----------------------------------------------------------------------------------

_MEDAL_COLOURS = {"gold": "#c9a400", "silver": "#8a8a8a", "bronze": "#a0522d", "median": "#4a7"}


def _score_chart(competition: str, runs: Sequence[RunResult]) -> str:
    """Inline SVG: each run's public score per graded step and its best so far, with the private
    leaderboard's gold, silver, bronze and median lines."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    figure = Figure(figsize=(8, 3.6), dpi=100, layout="constrained")
    axes = figure.subplots()
    drawn = False
    lower_is_better = any(run.higher_is_better is False for run in runs)
    for run in runs:
        graded = [(s["step"], s["score"]) for s in run.timeline if s["score"] is not None and s["step"] is not None]
        if not graded:
            continue
        steps, scores = zip(*graded)
        best, curve = None, []
        for score in scores:
            best = score if best is None else (min(best, score) if lower_is_better else max(best, score))
            curve.append(best)
        label = f"{run.agent or '?'}" + ("" if run.seed is None else f" seed {run.seed}")
        (line,) = axes.step(steps, curve, where="post", label=label)
        axes.plot(steps, scores, "o", color=line.get_color(), alpha=0.5, markersize=4)
        drawn = True
    thresholds = next((run.thresholds for run in runs if run.thresholds), {})
    for name, value in thresholds.items():
        axes.axhline(value, color=_MEDAL_COLOURS.get(name, "#999"), linestyle="--", linewidth=1,
                     label=f"{name} (private leaderboard)")
    if not drawn:
        axes.text(0.5, 0.5, "no graded submission", ha="center", va="center", transform=axes.transAxes)
    metric = next((run.metric for run in runs if run.metric), None)
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("step")
    axes.set_ylabel(f"public score{f' ({metric})' if metric else ''}")
    axes.set_title(competition, fontsize="medium")
    if drawn or thresholds:
        axes.legend(loc="best", fontsize="x-small")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: it sits inside HTML


# -- helpers -------------------------------------------------------------------------------------

def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _td(column: str, text: str) -> str:
    css = "medal" if column == "medal" else ("text" if column in _TEXT_COLUMNS else "")
    return f"<td class='{css}'>{_e(text)}</td>" if css else f"<td>{_e(text)}</td>"


def _anchors(runs: Sequence[RunResult]) -> dict[int, str]:
    """A unique, safe anchor per run."""
    anchors: dict[int, str] = {}
    for index, run in enumerate(runs):
        anchors[index] = "run-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{index}-{run.name}")
    return anchors


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
