"""Headroom of the built-in competitions: where the baseline agent lands on each reference ladder.

    python bench/headroom.py [--suite full|lite] [--parallel 2] [--write] [NAME ...]

For each built-in: build it (timed, wall clock and CPU seconds of the build), play one
episode of the baseline agent with its default options, and report the competition, its
rows, metric, the sample submission's private score, the baseline's private score, the
best reference solution's private score and the baseline's private position (the share of
the ladder it beats or ties). A built-in has headroom when that position is between 0.2
and 0.9: the baseline is neither hopeless nor at the top, so a stronger agent shows.

Prints a Markdown table; with --write it also replaces the headroom section of
BENCHMARKS.md and writes bench/results/headroom.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- headroom:start -->", "<!-- headroom:end -->"
LOW, HIGH = 0.2, 0.9


def build_timed(name: str) -> tuple[float, float]:
    """Build ``name`` afresh in the data root; (wall seconds, CPU seconds) of the build."""
    from dojo_kernel.competition import data_root
    from dojo_kernel.prepare import builtin

    wall, cpu = time.perf_counter(), time.process_time()
    # jobs=1: this script already runs --parallel competitions at once, and the ladder's CPU
    # time is then all in this process, where process_time sees it.
    builtin.build(name, root=data_root(), force=True, jobs=1)
    return time.perf_counter() - wall, time.process_time() - cpu


def one(name: str, cpus: int, out: str, rebuild: bool) -> dict[str, Any]:
    import dojo_kernel
    from dojo_kernel.agents import get_agent, run_episode
    from dojo_kernel.prepare.builtin import BUILTINS

    build_wall, build_cpu = build_timed(name) if rebuild else (float("nan"), float("nan"))
    competition = dojo_kernel.get_competition(name)
    sample = competition.grade(competition.sample_submission_path, split="private")
    best = competition.leaderboard("private").iloc[0]
    env = dojo_kernel.make(name, output_dir=out, max_steps=20, cpus=cpus, agent="baseline")
    started = time.perf_counter()
    summary = run_episode(env, get_agent("baseline"))
    env_summary = summary["env_summary"]
    return {
        "name": name,
        "rows": BUILTINS[name].rows,
        "kind": f"{BUILTINS[name].category}/{BUILTINS[name].task}",
        "metric": competition.metric,
        "sample": sample.score,
        "baseline": summary["final_score"],
        "best": float(best["score"]),
        "best_team": str(best["team"]),
        "position": env_summary.get("final_position"),
        "fallbacks": summary.get("agent_stats", {}).get("fallbacks"),
        "episode_s": time.perf_counter() - started,
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        "commit": _commit(),
    }


def _commit() -> str:
    """The commit measured, so a row kept by a later partial run can say where it came from."""
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| competition | rows | kind | metric | sample | baseline | best reference | baseline position | headroom "
        "| baseline time | build (wall / CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        position = row["position"]
        inside = position is not None and LOW <= position <= HIGH
        baseline = "-" if row["baseline"] is None else f"{row['baseline']:.4g}"
        lines.append(
            f"| {row['name']}{' *' if row.get('carried_from') else ''} | {row['rows']} | {row['kind']} | {row['metric']} | {row['sample']:.4g} | {baseline} | "
            f"{row['best']:.4g} | {'-' if position is None else f'{position:.2f}'} | {'yes' if inside else 'no'} | "
            f"{row['episode_s']:.0f}s | {row['build_wall_s']:.0f}s / {row['build_cpu_s']:.0f}s |"
        )
    inside = sum(1 for r in rows if r["position"] is not None and LOW <= r["position"] <= HIGH)
    lines += ["", f"Baseline position between {LOW} and {HIGH} on {inside} of {len(rows)} built-ins."]
    carried = sorted({row["carried_from"] for row in rows if row.get("carried_from")})
    if carried:  # rows kept from an earlier run's table (bench/results/headroom.json), not re-run by this one
        lines += ["", f"\\* not re-run by this command: measured by the same script at commit {', '.join(carried)}, "
                  "whose built-in and baseline path for it are unchanged since."]
    return "\n".join(lines)


def write(text: str, command: str) -> None:
    section = (
        f"{START}\n## Headroom of the built-in competitions\n\n"
        f"Command: `{command}` re-measures the built-ins it names and keeps the other rows of "
        f"bench/results/headroom.json (load average {os.getloadavg()[0]:.1f} when it finished; the CPU seconds of a "
        "build are what it costs on an idle core, since the ladder fits single-threaded).\n\n"
        f"{text}\n{END}"
    )
    benchmarks = ROOT / "BENCHMARKS.md"
    current = benchmarks.read_text(encoding="utf-8")
    if START in current and END in current:
        current = current[: current.index(START)] + section + current[current.index(END) + len(END) :]
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    benchmarks.write_text(current, encoding="utf-8")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "headroom.md").write_text(section + "\n", encoding="utf-8")


def main() -> None:
    from dojo_kernel.prepare.builtin import BUILTIN_NAMES, suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--suite", default="full", help="lite or full (default), when no names are given")
    parser.add_argument("--parallel", type=int, default=1, help="episodes at once (default 1)")
    parser.add_argument("--cpus", type=int, default=1, help="threads per kernel (default 1)")
    parser.add_argument("--no-rebuild", action="store_true", help="use the built competitions; no build times")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md and bench/results/headroom.md")
    args = parser.parse_args()
    names = args.names or list(suite(args.suite))
    unknown = [n for n in names if n not in BUILTIN_NAMES]
    if unknown:
        parser.error(f"expected built-in competitions, got {', '.join(unknown)}")
    command = "python bench/headroom.py " + " ".join(
        [*(["--suite", args.suite] if not args.names else args.names), "--parallel", str(args.parallel), "--write"]
    )
    with tempfile.TemporaryDirectory(prefix="dojo-bench-headroom-") as out:
        with ProcessPoolExecutor(max_workers=args.parallel) as pool:
            futures = {pool.submit(one, name, args.cpus, out, not args.no_rebuild): name for name in names}
            done: dict[str, dict[str, Any]] = {}
            for future in as_completed(futures):
                try:
                    row = future.result()
                except Exception as error:  # one broken competition must not lose the others' rows
                    print(f"{futures[future]}: FAILED {type(error).__name__}: {error}", flush=True)
                    continue
                done[row["name"]] = row
                print(f"{row['name']}: baseline {row['baseline']} position {row['position']} "
                      f"({row['episode_s']:.0f}s, build {row['build_cpu_s']:.0f}s CPU)", flush=True)
                if args.write:  # after every episode, so a long run leaves its table so far
                    write(table(merged(done)), command)
    text = table(merged(done) if args.write else [done[n] for n in names if n in done])
    print(text)


def merged(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """These rows over the ones an earlier run saved (bench/results/headroom.json), in the table's order."""
    import json

    from dojo_kernel.prepare.builtin import BUILTINS

    saved = ROOT / "bench" / "results" / "headroom.json"
    known = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
    known = {name: {**row, "carried_from": row.get("commit") or row.get("carried_from")}
             for name, row in known.items() if name in BUILTINS and name not in rows}
    known.update(rows)
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    return sorted(known.values(), key=lambda row: (BUILTINS[row["name"]].rows, row["name"]))


if __name__ == "__main__":
    main()
