"""The `dojo` command: list, prepare, run, batch, replay, report, leaderboard and attach.

Every failure a user can fix ends as one line on stderr ("dojo run: error: ...") and exit
code 2; no traceback. Exit 1 means the command ran but its result is bad (a replay that
disagrees); 130 means it was interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_args import (
    EXIT_USAGE,
    UsageError,
    _key_values,
    _one_line,
    _parse_gpus,
    _Parser,
    _settings_from,
    _suite,
    non_negative_int,
    positive_float,
    positive_int,
)
from .errors import ConfigError, DojoError, expected
from .feedback import size as size_text
from .printable import plain, printable
from .rundir import ATTACH_FILE, KERNEL_POINTER_FILE, RunDir

if TYPE_CHECKING:
    from .batch import BatchResult

# -- commands --------------------------------------------------------------------------

def _console():
    from rich.console import Console

    # Piped into a file or grep there is no terminal width to respect: keep rows whole.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _dir_size(path: Path) -> int | None:
    if not path.is_dir():
        return None
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def _catalog_module() -> Any:
    # imported on use: the catalog reads pandas and the metric library
    return importlib.import_module("dojo_kernel.prepare.catalog")


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from . import competition as registry
    from . import dir_checks
    from .competition import data_root, get_competition, list_competitions
    from .prepare import builtin

    table = Table(title=f"competitions (data root: {data_root()})",
                  caption="a built-in is built on its first `dojo run` (under a minute); Kaggle ones need `dojo prepare NAME`")
    for column in ("name", "kind", "metric", "size", "built"):
        table.add_column(column, no_wrap=column in ("name", "metric", "size"), overflow="fold")
    shown = set()
    with warnings.catch_warnings(record=True) as skipped:  # odd data-root folders: one line each, not a warning dump
        warnings.simplefilter("always")
        names = list_competitions() if args.suite is None else list(_suite(args.suite))
    for warning in skipped:
        print(f"dojo list: {printable(str(warning.message).removeprefix('dojo-kernel: '), newlines=False)}",
              file=sys.stderr)
    for name in names:
        shown.add(name)
        spec = builtin.BUILTINS.get(name)
        if spec is not None:  # described without building it: listing must stay instant
            path = data_root() / name
            built = builtin.is_current(path)
            kind, metric = f"{spec.category}/{spec.task}", spec.metric
        elif name in registry.registered_names():
            competition = get_competition(name)
            path, built = Path(competition.public_dir).parent, bool(competition.is_built)
            kind = "/".join(part for part in (competition.category, competition.task) if part)
            metric = competition.metric
        else:  # a dir under the data root: read its manifest only, never load (or import) what it names
            path = data_root() / name
            try:
                facts = dir_checks.summarize(path)
            except DojoError as error:
                print(f"dojo list: skipped {printable(name, newlines=False)}: {printable(_one_line(error))}",
                      file=sys.stderr)
                continue
            kind, metric, built = facts["kind"], facts["metric"], facts["built"]
        size = size_text(_dir_size(path)) if built else "-"
        # a dir's manifest is text from whoever made it: shown as written, never read as markup
        state = "yes" if built else "no"
        if spec is not None and not built and spec.needs and importlib.util.find_spec(spec.needs) is None:
            state = f"no: needs {spec.needs} (pip install 'dojo-kernel[builtins]')"
        table.add_row(*(plain(cell, newlines=False) for cell in (name, kind or "-", str(metric), size, state)))
    catalog_rows = _catalog_module().list_catalog() if args.all and args.suite is None else []
    for row in catalog_rows:
        if row["name"] in shown:
            continue
        kind = "/".join(part for part in (row.get("category"), row.get("task")) if part)
        table.add_row(row["name"], kind or "-", str(row.get("metric") or "-"), row.get("data_size") or "-",
                      "yes" if row.get("prepared") else "no (Kaggle)" if row.get("preparable") else "no (listed only)")
    _console().print(table)
    if catalog_rows:
        preparable = sum(1 for row in catalog_rows if row.get("preparable"))
        _console().print(
            f"catalog: {len(catalog_rows)} Kaggle competitions, {preparable} prepare and grade here "
            f"(`dojo prepare NAME`), {len(catalog_rows) - preparable} listed only (`dojo prepare NAME` says why)"
        )
    suites = ", ".join(f"{name} ({len(members)} built-ins)" for name, members in builtin.SUITES.items())
    _console().print(f"suites: {suites}; show one with `dojo list --suite NAME`, run one with `dojo batch --suite NAME`")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .competition import data_root
    from .prepare import builtin
    from .prepare.parallel_build import build_many

    console = _console()
    catalog = _catalog_module()
    builtins = [name for name in args.names if name in builtin.BUILTINS]
    if builtins and args.raw_dir is not None:
        raise UsageError(f"expected --raw-dir only for Kaggle competitions, got it for the built-in {builtins[0]!r}")
    failed = []  # each failure is named as it happens; the other builds go on
    for done in build_many(builtins, root=data_root(), force=args.force, parallel=args.parallel):
        if done.ok:
            console.print(f"prepared [bold]{plain(done.name)}[/bold] in {done.wall_s:.1f}s ({done.cpu_s:.1f}s CPU): {done.path}")
        else:
            failed.append(done.name)
            print(f"dojo prepare: error: {done.name} failed: {printable(done.error or '')}", file=sys.stderr)
    for name in (name for name in args.names if name not in builtin.BUILTINS):
        started = time.monotonic()
        try:
            path = catalog.prepare_competition(name, raw_dir=args.raw_dir, overwrite=args.force)
        except catalog.PREPARE_ERRORS as error:
            raise UsageError(f"{name}: {error}") from None
        console.print(f"prepared [bold]{plain(name)}[/bold] in {time.monotonic() - started:.1f}s: {path}")
    if failed:
        raise UsageError(f"{len(failed)} of {len(builtins)} built-ins failed ({', '.join(failed)}), the others are built: "
                         "fix the cause above and rerun `dojo prepare` with those names")
    return 0


def _check_gpu(index: int | None) -> None:
    """--gpu INDEX needs that GPU: without one the kernel would silently run on the CPU."""
    if index is None:
        return
    from .limits import NVML

    if not NVML.available():
        raise UsageError(f"expected a GPU for --gpu {index}, got none ({NVML.error}); "
                         "drop --gpu to run on the CPU")
    count = len(getattr(NVML, "_handles", ()))
    if count and index >= count:
        raise UsageError(f"expected --gpu below {count} (the GPUs NVML finds), got {index}")


def cmd_run(args: argparse.Namespace) -> int:
    from . import make
    from .agents import get_agent, run_episode
    from .console_view import LiveSteps, attach_lines, isolation_line, print_paths, summary_table

    _check_gpu(args.gpu)
    options = _key_values(args.agent_option or [], "--agent-option", "folds=3")
    if args.model:
        options["model"] = args.model
    if args.base_url:
        options["base_url"] = args.base_url
    if args.vision:
        options["vision"] = True
    agent = get_agent(args.agent, **options)
    # One layout for every run dir: <out>/<competition>/<timestamp>-<id>, as make() makes them.
    env = make(args.competition, output_dir=args.out / args.competition, agent=args.agent, **_settings_from(args))
    console = _console()
    warning = isolation_line(env.isolation_plan)
    if warning:  # before the first step, on screen, live table or not
        print(warning, file=sys.stderr, flush=True)
    try:
        if args.agent == "human":  # a live table would fight with the prompt
            from .agents.human import CtrlC, HumanAgent

            if isinstance(agent, HumanAgent):  # the registered "human" is one, unless a user re-registered the name
                agent.header = lambda: attach_lines(env.run_dir) if env.run_dir else None  # shown at the start
            with CtrlC(env) as ctrl_c:
                summary = run_episode(env, agent, seed=args.seed, on_action=ctrl_c.on_action, on_step=ctrl_c.on_step)
        elif args.quiet:
            summary = run_episode(env, agent, seed=args.seed)
        else:
            with LiveSteps(console, args.competition, args.agent, env=env) as live:
                summary = run_episode(env, agent, seed=args.seed, on_step=live.on_step, on_action=live.on_action)
    except KeyboardInterrupt:
        print(f"dojo run: interrupted; the episode so far is in {printable(env.run_dir)}", file=sys.stderr)
        return 130
    except DojoError as error:  # e.g. an LLM endpoint that stays down: say where the episode so far is
        notebook = RunDir(env.run_dir).notebook if env.run_dir else None
        # An episode that took no step leaves no run dir (see DojoEnv._close_episode): say so.
        where = (f" (the episode so far: {notebook})" if notebook is not None and notebook.is_file()
                 else " (no step was taken, so nothing was recorded)")
        raise UsageError(f"{_one_line(error)}{where}") from None
    console.print()
    console.print(summary_table(summary))
    print_paths(summary)  # plain print: a path is never wrapped or cut, whatever the terminal's width
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0


def add_batch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of `dojo batch`."""
    parser.add_argument("targets", nargs="+", metavar="COMPETITION|GRID.toml",
                        help="competition names, or one TOML grid file (competitions, agents, seeds, settings)")
    parser.add_argument("--agent", action="append", dest="agents", metavar="NAME",
                        help="agent name or module:Class (repeat for several; default baseline)")
    parser.add_argument("--agent-option", action="append", default=[], metavar="KEY=VALUE",
                        help="option for every agent (VALUE read as TOML, else text); repeatable (default: none)")
    parser.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="env setting (max_steps=10, memory_gb=2, reward_mode=final, ...); repeatable "
                             "(default: make()'s defaults)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="batch folder: one folder per episode, <competition>/<agent>/seed-<n> (required)")
    parser.add_argument("--parallel", type=int, default=None, metavar="N", help="episodes at once (default: one per core, and per GPU slot with --gpus)")
    parser.add_argument("--cpus", type=int, default=None, metavar="N",
                        help="CPU limit per episode (default: cores / --parallel)")
    parser.add_argument("--gpus", default=None, metavar="0,1", help="GPU indices to spread episodes over (default: none, CPU only)")
    parser.add_argument("--per-gpu", type=int, default=None, metavar="N", help="episodes per GPU (default 1)")
    parser.add_argument("--gpu-memory-gb", type=float, default=None, metavar="GB",
                        help="memory of each GPU, where NVML cannot tell (each episode gets GB / --per-gpu; "
                             "default: what NVML reports)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run episodes as Ray tasks: a local Ray, or the cluster at ADDRESS (default: local "
                             "processes, no Ray)")
    parser.add_argument("--retries", type=int, default=None, metavar="N",
                        help="tries again for a crashed episode before it is reported (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display (default: shown)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report page (default: written)")
    return parser


