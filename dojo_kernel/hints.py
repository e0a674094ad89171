"""Hints from the live state: what the agent needs to fix the errors ML code hits most.

A missing column names the closest columns of the DataFrames on the failing line; a missing
variable the closest names defined; a missing file what input/ and working/ hold; a
scikit-learn NaN or dtype error the columns with missing values or non-numeric dtypes; a
submission of the wrong shape what the sample has; a memory kill the biggest objects seen
before it. Only cheap looks: the kernel is asked through `KernelSession.evaluate` (a silent
request under a time cap that never changes the namespace), the files host-side by name
only (links are not followed, no file the agent wrote is opened).

Every hint is one short paragraph starting "Hint:"; None where nothing useful is known.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from .tracebacks import clip_middle, failing_code

PROBE_TIMEOUT_S = 2.0
_REPLY_LIMIT = 300_000  # characters of a probe's reply read at all
_LISTED = 25  # names listed in a hint
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,100}")
_QUOTED = re.compile(r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"")
_NO_FILE = re.compile(r"No such file or directory: '([^'\n]{1,500})'")

# Runs in the kernel, in a namespace of its own: reads the user's namespace `ns`, writes
# nothing there, imports nothing new (pandas and numpy only if the agent imported them).
_PROBE = r'''
import sys as _sys, json as _json
def _frames(ns, names):
    pd = _sys.modules.get("pandas")
    if pd is None:
        return {}
    picked = [n for n in names if isinstance(ns.get(n), pd.DataFrame)]
    if not picked:
        picked = [n for n in list(ns)[:2000] if not n.startswith("_") and isinstance(ns.get(n), pd.DataFrame)]
    return {n: ns[n] for n in picked[:12]}
def _size(value):
    try:
        if hasattr(value, "memory_usage") and hasattr(value, "columns"):
            return int(value.memory_usage(index=True, deep=False).sum())
        if hasattr(value, "nbytes") and isinstance(getattr(value, "nbytes"), int):
            return int(value.nbytes)
        return _sys.getsizeof(value)
    except Exception:
        return 0
def _probe(ns, names, want):
    out = {}
    hidden = {"In", "Out", "exit", "quit", "get_ipython", "open"}
    if "names" in want:
        out["names"] = [n for n in list(ns)[:5000] if not n.startswith("_") and n not in hidden][:2000]
    frames = _frames(ns, names) if {"columns", "missing", "objects"} & set(want) else {}
    if "columns" in want:
        out["columns"] = {n: [str(c)[:100] for c in list(f.columns)[:500]] for n, f in frames.items()}
    if "missing" in want:
        out["missing"] = {}
        for n, f in frames.items():
            part = f.iloc[:200_000, :300]
            counts = part.isna().sum()
            out["missing"][n] = [len(part), {str(c)[:100]: int(k) for c, k in counts.items() if k}]
    if "objects" in want:
        out["objects"] = {}
        for n, f in frames.items():
            kinds = {str(c)[:100]: str(t) for c, t in list(f.dtypes.items())[:300]
                     if str(t) in ("object", "category", "str", "bool") or str(t).startswith(("datetime", "string"))}
            out["objects"][n] = {c: [t, [str(v)[:30] for v in f[c].dropna().unique()[:3]]]
                                 for c, t in list(kinds.items())[:40] if c in f}
    if "sizes" in want:
        sizes = [(n, _size(v), type(v).__name__) for n, v in list(ns.items())[:5000]
                 if not n.startswith("_") and n not in hidden]
        out["sizes"] = sorted(sizes, key=lambda item: -item[1])[:8]
    return _json.dumps(out, default=str)[:250_000]
result = _probe(ns, names, want)
'''


def probe(session: Any, want: list[str], names: list[str] | None = None,
          timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """What the kernel's namespace holds, for `want` among names, columns, missing, objects,
    sizes; {} where the kernel could not say in time."""
    expression = ("(lambda g: (exec(compile(g['src'], '<dojo-hint>', 'exec'), g), g['result'])[1])"
                  f"({{'src': {_PROBE!r}, 'ns': globals(), 'names': {names or []!r}, 'want': {want!r}}})")
    try:
        reply = session.evaluate({"probe": expression}, timeout=timeout).get("probe")
    except Exception:  # a hint is never worth a failed step
        return {}
    if not reply or len(reply) > _REPLY_LIMIT:
        return {}
    try:
        text = ast.literal_eval(reply)  # the repr of the str the probe returned
        data = json.loads(text) if isinstance(text, str) else {}
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return {}
    return data if isinstance(data, dict) else {}


def _closest(word: str, choices: list[str], n: int = 3) -> list[str]:
    by_lower = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[match] for match in found]


def _listing(names: list[str], limit: int = _LISTED) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _quote(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


# ---------------------------------------------------------------------------------------------
# Cell errors


def for_cell(result: Any, *, session: Any, run_dir: Path, public_dir: Path, memory_gb: float | None,
             seen: dict[str, Any]) -> str | None:
    """The hint for a cell's result, or None. `seen` carries what earlier cells showed (the
    biggest objects after a cell that used over half the memory limit, for a later kill)."""
    error, event = result.error, result.limit_event
    hint = None
    if result.status == "error" and error is not None:
        hint = for_error(error.name, error.value, error.traceback, session, run_dir, public_dir)
    elif result.status == "killed" and event is not None and event.kind == "memory":
        hint = for_memory(event, seen.get("sizes"))
    if result.restarted:
        seen.pop("sizes", None)  # those objects are gone
    elif result.status == "ok" and memory_gb and result.peak_rss_bytes > memory_gb * 1024**3 / 2:
        seen["sizes"] = sizes(session)
    return hint


def for_error(name: str, value: str, traceback: list[str], session: Any, run_dir: Path,
              public_dir: Path) -> str | None:
    """A hint for a cell's exception, or None."""
    try:
        line = failing_code(traceback) or ""
        in_pandas = any("pandas" in entry[:300] for entry in traceback[-40:])
        if name == "FileNotFoundError" or (name == "OSError" and "No such file" in value):
            return _missing_file(value, run_dir, public_dir)
        if name == "NameError":
            return _missing_name(value, session)
        if name == "KeyError" and in_pandas or (name == "AttributeError" and "DataFrame' object" in value) \
                or "not in index" in value or "not found in axis" in value:
            return _missing_column(name, value, line, session)
        if name == "ValueError" and ("contains NaN" in value or "Input contains NaN" in value):
            return _missing_values(line, session)
        if name == "ValueError" and "could not convert string to float" in value:
            return _non_numeric(line, session)
        return _static(name, value)
    except Exception:  # a hint is never worth a failed step
        return None


