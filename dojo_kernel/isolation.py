"""How the kernel process is launched: its environment, and (where the OS allows) namespaces.

(CONTRACT: `kernel_environment`, `resolve_mode` and `wrap_command` are called by
KernelSession. Mode "none" is complete; "namespaces" is being written.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, expected
from .limits import Limits

MODES = ("auto", "namespaces", "none")

# Variables a kernel legitimately needs from the parent. Everything else (API keys, cloud
# credentials, tokens) stays out: the environment is built, never inherited as is.
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def kernel_environment(limits: Limits, *, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's whole environment: a few safe variables, soft limits, and `extra`."""
    env = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    # The interpreter running dojo-kernel must be first, so `python`/`pip` in a cell match it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Soft limits: frameworks read these and fail with a clean error before the watchdog kills.
    env["CUDA_VISIBLE_DEVICES"] = "" if limits.gpu_device is None else str(limits.gpu_device)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    if limits.cpus is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "LOKY_MAX_CPU_COUNT"):
            env[name] = str(limits.cpus)
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class IsolationPlan:
    mode: str  # "namespaces" or "none": what will actually be used
    warning: str | None = None  # set when "auto" fell back to "none": shown to the agent and in summary.json


def resolve_mode(isolation: str) -> IsolationPlan:
    if isolation not in MODES:
        raise ConfigError(expected(f"isolation in {MODES}", isolation))
    if isolation == "none":
        return IsolationPlan("none")
    # namespaces: not yet available in this build
    warning = "isolation unavailable: namespaces are not implemented yet; agent code runs unsandboxed"
    if isolation == "namespaces":
        from .errors import IsolationError
        raise IsolationError(warning)
    return IsolationPlan("none", warning)


def wrap_command(argv: list[str], plan: IsolationPlan, *, cwd: Path, runtime_dir: Path,
                 input_source: Path | None, allow_network: bool) -> list[str]:
    """The command that launches the kernel `argv` under `plan`.

    cwd: the run dir (writable parts: cwd/working). runtime_dir: where the connection file
    and ipc sockets live (must stay reachable). input_source: the public data, to appear
    read-only at cwd/input.
    """
    return list(argv)