def cmd_batch(args: argparse.Namespace) -> int:
    """Run `dojo batch`; returns the exit code (0: every episode finished, 1: some failed)."""
    try:
        result = _run_batch_command(args)
    except DojoError as error:
        print(f"dojo batch: error: {printable(_one_line(error))}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{result.count('ok')} finished, {result.count('skipped')} skipped (done before), "
          f"{result.count('failed')} failed: {printable(result.results_md)}")
    for episode in result.failed:  # the error is the episode's own text: control characters shown
        print(f"  failed {printable(episode.spec.key)} after {episode.attempts} attempt(s): "
              f"{printable(episode.error, newlines=False)}")
    if result.report:
        print(f"report: {result.report}")
    return 1 if result.failed else 0


def _run_batch_command(args: argparse.Namespace) -> BatchResult:
    from .batch import Grid, load_grid, run_batch

    if getattr(args, "suite", None):  # the suite's competitions come before any named ones
        args.targets = [*_suite(args.suite), *(args.targets or [])]
    elif not args.targets:
        raise UsageError("expected competition names, a grid file or --suite NAME, got none")
    if len(args.targets) == 1 and args.targets[0].endswith(".toml"):
        grid = load_grid(args.targets[0])
    else:
        grid = Grid(list(args.targets))
    # Flags override the grid file.
    if args.agents:
        grid.agents = list(args.agents)
    if args.seeds is not None:
        grid.seeds = args.seeds
    grid.settings = {**grid.settings, **_key_values(args.settings, "--set")}
    specs = grid.specs(_key_values(args.agent_option, "--agent-option"))

    def option(name: str, default: Any = None) -> Any:
        value = getattr(args, name)
        return value if value is not None else grid.run_options.get(name, default)

    out = option("out")
    if not out:
        raise ConfigError(expected("--out DIR (or 'out' in the grid file)", None, "e.g. --out runs/batch-1"))
    ray = option("ray")  # --ray [ADDRESS], or `ray = true | "ADDRESS"` in the grid file
    use_ray = ray not in (None, False)
    return run_batch(specs, out, backend="ray" if use_ray else "local",
                     ray_address=None if not use_ray or ray is True else str(ray),
                     parallel=option("parallel"), gpus=_parse_gpus(option("gpus")),
                     per_gpu=option("per_gpu", 1), gpu_memory_gb=option("gpu_memory_gb"), cpus=option("cpus"),
                     retries=option("retries", 1), progress=not args.no_progress, report=not args.no_report)


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    notebook = Path(args.notebook)
    if not notebook.exists():
        raise UsageError(f"expected a notebook or a run dir, got {str(notebook)!r} (it does not exist)")
    kwargs: dict[str, Any] = {"split": args.split}
    if args.isolation is not None:
        kwargs["isolation"] = args.isolation
    if args.cell_timeout is not None:  # the default limits, with another cell timeout (never the notebook's)
        from .limits import Limits

        kwargs["limits"] = Limits().replace(cell_timeout_s=args.cell_timeout)
    if args.out is not None:
        report = replay(notebook, run_dir=args.out, **kwargs)
        print(report.to_text())
        return 0 if report.agrees else 1
    import tempfile

    # Nothing left behind in the temp dir: the replay's run dir goes once it is compared.
    with tempfile.TemporaryDirectory(prefix="dojo-replay-") as scratch:
        report = replay(notebook, run_dir=Path(scratch) / "run", **kwargs)
        print(report.to_text())
    print("(the replay's run dir is removed; pass --out DIR to keep it)")
    return 0 if report.agrees else 1