def _missing_file(value: str, run_dir: Path, public_dir: Path) -> str | None:
    found = _NO_FILE.search(value)
    wanted = found.group(1) if found else ""
    inputs = [f"input/{path}" for path in _files(public_dir)]
    working = [f"working/{path}" for path in _files(run_dir / "working")]
    closest = _closest(wanted, inputs + working, 2) or _closest(os.path.basename(wanted),
                                                                [os.path.basename(p) for p in inputs + working], 2)
    closest = [next(p for p in inputs + working if p == c or os.path.basename(p) == c) for c in closest]
    lines = [f"Hint: no file {wanted!r}." + (f" Did you mean {_quote(closest)}?" if closest else "")]
    lines.append(f"input/ (read-only) holds: {_listing(inputs) or 'nothing'}.")
    lines.append(f"working/ holds: {_listing(working) or 'nothing'}. Paths are relative to the run dir, the "
                 "kernel's working directory.")
    return "\n".join(lines)


def _files(root: Path, limit: int = 200) -> list[str]:
    """File names under `root` (relative), links neither followed nor listed as files."""
    found: list[str] = []
    stack = [root]
    while stack and len(found) < limit:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) or directory == root and entry.is_symlink():
                found.append(str(Path(entry.path).relative_to(root)))
    return sorted(found)[:limit]


