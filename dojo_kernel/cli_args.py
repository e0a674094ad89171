"""Reading the `dojo` command's arguments: number types and KEY=VALUE pairs that say what they expected
and what came, suite names, and the one-line usage error; kept apart from the commands (cli.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .errors import ConfigError, expected

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


def _key_values(pairs: Sequence[str], flag: str, example: str = "max_steps=10") -> dict[str, Any]:
    """The one KEY=VALUE reader (--agent-option, --set): VALUE is TOML where it parses
    (numbers, true, "text", [lists]), else plain text; max-steps=3 reads as max_steps=3."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(expected(f"{flag} KEY=VALUE", pair, f"e.g. {flag} {example}"))
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        values[key.strip().replace("-", "_")] = value
    return values


def _suite(name: str) -> tuple[str, ...]:
    from .prepare import builtin

    try:
        return builtin.suite(name)
    except KeyError as error:
        raise UsageError(str(error.args[0])) from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


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


def _parse_gpus(text: str | list[int] | None) -> list[int] | None:
    if text is None or isinstance(text, list):
        return text
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ConfigError(expected("--gpus as comma-separated indices", text, "e.g. --gpus 0,1")) from None
