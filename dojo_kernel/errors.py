"""Typed errors for faults of the environment itself.

Agent mistakes (bad code, a malformed action, an invalid submission) never raise: they
become observation text. What raises is the environment's own trouble, or a user's
misconfiguration, and each message says what was expected, what came, and how to fix it.
"""

from __future__ import annotations

import reprlib


class DojoError(Exception):
    """Base class of every error dojo-kernel raises on purpose."""


def safe_repr(value: object) -> str:
    """repr(value), or a bounded stand-in where repr itself fails: an object whose __repr__
    raises, or a structure nested too deep to print (an agent may send either)."""
    try:
        return repr(value)
    except Exception:  # RecursionError included
        return reprlib.repr(value)  # depth-limited; an instance whose repr fails shows as <Type instance>


def expected(what: str, got: object, fix: str | None = None) -> str:
    """Build the house style of message: 'expected X, got Y. FIX'."""
    shown = safe_repr(got)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    message = f"expected {what}, got {shown}"
    return f"{message}. {fix}" if fix else message


class ConfigError(DojoError, ValueError):
    """A setting (a limit, a reward mode, an option) has a value that cannot work."""


class KernelStartError(DojoError, RuntimeError):
    """The kernel did not start or did not become ready; the message names its log file."""


class KernelDeadError(DojoError, RuntimeError):
    """The session was used after close(), or the kernel could not be brought back."""


class IsolationError(DojoError, RuntimeError):
    """Isolation was asked for explicitly (isolation='namespaces') but the OS does not allow it."""


class CompetitionNotFound(DojoError, KeyError):
    """No competition of that name is registered; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class CompetitionFormatError(DojoError, ValueError):
    """A competition directory or its competition.toml is missing something it needs."""


class PrepareError(DojoError, RuntimeError):
    """Building a competition directory failed (missing raw files, credentials, disk space)."""


class RecorderError(DojoError, RuntimeError):
    """The trajectory files could not be written (disk full, permissions)."""


class ForkError(DojoError, RuntimeError):
    """A kernel could not be forked (it holds a GPU, it is not running, the child did not start);
    the parent kernel keeps running, unchanged."""