def _missing_name(value: str, session: Any) -> str | None:
    found = _QUOTED.search(value)
    if not found:
        return None
    wanted = found.group(1) or found.group(2)
    names = probe(session, ["names"]).get("names")
    if not isinstance(names, list):
        return None
    names = [str(name) for name in names]
    closest = _closest(wanted, names)
    if closest:
        return f"Hint: no variable {wanted!r}; closest defined: {_quote(closest)}."
    return (f"Hint: no variable {wanted!r}. Defined now: {_listing(names) or 'nothing'} (after a kernel "
            "restart, rerun the cells that define what you need).")


def _line_names(line: str) -> list[str]:
    return list(dict.fromkeys(_IDENTIFIER.findall(line)))[:50]


def _wanted_columns(name: str, value: str) -> list[str]:
    """The column names an error says are missing: KeyError('x') shows as "'x'", a list as
    "\"['x', 'y'] not in index\"", an attribute as "'DataFrame' object has no attribute 'x'"."""
    inner = value
    if name == "KeyError":
        try:
            key = ast.literal_eval(value[:2000])
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            key = None
        if isinstance(key, str):
            inner = key
            if not _QUOTED.search(key):
                return [key]
    wanted = [a or b for a, b in _QUOTED.findall(inner)]
    if name == "AttributeError":
        wanted = wanted[-1:]
    return [word for word in wanted if word not in ("DataFrame", "Series")][:5]


def _missing_column(name: str, value: str, line: str, session: Any) -> str | None:
    wanted = _wanted_columns(name, value)
    if not wanted:
        return None
    columns = probe(session, ["columns"], _line_names(line)).get("columns")
    if not isinstance(columns, dict) or not columns:
        return None
    lines = []
    for frame, names in list(columns.items())[:4]:
        names = [str(column) for column in names] if isinstance(names, list) else []
        missing = [word for word in wanted if word not in names]
        if not missing:
            continue
        closest = {word: _closest(word, names) for word in missing}
        suggestion = "; ".join(f"for {word!r} the closest is {_quote(found)}" for word, found in closest.items()
                               if found)
        lines.append(f"{frame} has no column {_quote(missing)}" + (f" ({suggestion})" if suggestion else "")
                     + f". Its columns ({len(names)}): {_listing(names)}.")
    return "Hint: " + "\n".join(lines) if lines else None


def _missing_values(line: str, session: Any) -> str | None:
    missing = probe(session, ["missing"], _line_names(line)).get("missing")
    if not isinstance(missing, dict):
        return None
    lines = []
    for frame, entry in list(missing.items())[:4]:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict) and entry[1]):
            continue
        rows, counts = entry
        shown = ", ".join(f"{column} ({count} of {rows})" for column, count in list(counts.items())[:_LISTED])
        lines.append(f"{frame} has missing values in: {shown}.")
    if not lines:
        return None
    return ("Hint: " + "\n".join(lines) + "\nFill them (e.g. df[col].fillna(df[col].median()), SimpleImputer) "
            "or use an estimator that accepts NaN (HistGradientBoostingClassifier/Regressor).")


def _non_numeric(line: str, session: Any) -> str | None:
    objects = probe(session, ["objects"], _line_names(line)).get("objects")
    if not isinstance(objects, dict):
        return None
    lines = []
    for frame, columns in list(objects.items())[:4]:
        if not isinstance(columns, dict) or not columns:
            continue
        shown = ", ".join(f"{column} ({kind}: {', '.join(map(str, values))})"
                          for column, (kind, values) in list(columns.items())[:12])
        lines.append(f"{frame} has non-numeric columns: {shown}.")
    if not lines:
        return None
    return ("Hint: " + "\n".join(lines) + "\nEncode them (pd.get_dummies, OrdinalEncoder) or drop them "
            "before fitting.")


