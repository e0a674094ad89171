"""The `dojo` command: list, prepare, run, batch, replay, report and attach.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import DojoError
from .feedback import size as size_text

EXIT_USAGE = 2


class UsageError(Exception):
    """A command-line problem the user fixes by changing the command."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: each says what it expected and what came -------------------------

def _number_type(kind: type, *, allow_zero: bool = False) -> Callable[[str], Any]:
    noun = "an integer" if kind is int else "a number"
    sign = ">= 0" if allow_zero else "> 0"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {sign}, got {text!r}") from None
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"expected {noun} {sign}, got {text!r}")
        return value

    parse.__name__ = noun  # argparse names the type in some messages
    return parse


positive_float = _number_type(float)
positive_int = _number_type(int)
non_negative_int = _number_type(int, allow_zero=True)


def _option_value(text: str) -> Any:
    """KEY=VALUE values are TOML where they parse (numbers, true, "text", [lists]), else plain
    text; the same reading as `dojo batch --agent-option`."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_agent_options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected --agent-option KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = _option_value(value)
    return options


# -- commands --------------------------------------------------------------------------

def _console():
    from rich.console import Console

    # Piped into a file or grep there is no terminal width to respect: keep rows whole.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _dir_size(path: Path) -> int | None:
    if not path.is_dir():
        return None
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def _catalog_module() -> Any | None:
    if importlib.util.find_spec("dojo_kernel.prepare.catalog") is None:
        return None
    return importlib.import_module("dojo_kernel.prepare.catalog")


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .competition import data_root, get_competition, list_competitions
    from .prepare import builtin

    table = Table(title=f"competitions (data root: {data_root()})",
                  caption="a built-in is built on its first `dojo run` (seconds); Kaggle ones need `dojo prepare NAME`")
    for column in ("name", "kind", "metric", "size", "built"):
        table.add_column(column, no_wrap=column in ("name", "metric", "size"), overflow="fold")
    shown = set()
    names = list_competitions() if args.suite is None else list(_suite(args.suite))
    for name in names:
        shown.add(name)
        spec = builtin.BUILTINS.get(name)
        if spec is not None:  # described without building it: listing must stay instant
            path = data_root() / name
            built = builtin.is_current(path)
            kind, metric = f"{spec.category}/{spec.task}", spec.metric
        else:
            competition = get_competition(name)
            path, built = Path(competition.public_dir).parent, bool(competition.is_built)
            kind = "/".join(part for part in (competition.category, competition.task) if part)
            metric = competition.metric
        size = size_text(_dir_size(path)) if built else "-"
        state = "yes" if built else "no"
        if spec is not None and not built and spec.needs and importlib.util.find_spec(spec.needs) is None:
            state = f"no: needs {spec.needs} (pip install 'dojo-kernel[builtins]')"
        table.add_row(name, kind or "-", str(metric), size, state)
    if args.all and args.suite is None:
        catalog = _catalog_module()
        if catalog is None:
            print("(the Kaggle catalog is not available in this build)", file=sys.stderr)
        else:
            for row in catalog.list_catalog():
                if row["name"] in shown:
                    continue
                kind = "/".join(part for part in (row.get("category"), row.get("task")) if part)
                table.add_row(row["name"], kind or "-", str(row.get("metric") or "-"), row.get("data_size") or "-",
                              "yes" if row.get("prepared") else "no (Kaggle)")
    _console().print(table)
    suites = ", ".join(f"{name} ({len(members)} built-ins)" for name, members in builtin.SUITES.items())
    _console().print(f"suites: {suites}; show one with `dojo list --suite NAME`, run one with `dojo batch --suite NAME`")
    return 0


def _suite(name: str) -> tuple[str, ...]:
    from .prepare import builtin

    try:
        return builtin.suite(name)
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None


def cmd_prepare(args: argparse.Namespace) -> int:
    from .competition import data_root
    from .prepare import builtin

    console = _console()
    catalog = _catalog_module()
    for name in args.names:
        started = time.monotonic()
        if name in builtin.BUILTINS:
            if args.raw_dir is not None:
                raise UsageError(f"expected --raw-dir only for Kaggle competitions, got it for the built-in {name!r}")
            path = builtin.build(name, root=data_root(), force=args.force)
        elif catalog is not None:
            try:
                path = catalog.prepare_competition(name, raw_dir=args.raw_dir, overwrite=args.force)
            except catalog.PREPARE_ERRORS as error:
                raise UsageError(f"{name}: {error}") from None
        else:
            raise UsageError(f"expected a built-in competition among {', '.join(builtin.BUILTIN_NAMES)}, got {name!r}")
        console.print(f"prepared [bold]{name}[/bold] in {time.monotonic() - started:.1f}s: {path}")
    return 0


def _settings_from(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for flag, key in (("memory_gb", "memory_gb"), ("cell_timeout", "cell_timeout_s"),
                      ("episode_time", "episode_time_s"), ("max_steps", "max_steps"),
                      ("isolation", "isolation"), ("reward_mode", "reward_mode"),
                      ("gpu", "gpu_device"), ("gpu_memory_gb", "gpu_memory_gb"), ("cpus", "cpus")):
        value = getattr(args, flag, None)
        if value is not None:
            settings[key] = value
    return settings


class _Progress:
    """The live view of `dojo run`: one table of the steps so far, redrawn after every step."""

    def __init__(self, console: Any, competition: str, agent: str, max_rows: int = 12) -> None:
        self.console, self.competition, self.agent, self.max_rows = console, competition, agent, max_rows
        self.rows: list[tuple[str, ...]] = []
        self.run_dir: str | None = None
        self.live = None

    def __enter__(self) -> _Progress:
        from rich.live import Live

        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def _render(self) -> Any:
        from rich.table import Table

        caption = f"run dir: {self.run_dir}  (dojo attach RUN_DIR opens its kernel)" if self.run_dir else None
        table = Table(title=f"{self.competition} / {self.agent}  (Ctrl-C stops the episode)", caption=caption,
                      min_width=len(caption) + 2 if caption else None)  # the path on one line
        for column in ("step", "action", "status", "reward", "score", "best", "budget left"):
            table.add_column(column, justify="right" if column in ("step", "reward", "score", "best") else "left")
        hidden = len(self.rows) - self.max_rows
        if hidden > 0:
            table.add_row("...", f"{hidden} earlier", "", "", "", "", "")
        for row in self.rows[-self.max_rows:]:
            table.add_row(*row)
        if not self.rows:
            table.add_row("-", "starting the kernel", "", "", "", "", "")
        return table

    def on_step(self, event: Any) -> None:
        self.run_dir = self.run_dir or event.info.get("run_dir")
        self.rows.append((str(event.index), event.action_name, str(event.status or "-"), f"{event.reward:.4g}",
                          _fmt(event.score), _fmt(event.best_score), _budget_text(event.budget)))
        if self.live is not None:
            self.live.update(self._render())


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _budget_text(budget: dict[str, Any]) -> str:
    parts = []
    for key, label, unit in (("steps_left", "steps", ""), ("time_left_s", "time", "s")):
        value = budget.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.0f}{unit}")
    return ", ".join(parts) or "-"


def _summary_table(summary: dict[str, Any]) -> Any:
    from rich.table import Table

    env = summary.get("env_summary") or {}
    table = Table(title="episode summary", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    rows = [("competition", summary.get("competition")), ("agent", summary.get("agent")),
            ("steps", summary.get("steps")), ("ended by", summary.get("stopped_by")),
            ("return", f"{summary.get('total_reward', 0.0):.4g}"),
            ("best score (public)", _fmt(summary.get("best_score"))),
            ("final score (private)", _fmt(summary.get("final_score")))]
    if env.get("final_position") is not None:
        rows.append(("final position", f"beats {env['final_position']:.1%} of the private leaderboard"))
    for key in ("medal", "above_median"):
        if env.get(key) is not None:
            rows.append((key.replace("_", " "), env[key]))
    rows.append(("time", f"{summary.get('duration_s', 0.0):.1f}s"))
    stats = summary.get("agent_stats") or {}
    if stats.get("total_tokens"):
        rows.append(("tokens", f"{stats['total_tokens']} ({stats.get('requests', 0)} requests)"))
    rows.append(("run dir", summary.get("run_dir")))
    for key, value in rows:
        table.add_row(key, "-" if value is None else str(value))
    return table


def cmd_run(args: argparse.Namespace) -> int:
    from . import make
    from .agents import get_agent, run_episode

    options = parse_agent_options(args.agent_option or [])
    if args.model:
        options["model"] = args.model
    if args.base_url:
        options["base_url"] = args.base_url
    agent = get_agent(args.agent, **options)
    env = make(args.competition, output_dir=args.out, agent=args.agent, **_settings_from(args))
    console = _console()
    interactive = args.agent == "human" or args.quiet
    progress = _Progress(console, args.competition, args.agent)
    try:
        if interactive:  # a live table would fight with the prompt
            summary = run_episode(env, agent, seed=args.seed)
        else:
            with progress:
                summary = run_episode(env, agent, seed=args.seed, on_step=progress.on_step)
    except KeyboardInterrupt:
        print(f"dojo run: interrupted; the episode so far is in {env.run_dir}", file=sys.stderr)
        return 130
    except DojoError as error:  # e.g. an LLM endpoint that stays down: say where the episode so far is
        where = f" (the episode so far: {env.run_dir / 'trajectory.ipynb'})" if env.run_dir else ""
        raise UsageError(f"{_one_line(error)}{where}") from None
    console.print()
    console.print(_summary_table(summary))
    if summary.get("notebook"):
        # Plain print: a path must never be wrapped or cut, whatever the terminal's width.
        print(f"notebook: {summary['notebook']}")
        print(f"  open it:   jupyter lab {summary['notebook']}")
        print(f"  replay it: dojo replay {summary['notebook']}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0


def _runner_module() -> Any | None:
    if importlib.util.find_spec("dojo_kernel.runner") is None:
        return None
    return importlib.import_module("dojo_kernel.runner")


def cmd_batch(args: argparse.Namespace) -> int:
    runner = _runner_module()
    if runner is None:
        raise UsageError("dojo batch is not available in this build yet (dojo_kernel.runner is missing); "
                         "use dojo run for one episode")
    if getattr(args, "suite", None):  # the suite's competitions come before any named ones
        args.targets = [*_suite(args.suite), *(args.targets or [])]
    elif not args.targets:
        raise UsageError("expected competition names, a grid file or --suite NAME, got none")
    return int(runner.main(args) or 0)


def cmd_replay(args: argparse.Namespace) -> int:
    from .trajectory import load_trajectory, replay

    notebook = Path(args.notebook)
    if not notebook.exists():
        raise UsageError(f"expected a notebook or a run dir, got {str(notebook)!r} (it does not exist)")
    kwargs: dict[str, Any] = {"split": args.split}
    if args.isolation is not None:
        kwargs["isolation"] = args.isolation
    if args.cell_timeout is not None:  # the recorded limits, with a different cell timeout
        from .limits import Limits

        recorded = load_trajectory(notebook).metadata.get("dojo", {}).get("limits")
        limits = Limits.from_dict(recorded) if recorded else Limits()
        kwargs["limits"] = limits.replace(cell_timeout_s=args.cell_timeout)
    report = replay(notebook, **kwargs)
    print(report.to_text())
    return 0 if report.agrees else 1


def cmd_report(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .report import find_runs, load_run, summary_rows, write_report

    page = write_report(args.runs_dir, args.out)
    rows = summary_rows([load_run(run) for run in find_runs(args.runs_dir)])
    table = Table(title=f"runs in {args.runs_dir}")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console = _console()
    console.print(table)
    console.print(f"report: {page}")
    return 0


def read_kernel_pointer(run_dir: Path) -> dict[str, Any] | None:
    """What the env recorded in run_dir/kernel.json: the kernel's connection file and pid."""
    pointer = run_dir / "kernel.json"
    try:
        data = json.loads(pointer.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("connection_file") else None


def _alive(pid: Any) -> bool:
    import psutil

    return isinstance(pid, int) and psutil.pid_exists(pid)


def cmd_attach(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"expected a run dir, got {str(run_dir)!r} (no such directory)")
    pointer = read_kernel_pointer(run_dir)
    if pointer is None:
        raise UsageError(f"expected a run dir with kernel.json (written when an episode starts), got none in "
                         f"{run_dir}; pass the folder `dojo run` printed")
    connection = Path(pointer["connection_file"])
    if (run_dir / "summary.json").exists() or not connection.exists() or ("pid" in pointer and not _alive(pointer["pid"])):
        raise UsageError(f"the episode in {run_dir} has ended: its kernel is gone. "
                         f"Open its notebook instead: jupyter lab {run_dir / 'trajectory.ipynb'}")
    print(f"The episode's kernel is running (pid {pointer.get('pid', '?')}). To open it beside the agent:\n"
          f"  cd {run_dir.resolve()}\n"
          f"  jupyter console --existing {connection}\n"
          "Variables are shared with the agent, and what you run there is not recorded in the notebook. "
          "Leave with exit(keep_kernel=True) or Ctrl-D and answer 'n' to keep the kernel running.")
    if shutil.which("jupyter-console") is None:
        print("(jupyter console is not installed here: pip install jupyter-console)")
    return 0


# -- the parser ------------------------------------------------------------------------

def build_parser() -> _Parser:
    parser = _Parser(prog="dojo", description="Solve Kaggle-style competitions one notebook cell at a time.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"dojo-kernel {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    listing = commands.add_parser("list", help="show the competitions", description="Show the registered competitions.")
    listing.add_argument("--all", action="store_true", help="also show the Kaggle catalog (needs `dojo prepare`)")
    listing.add_argument("--suite", metavar="NAME", help="only the built-ins of a named suite: lite or full")

    prepare = commands.add_parser("prepare", help="build competition dirs",
                                  description="Build a built-in competition, or download and prepare a Kaggle one.")
    prepare.add_argument("names", nargs="+", metavar="NAME")
    prepare.add_argument("--raw-dir", type=Path, help="Kaggle files already downloaded here (skips the download)")
    prepare.add_argument("--force", action="store_true", help="rebuild even where the dir exists")

    run = commands.add_parser("run", help="play one episode",
                              description="Play one episode and leave its notebook, reward log and summary in a run dir.")
    run.add_argument("competition", metavar="COMPETITION")
    run.add_argument("--agent", default="baseline", help="baseline, llm, human, or module:Class (default baseline)")
    run.add_argument("--agent-option", action="append", metavar="KEY=VALUE", help="passed to the agent (repeatable)")
    run.add_argument("--model", help="llm agent: the model name (else DOJO_LLM_MODEL)")
    run.add_argument("--base-url", help="llm agent: the endpoint (else OPENAI_BASE_URL)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="where run dirs go (default ./runs)")
    run.add_argument("--memory-gb", type=positive_float, help="memory limit of the kernel's process tree")
    run.add_argument("--cell-timeout", type=positive_float, metavar="SECONDS", help="wall clock of one cell")
    run.add_argument("--episode-time", type=positive_float, metavar="SECONDS", help="wall clock of the episode")
    run.add_argument("--max-steps", type=positive_int, help="steps before the episode is truncated")
    run.add_argument("--gpu", type=non_negative_int, metavar="INDEX", help="the GPU the kernel may use")
    run.add_argument("--gpu-memory-gb", type=positive_float, help="GPU memory limit")
    run.add_argument("--cpus", type=positive_int, help="threads for BLAS/OpenMP in the kernel")
    run.add_argument("--isolation", choices=("auto", "namespaces", "none"), help="how the kernel is sandboxed")
    run.add_argument("--reward-mode", choices=("improvement", "position", "raw", "final"), help="what the reward is")
    run.add_argument("--seed", type=non_negative_int, help="seed for env.reset")
    run.add_argument("--quiet", action="store_true", help="no live table, just the summary")
    run.add_argument("--json", metavar="FILE", help="also write the episode summary as JSON")

    batch = commands.add_parser("batch", help="many episodes in parallel (a grid of competitions, agents, seeds)",
                                description="Run a grid of episodes in parallel; one run dir each, a results table "
                                            "and a report.")
    runner = _runner_module()
    if runner is not None:
        runner.add_batch_arguments(batch)
        batch.add_argument("--suite", metavar="NAME", help="run every built-in of a named suite: lite or full")
        for action in batch._actions:  # with --suite, naming competitions is optional
            if action.dest == "targets":
                action.nargs = "*"

    replay = commands.add_parser("replay", help="rerun a notebook and compare",
                                 description="Rerun a recorded trajectory.ipynb in a fresh kernel and compare it with the record.")
    replay.add_argument("notebook", metavar="NOTEBOOK", help="a trajectory.ipynb, or the run dir holding it")
    replay.add_argument("--cell-timeout", type=positive_float, metavar="SECONDS", help="instead of the recorded one")
    replay.add_argument("--isolation", choices=("auto", "namespaces", "none"), help="instead of the recorded one")
    replay.add_argument("--split", choices=("public", "private", "full"), default="private",
                        help="which split's score is compared (default private)")

    report = commands.add_parser("report", help="tables and curves of runs",
                                 description="Write a PNG per run and an HTML page of all runs under RUNS_DIR.")
    report.add_argument("runs_dir", metavar="RUNS_DIR", type=Path)
    report.add_argument("--out", type=Path, help="where the report goes (default RUNS_DIR)")

    attach = commands.add_parser("attach", help="open a running episode's kernel",
                                 description="Print how to open a running episode's kernel with jupyter console.")
    attach.add_argument("run_dir", metavar="RUN_DIR")
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "prepare": cmd_prepare, "run": cmd_run, "batch": cmd_batch, "replay": cmd_replay,
    "report": cmd_report, "attach": cmd_attach,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, DojoError, OSError) as error:  # OSError: a folder that cannot be made or read
        print(f"dojo {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"dojo {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
