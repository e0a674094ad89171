"""The cost of `import dojo_kernel`, against `import pandas`, measured in one run.

    python bench/import_cost.py [--repeats 9] [--out bench/results/import_cost.md]

Each import runs in a fresh interpreter (`python -c "import X"`), so nothing is cached in
the process; the two commands alternate (dojo_kernel, pandas, dojo_kernel, ...) so that the
machine's load hits both alike. The baseline `python -c pass` is measured the same way and
reported beside them. Target (issue 13): import dojo_kernel <= 0.5 x import pandas.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "import dojo_kernel": "import dojo_kernel",
    "import pandas": "import pandas",
    "python -c pass": "pass",
}
TARGET_RATIO = 0.5


def time_once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def measure(repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():  # one untimed run each: the files are in the page cache after it
        time_once(code)
    for _ in range(repeats):
        for name, code in COMMANDS.items():
            times[name].append(time_once(code))
    return times


def report(times: dict[str, list[float]], command: str) -> tuple[str, float]:
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["import dojo_kernel"] / medians["import pandas"]
    lines = [
        "# import cost",
        "",
        f"command: `{command}`  ",
        f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
        f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}  ",
        f"python: {sys.version.split()[0]}, runs per command: {len(times['import pandas'])}",
        "",
        "| command | median s | min s | max s |",
        "|---|---|---|---|",
    ]
    for name, values in times.items():
        command = f'`python -c "{COMMANDS[name]}"`'
        lines.append(f"| {command} | {medians[name]:.3f} | {min(values):.3f} | {max(values):.3f} |")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    lines += ["", f"import dojo_kernel / import pandas = **{ratio:.2f}** ({verdict} the target <= {TARGET_RATIO})", ""]
    return "\n".join(lines), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per command (at least 7)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = parser.parse_args()
    if args.repeats < 7:
        sys.exit(f"expected --repeats >= 7 (a median of few runs is noise), got {args.repeats}")
    table, _ = report(measure(args.repeats), "python " + " ".join(sys.argv))
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