def cmd_report(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .episode_tree import rich_tree
    from .report import find_runs, load_runs, load_trees, summary_rows, write_report

    with warnings.catch_warnings(record=True) as skipped:  # runs that do not read: one line each
        warnings.simplefilter("always")
        page = write_report(args.runs_dir, args.out)
        runs = find_runs(args.runs_dir)
        rows, trees = summary_rows(load_runs(runs)), load_trees(args.runs_dir, runs)
    for message in dict.fromkeys(str(warning.message) for warning in skipped):
        print(f"dojo report: {printable(message.removeprefix('dojo-kernel: '), newlines=False)}", file=sys.stderr)
    table = Table(title=f"runs in {plain(args.runs_dir)}")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:  # names and fields come from the run dirs: shown as written, never as markup
        table.add_row(*(plain(value, newlines=False) for value in row.values()))
    console = _console()
    console.print(table)
    for tree in trees:
        console.print(rich_tree(tree))
    console.print(f"report: {plain(page)}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from .leaderboard import (
        AGENT_COLUMNS,
        RUN_COLUMNS,
        agent_table,
        counted_runs,
        read_runs,
        run_rows,
        text_cell,
        to_csv,
        uncounted_note,
    )

    runs = read_runs(args.runs_dirs)
    rows = agent_table(runs)  # one run per episode: a fork inside an episode is part of it
    counted = len(counted_runs(runs))
    title = escape(f"{counted} run(s) in {', '.join(map(str, args.runs_dirs))}")
    table = Table(title=title + (f" ({len(runs) - counted} more listed, not counted)" if counted < len(runs) else ""))
    for column in AGENT_COLUMNS:
        table.add_column(column.replace("_", " "), justify="left" if column == "agent" else "right")
    for row in rows:
        table.add_row(*(escape(text_cell(column, row[column])) for column in AGENT_COLUMNS))
    _console().print(table)
    note = uncounted_note(runs)
    if note:
        print(note + " Per run (column branch_of): --runs-csv FILE, or `dojo report`.")
    target = args.csv if args.csv is not None else Path(args.runs_dirs[0]) / "leaderboard.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_csv(rows, AGENT_COLUMNS), encoding="utf-8")
    print(f"per agent: {target}")
    if args.runs_csv is not None:
        args.runs_csv.write_text(to_csv(run_rows(runs), RUN_COLUMNS), encoding="utf-8")
        print(f"per run:   {args.runs_csv}")
    return 0


def _alive(pid: Any) -> bool:
    import psutil

    return isinstance(pid, int) and psutil.pid_exists(pid)


def cmd_attach(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"expected a run dir, got {str(run_dir)!r} (no such directory)")
    layout = RunDir(run_dir)
    pointer = layout.read_kernel_pointer()
    if pointer is None:
        raise UsageError(f"expected a run dir with {KERNEL_POINTER_FILE} (written when an episode starts), got none "
                         f"in {printable(run_dir)}; pass the folder `dojo run` printed")
    if layout.is_finished or ("pid" in pointer and not _alive(pointer["pid"])):
        raise UsageError(f"the episode in {printable(run_dir)} has ended: its kernel is gone. "
                         f"Open its notebook instead: jupyter lab {printable(layout.notebook)}")
    # Only the copy the env wrote beside kernel.json, where the kernel cannot write: the
    # kernel's own connection file could point a client anywhere.
    connection = layout.attach_file.resolve()
    if not layout.attach_file.is_file() or layout.attach_file.is_symlink():
        raise UsageError(f"expected {ATTACH_FILE} (written by the env when the kernel starts) in {printable(run_dir)}, "
                         "got none: the run was made by an older dojo-kernel, or it has ended")
    print(f"The episode's kernel is running (pid {printable(pointer.get('pid', '?'))}). To open it beside the agent:\n"
          f"  cd {printable(run_dir.resolve())}\n"
          f"  jupyter console --existing {printable(connection)}\n"
          "Variables are shared with the agent, and what you run there is not recorded in the notebook. "
          "Leave with exit(keep_kernel=True) or Ctrl-D and answer 'n' to keep the kernel running.")
    if shutil.which("jupyter-console") is None:
        from .console_view import JUPYTER_HINT

        print(f"(jupyter console is not installed here: {JUPYTER_HINT})")
    return 0


# -- the parser ------------------------------------------------------------------------

def build_parser() -> _Parser:
    parser = _Parser(prog="dojo", description="Solve Kaggle-style competitions one notebook cell at a time.")
    from . import __version__
    from .isolation import default_threads
    from .limits import Limits

    defaults = Limits()

    parser.add_argument("--version", action="version", version=f"dojo-kernel {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    listing = commands.add_parser("list", help="show the competitions", description="Show the registered competitions.")
    listing.add_argument("--all", action="store_true", help="also show the Kaggle catalog (default: built-ins and prepared ones only)")
    listing.add_argument("--suite", metavar="NAME", help="only the built-ins of a named suite: lite or full (default: every competition)")

    prepare = commands.add_parser("prepare", help="build competition dirs",
                                  description="Build a built-in competition, or download and prepare a Kaggle one.")
    prepare.add_argument("names", nargs="+", metavar="NAME")
    prepare.add_argument("--raw-dir", type=Path, help="Kaggle files already downloaded here (default: download with the Kaggle API)")
    prepare.add_argument("--force", action="store_true", help="rebuild even where the dir exists (default: keep it)")
    prepare.add_argument("--parallel", type=positive_int, metavar="N",
                         help="build N built-ins at a time, each in its own process (default: the CPU count)")

    run = commands.add_parser("run", help="play one episode",
                              description="Play one episode and leave its notebook, reward log and summary in a run dir.")
    run.add_argument("competition", metavar="COMPETITION")
    run.add_argument("--agent", default="baseline", help="baseline, llm, aide, openai-agents, tree, human, or module:Class (default baseline)")
    run.add_argument("--agent-option", action="append", metavar="KEY=VALUE", help="passed to the agent, VALUE read as TOML (repeatable; default: none)")
    run.add_argument("--model", help="llm and openai-agents agents: the model name (default: $DOJO_LLM_MODEL)")
    run.add_argument("--base-url", help="llm and openai-agents agents: the endpoint (default: $OPENAI_BASE_URL)")
    run.add_argument("--vision", action="store_true", help="llm agent: send the figures cells display to the model as images (default: text only)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="run dirs go to OUT/COMPETITION/<time>-<id> (default ./runs)")
    run.add_argument("--memory-gb", type=positive_float, help=f"memory limit of the kernel's process tree (default {defaults.memory_gb:g})")
    run.add_argument("--cell-timeout", type=positive_float, metavar="SECONDS", help=f"wall clock of one cell (default {defaults.cell_timeout_s:g})")
    run.add_argument("--episode-time", type=positive_float, metavar="SECONDS", help="wall clock of the episode (default: no limit)")
    run.add_argument("--max-steps", type=positive_int, help="steps before the episode is truncated (default: no limit)")
    run.add_argument("--gpu", type=non_negative_int, metavar="INDEX", help="the GPU the kernel may use; an error without one (default: none, CPU only)")
    run.add_argument("--gpu-memory-gb", type=positive_float, help="GPU memory limit (default: no limit)")
    run.add_argument("--cpus", type=positive_int, help=f"threads for BLAS/OpenMP/joblib in the kernel (default {default_threads()}: "
                     "the usable cores less one for the env)")
    run.add_argument("--isolation", choices=("auto", "namespaces", "none"), help="how the kernel is sandboxed (default auto: a sandbox where bubblewrap works, else "
                          "unisolated, and said so)")
    run.add_argument("--reward-mode", choices=("improvement", "position", "raw", "final"), help="what the reward is (default improvement)")
    run.add_argument("--seed", type=non_negative_int, help="seed for env.reset (default: none)")
    run.add_argument("--quiet", action="store_true", help="no live table, just the summary (default: a live table)")
    run.add_argument("--json", metavar="FILE", help="also write the episode summary as JSON (default: not written)")

    batch = commands.add_parser("batch", help="many episodes in parallel (a grid of competitions, agents, seeds)",
                                description="Run a grid of episodes in parallel; one run dir each, a results table "
                                            "and a report.")
    add_batch_arguments(batch)
    batch.add_argument("--suite", metavar="NAME", help="run every built-in of a named suite: lite or full (default: none, name competitions)")
    for action in batch._actions:  # with --suite, naming competitions is optional
        if action.dest == "targets":
            action.nargs = "*"

    replay = commands.add_parser("replay", help="rerun a notebook and compare",
                                 description="Rerun a recorded trajectory.ipynb in a fresh kernel and compare it with the record.")
    replay.add_argument("notebook", metavar="NOTEBOOK", help="a trajectory.ipynb, or the run dir holding it")
    replay.add_argument("--cell-timeout", type=positive_float, metavar="SECONDS",
                        help="wall clock of one cell (default: Limits()'s; the notebook's is never used)")
    replay.add_argument("--isolation", choices=("auto", "namespaces", "none"),
                        help="how the kernel is sandboxed (default: auto; the notebook's is never used)")
    replay.add_argument("--out", type=Path, metavar="DIR",
                        help="keep the replay's run dir here (default: a temporary one, removed afterwards)")
    replay.add_argument("--split", choices=("public", "private", "full"), default="private",
                        help="which split's score is compared (default private)")

    report = commands.add_parser("report", help="tables and curves of runs",
                                 description="Write a PNG per run and an HTML page of all runs under RUNS_DIR.")
    report.add_argument("runs_dir", metavar="RUNS_DIR", type=Path)
    report.add_argument("--out", type=Path, help="where the report goes (default RUNS_DIR)")

    leaderboard = commands.add_parser(
        "leaderboard", help="per-agent totals across runs (medals, rank, Elo)",
        description="Per-agent totals across the runs under RUNS_DIR...: medal rate, above-median rate, valid "
                    "submissions, mean rank, HumanRank-style position and Elo from head-to-head results.")
    leaderboard.add_argument("runs_dirs", nargs="+", metavar="RUNS_DIR", type=Path)
    leaderboard.add_argument("--csv", type=Path, metavar="FILE",
                             help="where the per-agent CSV goes (default RUNS_DIR/leaderboard.csv, the first one)")
    leaderboard.add_argument("--runs-csv", type=Path, metavar="FILE",
                             help="also write one CSV row per run (default: not written)")

    attach = commands.add_parser("attach", help="open a running episode's kernel",
                                 description="Print how to open a running episode's kernel with jupyter console.")
    attach.add_argument("run_dir", metavar="RUN_DIR")
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "prepare": cmd_prepare, "run": cmd_run, "batch": cmd_batch, "replay": cmd_replay,
    "report": cmd_report, "leaderboard": cmd_leaderboard, "attach": cmd_attach,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extra:  # named by its subcommand, as every other error is
        where = f"dojo {args.command}" if args.command else "dojo"
        parser.exit(EXIT_USAGE, f"{where}: error: unrecognized arguments: {' '.join(extra)} (see {where} --help)\n")
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, DojoError, OSError) as error:  # OSError: a folder that cannot be made or read
        print(f"dojo {args.command}: error: {printable(_one_line(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"dojo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
