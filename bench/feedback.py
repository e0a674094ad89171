"""Feedback an LLM reads: its length before (feedback="full": every output and IPython's whole
traceback, the text main gave until compact feedback) and after (feedback="compact"), on the
corpus of common agent cells in tests/feedback_corpus.py and on a whole baseline episode.

For the corpus: median and p90 characters (and approximate tokens) of error and display
feedback, how often the exception's message is on the first line, how often the feedback
names the fix (each case's `fix` strings all present), and the 60x40 DataFrame's length.
For the episode: the baseline agent on one built-in competition, played once in each style;
the whole compact feedback is written out for reading.

    python bench/feedback.py [--competition penguin-species]

Writes bench/results/feedback.md and bench/results/feedback-episode.md. About 5 minutes on a
shared 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import dojo_kernel
import feedback_corpus as corpus
import tiny_competition as tiny
from dojo_kernel.agents import get_agent, run_episode
from dojo_kernel.compact import approx_tokens

RESULTS = ROOT / "bench" / "results"
STYLES = ("full", "compact")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_corpus(competition: str, out: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for style in STYLES:
        def make(style=style, **settings):
            return dojo_kernel.make(competition, output_dir=out / style, warm_pool=0, feedback=style, **settings)
        rows[style] = []
        for case, obs, info in corpus.run(make):
            feedback = obs["feedback"]
            rows[style].append({
                "case": case, "chars": len(feedback), "tokens": approx_tokens(feedback),
                "first": case.first is None or case.first in feedback.split("\n", 1)[0],
                "fix": bool(case.fix) and all(text in feedback for text in case.fix),
                "ok": not corpus.problems(case, feedback, info),
            })
            print(f"{style:8} {case.name:22} {len(feedback):6} chars", flush=True)
    return rows


def run_baseline(name: str, out: Path) -> dict[str, list[str]]:
    feedback: dict[str, list[str]] = {}
    for style in STYLES:
        env = dojo_kernel.make(name, output_dir=out / f"episode-{style}", max_steps=20, agent="baseline",
                               feedback=style)
        texts: list[str] = []
        run_episode(env, get_agent("baseline"),
                    on_step=lambda event, kept=texts: kept.append(event.observation["feedback"]))
        feedback[style] = texts
        print(f"baseline {style}: {len(texts)} steps, {sum(map(len, texts))} chars", flush=True)
    return feedback


def summary(rows: list[dict], kind: str) -> dict[str, float]:
    chosen = [row for row in rows if (row["case"].category is not None) == (kind == "error")]
    chars = [row["chars"] for row in chosen]
    tokens = [row["tokens"] for row in chosen]
    return {"n": len(chosen), "median": statistics.median(chars), "p90": percentile(chars, 90),
            "tokens": statistics.median(tokens), "total": sum(chars)}


def write(args: argparse.Namespace, rows: dict[str, list[dict]], episode: dict[str, list[str]],
          seconds: float) -> None:
    memory_gb = psutil.virtual_memory().total / 2**30
    full, short = rows["full"], rows["compact"]
    errors = {style: summary(rows[style], "error") for style in STYLES}
    displays = {style: summary(rows[style], "display") for style in STYLES}
    with_fix = [i for i, row in enumerate(short) if row["case"].fix]
    with_first = [i for i, row in enumerate(short) if row["case"].first]
    wide = {style: next(row["chars"] for row in rows[style] if row["case"].name == "wide_dataframe")
            for style in STYLES}

    def ratio(before: float, after: float) -> str:
        return f"{before / after:.1f}x" if after else "-"

    lines = [
        "# Feedback: length and what it holds, before and after compaction",
        "",
        f"Command: `python bench/feedback.py --competition {args.competition}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {seconds:.0f} s in all  ",
        f"Machine: {os.cpu_count()}-core, {memory_gb:.0f} GB ({platform.processor() or platform.machine()}), "
        f"shared with other work (load average {os.getloadavg()[0]:.1f} at the end)",
        "",
        "Before: `feedback=\"full\"`, the text every step gave until compact feedback (all outputs and",
        "IPython's whole traceback). After: `feedback=\"compact\"` (the default), budget",
        f"`feedback_chars={dojo_kernel.env.EnvSettings().feedback_chars}`. Both runs step the same cells through",
        f"a real env: the {len(short)} cases of `tests/feedback_corpus.py`. Tokens are `approx_tokens` (a word",
        "piece per 4 letters, one per punctuation mark).",
        "",
        "| | before: median | p90 | median tokens | after: median | p90 | median tokens | median ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, table in (("error cells", errors), ("display cells", displays)):
        before, after = table["full"], table["compact"]
        lines.append(f"| {label} ({after['n']}) | {before['median']:.0f} | {before['p90']:.0f} | "
                     f"{before['tokens']:.0f} | {after['median']:.0f} | {after['p90']:.0f} | {after['tokens']:.0f} | "
                     f"{ratio(before['median'], after['median'])} |")
    lines += [
        "",
        f"- 60x40 DataFrame: {wide['full']:,} characters before, {wide['compact']:,} after (target <= 2,500).",
        f"- Exception message on the first line: {sum(short[i]['first'] for i in with_first)} of {len(with_first)} "
        f"cases after, {sum(full[i]['first'] for i in with_first)} before.",
        f"- The feedback names the fix (the case's `fix` strings all present): "
        f"{sum(short[i]['fix'] for i in with_fix)} of {len(with_fix)} cases after, "
        f"{sum(full[i]['fix'] for i in with_fix)} before.",
        f"- Every check of the case met (what `tests/test_feedback.py` asserts): "
        f"{sum(row['ok'] for row in short)} of {len(short)} after, {sum(row['ok'] for row in full)} before.",
        "",
        "| case | before | after | first line | names the fix |",
        "|---|---|---|---|---|",
    ]
    for before, after in zip(full, short):
        case = after["case"]
        lines.append(f"| {case.name} | {before['chars']:,} | {after['chars']:,} | "
                     f"{'yes' if after['first'] else 'no'} | "
                     f"{'-' if not case.fix else 'yes' if after['fix'] else 'no'} |")
    totals = {style: sum(map(len, episode[style])) for style in STYLES}
    lines += [
        "",
        f"## A whole baseline episode ({args.competition})",
        "",
        "| | steps | characters | approx tokens | longest step |",
        "|---|---|---|---|---|",
    ]
    for style in STYLES:
        texts = episode[style]
        lines.append(f"| {style} | {len(texts)} | {totals[style]:,} | {sum(map(approx_tokens, texts)):,} | "
                     f"{max(map(len, texts)):,} |")
    lines += ["", "The compact episode's feedback, step by step: [feedback-episode.md](feedback-episode.md)."]
    (RESULTS / "feedback.md").write_text("\n".join(lines) + "\n")
    pages = [f"# The feedback of a baseline episode on {args.competition} (compact)", ""]
    for number, text in enumerate(episode["compact"], start=1):
        pages += [f"## Step {number} ({len(text):,} characters)", "", "```", text.replace("```", "'''"), "```", ""]
    (RESULTS / "feedback-episode.md").write_text("\n".join(pages))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competition", default="penguin-species", help="the built-in the baseline episode plays")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dojo-bench-feedback-") as out:
        competition = tiny.build(Path(out) / "competitions")
        dojo_kernel.get_competition(args.competition)  # built before anything is timed
        rows = run_corpus(competition.name, Path(out))
        episode = run_baseline(args.competition, Path(out))
    write(args, rows, episode, time.perf_counter() - started)


if __name__ == "__main__":
    main()
