"""Deprecated: the batch runner is now the package `dojo_kernel.batch` (and `dojo batch`'s
argument parsing lives in `dojo_kernel.cli`). This module re-exports the batch's names so
that old imports keep working; import them from `dojo_kernel.batch` instead."""

from __future__ import annotations

import warnings

from .batch import *  # noqa: F403  (the re-export is this module's whole job)
from .batch import __all__ as _batch_names

__all__ = list(_batch_names)

warnings.warn("dojo_kernel.runner is deprecated: import from dojo_kernel.batch", DeprecationWarning, stacklevel=2)

_MOVED_TO_CLI = {"main", "add_batch_arguments"}


def __getattr__(name: str) -> object:
    # The command-line part moved to the CLI, which the batch package must not import.
    if name in _MOVED_TO_CLI:
        raise AttributeError(f"dojo_kernel.runner.{name} moved to dojo_kernel.cli: run `dojo batch ...` "
                             f"or call dojo_kernel.cli.main(['batch', ...])")
    raise AttributeError(f"module 'dojo_kernel.runner' has no attribute {name!r}")