_STATIC = (
    ("ValueError", "inconsistent numbers of samples",
     "X and y have different lengths: check that both come from the same rows (e.g. the same "
     "train/validation split) and print X.shape, y.shape."),
    ("ValueError", "Expected a 2-dimensional container",
     "scikit-learn wants a 2-D X: select columns with a list (df[['col']]) or use .to_frame() / "
     ".reshape(-1, 1)."),
    ("ValueError", "Expected 2D array",
     "scikit-learn wants a 2-D X: select columns with a list (df[['col']]) or use .reshape(-1, 1)."),
    ("ModuleNotFoundError", "No module named",
     "the package is not installed and there is no network to install it: use what is installed "
     "(e.g. scikit-learn's HistGradientBoosting* for gradient boosting)."),
)


def _static(name: str, value: str) -> str | None:
    for kind, text, hint in _STATIC:
        if name == kind and text in value:
            return "Hint: " + hint
    return None


# ---------------------------------------------------------------------------------------------
# Submissions and limits


def for_submission(sample_path: Path, submission_path: Path, id_column: str | None) -> str | None:
    """What the sample submission looks like, beside what the agent wrote (header and row count,
    read from a regular file only, never through a link)."""
    try:
        sample_header, sample_rows = _csv_shape(sample_path)
    except OSError:
        return None
    text = (f"Hint: input/{sample_path.name} has {sample_rows} rows and columns {', '.join(sample_header)}")
    try:
        header, rows = _csv_shape(submission_path, follow=False)
        text += f"; yours has {rows} rows and columns {', '.join(header) or '(none)'}"
    except OSError:
        pass
    text += (f". Start from the sample: sub = pd.read_csv('input/{sample_path.name}'); fill its "
             f"{', '.join(c for c in sample_header if c != id_column) or 'target'} column(s); "
             f"sub.to_csv('working/{submission_path.name}', index=False).")
    return clip_middle(text, 800)


def _csv_shape(path: Path, follow: bool = True, limit: int = 200_000_000) -> tuple[list[str], int]:
    """The header's fields and the number of data rows of a CSV, reading at most `limit` bytes."""
    # O_NONBLOCK: opening a FIFO the agent planted must not wait for a writer; then only a
    # regular file is read.
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError("not a regular file")
        first = handle.readline(10_000).decode("utf-8", "replace").strip()
        rows, read = 0, 0
        while read < limit:
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            rows += chunk.count(b"\n")
            read += len(chunk)
            last = chunk[-1:]
        if read and last != b"\n":
            rows += 1
    header = [clip_middle(field.strip().strip('"'), 40) for field in first.split(",")][:30]
    return header, rows


def for_memory(event: Any, sizes: list[Any] | None) -> str:
    """The peak, the limit and the biggest objects seen before the kill."""
    text = (f"Hint: the cell reached {event.peak:.2f} GB; the memory limit is {event.limit:.2f} GB"
            if event.peak and event.limit else "Hint: the memory limit was crossed")
    if sizes:
        biggest = ", ".join(f"{name} ({kind}, {size / 1024**2:.0f} MB)" for name, size, kind in sizes[:5])
        text += f". Biggest objects after the last cell that used much memory: {biggest}"
    return text + (". Load less (usecols=, nrows=, dtype='float32'), free what you no longer need "
                   "(del x; gc.collect()), or process the data in chunks.")


def sizes(session: Any) -> list[Any] | None:
    """The biggest objects in the namespace now: [(name, bytes, type), ...]; None if unknown."""
    found = probe(session, ["sizes"]).get("sizes")
    if not isinstance(found, list):
        return None
    return [item for item in found if isinstance(item, list) and len(item) == 3 and isinstance(item[1], int)
            and item[1] > 1024**2] or None
