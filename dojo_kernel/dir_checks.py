"""What a competition dir may say about itself.

A competition dir is untrusted input: someone may download one, or leave one in the data
root. Its competition.toml is data, never code, and everything it names stays inside it:

- ``name`` is one plain word (letters, digits, ``_ . -``): it becomes a Gymnasium id and
  a folder under a run's output dir, so a slash or ``..`` could place runs elsewhere;
- ``answers_file`` resolves inside ``private/`` (a ``..`` or a link out of the dir would
  grade against another competition's answers), ``submission_file`` is a plain relative
  path (it is read from ``working/``);
- a metric written ``module:function`` imports and runs that function, so it is refused
  unless the caller said the dir is trusted (``trust_code=True``) or passed the metric in
  Python. The safe route is to register the function in Python
  (``dojo_kernel.metrics.register_metric``) and name it in competition.toml.

:func:`summarize` reads what ``dojo list`` shows from the manifest alone, importing nothing.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from .errors import CompetitionFormatError, expected
from .prepare.common import ANSWERS_NAME, MANIFEST_NAME, SAMPLE_SUBMISSION_NAME, read_manifest
from .prepare.names import NAME_PATTERN  # one rule, also used by the cheap listing of names

TRUST_HINT = (
    "Register the function in Python (dojo_kernel.metrics.register_metric('NAME', fn, higher_is_better=..., "
    "kind=...)) and write metric = \"NAME\" in competition.toml, or, for a dir whose code you trust, load it with "
    "register(path, trust_code=True)"
)


# The type each competition.toml key must have (MANIFEST_KEYS in prepare/common.py): a value
# of another type would otherwise surface as a TypeError deep inside loading or grading.
TEXT_LIST = "a list of text"
MANIFEST_TYPES: dict[str, tuple[type, ...] | str] = {
    "name": (str,), "metric": (str,), "custom_metric": (str,), "id_column": (str,), "target_columns": TEXT_LIST,
    "title": (str,), "higher_is_better": (bool,), "category": (str,), "task": (str,), "level": (str,),
    "submission_file": (str,), "answers_file": (str,), "tags": TEXT_LIST, "metric_kind": (str,),
    "metric_kwargs": (dict,), "split": (dict,), "leaderboard": (dict,), "source": (dict,),
    "actions": TEXT_LIST, "info_providers": TEXT_LIST,  # names registered in Python, resolved at make
}
_TYPE_WORDS = {str: "text", bool: "true or false", dict: "a table"}


def check_types(manifest: dict[str, Any], where: Path | str) -> None:
    """Every known key of competition.toml has the type it must have (unknown keys are ignored)."""
    for key, wanted in MANIFEST_TYPES.items():
        if key not in manifest:
            continue
        value = manifest[key]
        if isinstance(wanted, str):  # TEXT_LIST, the one wanted kind given in words
            good = isinstance(value, list) and all(isinstance(item, str) for item in value)
            words = TEXT_LIST
        else:
            good = isinstance(value, wanted)
            words = " or ".join(_TYPE_WORDS[t] for t in wanted)
        if not good:
            raise CompetitionFormatError(expected(f"{key} in {where} to be {words}", value))
    fraction = manifest.get("split", {}).get("public_fraction", 0.5)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise CompetitionFormatError(expected(f"split.public_fraction in {where} to be a number between 0 and 1", fraction))
    for table, key in (("split", "usage_column"), ("leaderboard", "kind")):
        value = manifest.get(table, {}).get(key, "")
        if not isinstance(value, str):
            raise CompetitionFormatError(expected(f"{table}.{key} in {where} to be text", value))


def is_custom_metric(metric: str) -> bool:
    """Whether a metric name is a 'module:function' import path (code) rather than a name."""
    return ":" in metric


def check_name(name: object, where: Path | str) -> str:
    """A competition name that is one plain word, safe as a Gymnasium id and a folder name."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise CompetitionFormatError(
            expected(
                f"a competition name of letters, digits, '_', '.' and '-' (starting with a letter or digit) for {where}",
                name,
                "Rename the folder or set name = \"...\" in its competition.toml.",
            )
        )
    return name


def check_metric(metric: object, where: Path | str, *, field: str, trusted: bool) -> str:
    """The metric named in competition.toml: a non-empty text; an import path only when trusted."""
    if not isinstance(metric, str) or not metric.strip():
        raise CompetitionFormatError(
            expected(f"{field} in {where} to be a metric name such as \"rmse\"", metric,
                     "dojo_kernel.metrics.list_metrics() lists the names.")
        )
    if is_custom_metric(metric) and not trusted:
        raise CompetitionFormatError(
            f"expected a registered metric name in {where}, got the custom metric {metric!r} in {field}, which "
            f"would import and run code named by the competition dir. {TRUST_HINT}."
        )
    return metric


def check_answers_file(private_dir: Path, answers_file: object, where: Path | str) -> str:
    """``answers_file`` as given, once it is known to resolve inside ``private_dir``."""
    if not isinstance(answers_file, str) or not answers_file:
        raise CompetitionFormatError(expected(f"answers_file in {where} to be a file name in private/", answers_file))
    private = private_dir.resolve()
    resolved = (private / answers_file).resolve()
    if PurePosixPath(answers_file).is_absolute() or not resolved.is_relative_to(private):
        raise CompetitionFormatError(
            expected(
                f"answers_file in {where} to be a file inside {private} (links included)",
                answers_file,
                f"Put the answers in private/ and name them there, e.g. answers_file = \"{ANSWERS_NAME}\".",
            )
        )
    return answers_file


def check_submission_file(submission_file: object, where: Path | str) -> str:
    """``submission_file``: a relative path below ``working/`` (no '..', not absolute)."""
    path = PurePosixPath(submission_file) if isinstance(submission_file, str) and submission_file else None
    if path is None or path.is_absolute() or ".." in path.parts or "\\" in str(submission_file):
        raise CompetitionFormatError(
            expected(f"submission_file in {where} to be a file name inside working/", submission_file,
                     "Write e.g. submission_file = \"submission.csv\".")
        )
    return str(submission_file)


def summarize(path: Path) -> dict[str, Any]:
    """What `dojo list` shows for a dir under the data root, from its manifest alone.

    Imports nothing and loads no data. Raises CompetitionFormatError for a manifest that
    cannot be read."""
    manifest_path = Path(path) / MANIFEST_NAME
    try:
        manifest = read_manifest(manifest_path)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise CompetitionFormatError(f"expected valid TOML in {manifest_path}, got: {' '.join(str(exc).split())}") from None
    metric = manifest.get("custom_metric") or manifest.get("metric")
    kind = "/".join(str(part) for part in (manifest.get("category"), manifest.get("task")) if part)
    public = [Path(path) / sub / "public" for sub in (".", "data", "prepared")]
    built = any((folder / SAMPLE_SUBMISSION_NAME).is_file() for folder in public)
    return {"kind": kind, "metric": "-" if metric is None else str(metric), "built": built}
