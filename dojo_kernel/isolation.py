"""How the kernel process is launched: its environment, and (where the OS allows) namespaces.

The caller (the env, replay, a test) builds one `LaunchSpec` per kernel and KernelSession
turns it into a command; this module only computes, it creates and changes no file:

    spec = LaunchSpec(resolve_mode(isolation),       # "auto" | "namespaces" | "none"; probes once per process
                      input_source=..., hidden_paths=(data root, private/), tmp_size_bytes=..., env=...)
    spawn.prepare_workspace(run_dir, spec.input_source)   # caller side: working/, input/ -> the public data
    argv = wrap_command(kernel_argv, spec, cwd=run_dir, runtime_dir=...)
    argv, stage = kernel_user.stage_binds(argv, spec.plan.kernel_user)   # the env as root: spawn runs stage
    env = kernel_environment(home=..., gpu_device=..., cpus=..., extra=spec.env)

Mode "namespaces" runs the kernel under bubblewrap (`bwrap`, Debian/Ubuntu package
`bubblewrap`) in new user, mount, PID, network, IPC and UTS namespaces. In its view:

- hidden:     everything not listed below, in particular home directories, the repository,
              other episodes' run dirs, the host's processes, /etc/shadow and /etc/ssh, and
              the spec's hidden_paths (the caller names the data root with every
              competition's private answers there) even where they lie in a folder shown;
- read-only:  the system (/usr, /bin, /lib*, /etc, /sys), the Python installation the kernel
              runs on (its prefixes and every directory on its sys.path), the run dir, and
              the competition's public data at `input/`;
- writable:   `working/`, a private `/tmp` and `/dev/shm` (tmpfs that die with the kernel),
              and runtime_dir: the connection file, the ZMQ ipc sockets, $HOME. The caller
              must give each kernel a fresh runtime_dir and keep files it writes itself
              (logs) elsewhere: the kernel can plant links there;
- no network: only a loopback device of its own (unless allow_network=True). ZMQ ipc
              sockets are files, so the env still talks to the kernel.

The kernel runs as uid/gid 65534 inside a user namespace, with no capabilities, with
`no_new_privs` set, (bubblewrap 0.8+) without the right to create further user
namespaces, and under the seccomp filter of seccomp.py where the caller passes seccomp_fd
(no ptrace or other process-control calls). Of the GPUs only the spec's gpu_minor device
file is bound (gpu_device_plan). The user namespace maps it to the uid of whoever runs the env, so files it
writes in `working/` belong to that user outside, and the env can read and delete them;
when the env runs as root, to an unprivileged host uid instead (plan.kernel_user, see
kernel_user.py: the caller stages the binds and drops to it before bwrap starts), so host
file permissions apply inside. Its parent is the sandbox's init, so it
cannot signal the env, and every process it starts dies with the sandbox. The launched
process is bwrap, not the kernel: interrupt with an interrupt_request message.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, IsolationError, expected
from .kernel_user import KernelUser, hand_over, kernel_user, stage_binds
from .kernel_user import prepare_workspace as prepare_kernel_workspace

MODES = ("auto", "namespaces", "none")

# Variables a kernel legitimately needs from the parent. Everything else (API keys, cloud
# credentials, tokens) stays out: the environment is built, never inherited as is.
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                "LD_LIBRARY_PATH")  # CUDA setups often need it (under namespaces its folders are shown read-only)

SANDBOX_UID = 65534  # "nobody": the kernel's identity inside its user namespace
SANDBOX_HOSTNAME = "dojo-kernel"

# System directories the kernel needs to run at all; /bin, /lib... are symlinks on merged-/usr systems.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
# Secrets that /etc may hold: covered even though /etc is read-only and, with the env as
# root, the kernel is an unprivileged host uid (kept for DOJO_KERNEL_UID=off and the fallback).
_ETC_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh", "/etc/sudoers.d")
_INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`) "
                 "and allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                 "user.max_user_namespaces > 0; on Ubuntu 24.04+ also "
                 "kernel.apparmor_restrict_unprivileged_userns=0), or pass isolation='none'")


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "LOKY_MAX_CPU_COUNT")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota
    (a container's --cpus), which os.cpu_count() does not see."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota)) if quota else max(1, cores)


def _cgroup_cpu_quota() -> int | None:
    """Whole cores allowed by the cgroup CPU quota (v2 cpu.max, v1 cfs_quota_us), None if unlimited."""
    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda text: text.split()),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", None)):
        try:
            if parse is not None:
                quota, period = parse(Path(path).read_text())
            else:
                quota = Path(path).read_text().strip()
                period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
            if quota in ("max", "-1"):
                return None
            return max(1, int(int(quota) // int(period)))
        except (OSError, ValueError):
            continue
    return None


def default_threads() -> int:
    """The kernel's share of the cores where no cpus limit is set: the usable cores less one
    kept for the env and the agent (at least one)."""
    return max(1, usable_cores() - 1)


def kernel_environment(*, home: Path, gpu_device: int | None = None, cpus: int | None = None,
                       extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's whole environment: a few safe variables, soft limits (the GPU it may use,
    its thread count: Limits.gpu_device and Limits.cpus), and `extra`."""
    env = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    # The interpreter running dojo-kernel must be first, so `python`/`pip` in a cell match it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Soft limits: frameworks read these and fail with a clean error before the watchdog kills.
    # PCI order makes gpu_device name the same GPU for CUDA as for NVML (the watchdog's view).
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = "" if gpu_device is None else str(gpu_device)
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    # Without a cpus limit the kernel still gets its share of the cores, never every core each
    # for BLAS, OpenMP and joblib at once: oversubscribed, a fit runs about twice as slow.
    threads = cpus if cpus is not None else default_threads()
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class IsolationPlan:
    mode: str  # "namespaces" or "none": what will actually be used
    warning: str | None = None  # set when "auto" fell back to "none": shown to the agent and in summary.json
    bwrap: str | None = None  # the bubblewrap executable, for mode "namespaces"
    # The unprivileged host uid/gid the launched bwrap drops to (kernel_user.py): set by
    # resolve_mode when the env is root, None otherwise (bwrap maps to the env's own uid).
    kernel_user: KernelUser | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """How one kernel is launched: built once by the caller, handed to KernelSession and to
    wrap_command. Plain values only (this module knows nothing of Limits).

    plan:           the isolation plan (a mode name is resolved with resolve_mode).
    allow_network:  keep the host's network (else only a loopback of its own).
    input_source:   the public data, read-only at cwd/input (prepare_workspace links it).
    hidden_paths:   what the kernel must not see even where it lies in a folder shown read-only:
                    the data root with every competition's private answers, private/ folders.
    tmp_size_bytes: cap of each of the private /tmp and /dev/shm (tmpfs: their files take RAM
                    that the kernel's PSS does not show); None leaves the OS default, half the RAM.
    expose_gpus:    let the kernel open the NVIDIA device files.
    gpu_minor:      the one GPU whose device file (/dev/nvidia<gpu_minor>, NVML's minor number of
                    the assigned GPU) is bound, beside the control devices; None binds every GPU.
    env:            extra environment variables for the kernel (the rest is built, never inherited),
                    given as a mapping, held as sorted (name, value) pairs so the spec stays
                    immutable and picklable: dict(spec.env) reads them.
    """

    plan: IsolationPlan
    allow_network: bool = False
    input_source: Path | None = None
    hidden_paths: tuple[Path, ...] = ()
    tmp_size_bytes: int | None = None
    expose_gpus: bool = True
    gpu_minor: int | None = None
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Normalised here (frozen: through object.__setattr__) so every holder sees the same values.
        plan = resolve_mode(self.plan) if isinstance(self.plan, str) else self.plan
        if not isinstance(plan, IsolationPlan):
            raise ConfigError(expected("an IsolationPlan or a mode name in MODES for LaunchSpec.plan", plan))
        for name in ("allow_network", "expose_gpus"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(expected(f"True or False for LaunchSpec.{name}", getattr(self, name)))
        minor = self.gpu_minor
        if minor is not None and (isinstance(minor, bool) or not isinstance(minor, int) or minor < 0):
            raise ConfigError(expected("a device minor number >= 0 (or None) for LaunchSpec.gpu_minor", minor))
        size = self.tmp_size_bytes
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ConfigError(expected("a positive int of bytes (or None) for LaunchSpec.tmp_size_bytes", size))
        if isinstance(self.hidden_paths, (str, bytes, os.PathLike)) or not isinstance(self.hidden_paths, Iterable):
            raise ConfigError(expected("a sequence of paths for LaunchSpec.hidden_paths", self.hidden_paths))
        env = dict(self.env or ())
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in env.items()):
            raise ConfigError(expected("str names and str values in LaunchSpec.env", env))
        object.__setattr__(self, "plan", plan)
        object.__setattr__(self, "input_source", None if self.input_source is None
                           else Path(self.input_source).resolve())
        object.__setattr__(self, "hidden_paths", tuple(Path(p).resolve() for p in self.hidden_paths))
        object.__setattr__(self, "env", tuple(sorted(env.items())))


def resolve_mode(isolation: str) -> IsolationPlan:
    """Turn the user's setting into what will be used; "auto" tries a real sandbox once per process."""
    if isolation not in MODES:
        raise ConfigError(expected(f"isolation in {MODES}", isolation))
    if isolation == "none":
        return IsolationPlan("none")
    bwrap = shutil.which("bwrap")
    user = kernel_user()
    problem = _sandbox_problem(bwrap, user)
    if problem is None:
        return IsolationPlan("namespaces", bwrap=bwrap, kernel_user=user)
    plain_problem = None if user is None else _sandbox_problem(bwrap, None)
    if user is not None and plain_problem is None:
        # bwrap runs, but not once dropped to `user` (no unprivileged user namespaces here):
        # isolated still, with the weaker mapping, said where the agent and summary.json say it.
        return IsolationPlan("namespaces", bwrap=bwrap, warning=(
            f"WARNING: the sandboxed kernel runs as root outside its namespace (as uid {user.uid} it "
            f"failed: {problem}), so host files readable only by root are readable in the sandbox "
            f"where they show. To fix: allow unprivileged user namespaces "
            f"(user.max_user_namespaces > 0; on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0), "
            f"or set DOJO_KERNEL_UID=off to choose this mapping."))
    problem = plain_problem or problem  # what fails even without the drop says more
    if isolation == "namespaces":
        raise IsolationError(f"isolation='namespaces' cannot work here: {problem}. To fix: {_INSTALL_HINT}.")
    return IsolationPlan("none", warning=(
        f"WARNING: the kernel is NOT isolated ({problem}): agent code can read any file this "
        f"process can, including private answers, and reach the network. To fix: {_INSTALL_HINT}."))


@functools.cache
def _sandbox_problem(bwrap: str | None, user: KernelUser | None = None) -> str | None:
    """None if a trial sandbox with the real layout starts and runs Python (as `user` on the
    host, where given, as the kernel will); else what went wrong."""
    if bwrap is None:
        return "bubblewrap (`bwrap`) is not installed"
    with tempfile.TemporaryDirectory(prefix="dojo-probe-") as tmp:
        run_dir, runtime_dir = Path(tmp, "run"), Path(tmp, "rt")
        for folder in (run_dir / "working", runtime_dir):
            folder.mkdir(parents=True)
        prepare_kernel_workspace(run_dir, run_dir / "working", user)
        hand_over(runtime_dir, user)
        try:
            argv = wrap_command([sys.executable, "-c", "open('working/ok', 'w').write('ok')"],
                                LaunchSpec(IsolationPlan("namespaces", bwrap=bwrap)), cwd=run_dir,
                                runtime_dir=runtime_dir)
        except IsolationError as error:
            return str(error)
        argv, stage = stage_binds(argv, user)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=_probe_env(),
                                  preexec_fn=None if stage is None else stage.apply)
        except (OSError, subprocess.SubprocessError) as error:
            return f"a trial sandbox did not run ({error})"
        if done.returncode != 0 or not (run_dir / "working" / "ok").exists():
            detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            return f"a trial sandbox failed: {detail}"
    return None


def _probe_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": os.environ.get("LANG", "C.UTF-8")}


def wrap_command(argv: list[str], spec: LaunchSpec, *, cwd: Path, runtime_dir: Path,
                 seccomp_fd: int | None = None) -> list[str]:
    """The command that launches the kernel `argv` as `spec` says.

    seccomp_fd: a descriptor the launched bwrap inherits holding `seccomp.program()` (the
    caller opens it: spawn.seccomp_descriptor); bwrap installs it for the kernel.

    cwd: the run dir (the kernel's working directory); its writable part cwd/working and, with
    an input_source, the link cwd/input must exist (spawn.prepare_workspace makes them).
    runtime_dir: where the connection file and ipc sockets live (stays writable at the same path).
    Reads the file system, writes nothing.
    """
    plan = spec.plan
    if plan.mode == "none":
        return list(argv)
    if plan.mode != "namespaces" or not plan.bwrap:
        raise ConfigError(expected("an IsolationPlan from resolve_mode()", plan))
    run_dir = Path(cwd).resolve()
    runtime_dir = Path(runtime_dir).resolve()
    working = run_dir / "working"
    if not working.is_dir():
        raise ConfigError(expected(f"a folder {working} for the kernel to write in", "none",
                                   "create it first (spawn.prepare_workspace)"))
    input_source = spec.input_source
    if input_source is not None and not (run_dir / "input").exists():
        raise ConfigError(expected(f"{run_dir / 'input'} linking the public data {input_source}", "nothing",
                                   "link it first (spawn.prepare_workspace)"))

    version = _bwrap_version(plan.bwrap)
    args = [plan.bwrap,
            "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", SANDBOX_HOSTNAME,
            "--unshare-cgroup-try",
            # Die with the env, and leave the env's terminal session (no TIOCSTI keystroke injection).
            # Interrupts therefore go by message (interrupt_mode "message"), not by signal.
            "--die-with-parent", "--new-session",
            # ipykernel exits when its parent looks like init; in a PID namespace it always does.
            "--unsetenv", "JPY_PARENT_PID"]
    if version >= (0, 8):  # no nested user namespaces, so no rearranging the view from inside
        args.append("--disable-userns")
    if not spec.allow_network:
        args.append("--unshare-net")
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]

    # Private /proc, /dev, /tmp first: folders shown below may lie inside /tmp (a venv there).
    args += ["--proc", "/proc", "--dev", "/dev"]
    if spec.expose_gpus:
        for device in gpu_device_plan(spec, _nvidia_device_files()):
            args += ["--dev-bind", str(device), str(device)]
    for scratch in ("/tmp", "/dev/shm"):  # private to the kernel, gone with it
        if spec.tmp_size_bytes is not None and version >= (0, 7):
            args += ["--size", str(spec.tmp_size_bytes)]
        args += ["--tmpfs", scratch]

    # The Python running dojo-kernel (first on the kernel's PATH), and the one in argv if another.
    interpreters = dict.fromkeys([sys.executable] + ([argv[0]] if Path(argv[0]).name.startswith("python") else []))
    read_only = _system_dirs() + [d for python in interpreters for d in _python_dirs(python)]
    read_only += [d for d in _library_dirs() if not any(_is_within(Path(d), Path(o)) for o in read_only)]
    for path in read_only:
        args += _ro_bind(path)
    for secret in _ETC_SECRETS:
        if os.path.lexists(secret):
            args += _cover(secret)
    if spec.allow_network and os.path.isdir("/run/systemd/resolve"):  # /etc/resolv.conf often points here
        args += ["--ro-bind", "/run/systemd/resolve", "/run/systemd/resolve"]
    # Anything secret that sits inside a folder made visible above gets an empty tmpfs over it
    # (made read-only last, once the mounts below have their mount points).
    covers = [p for p in spec.hidden_paths
              if p.exists() and any(_is_within(p, Path(d)) for d in read_only)]
    for secret in covers:
        args += ["--tmpfs", str(secret)] if secret.is_dir() else ["--ro-bind", "/dev/null", str(secret)]

    args += ["--bind", str(runtime_dir), str(runtime_dir),
             "--ro-bind", str(run_dir), str(run_dir),
             "--bind", str(working), str(working)]
    if input_source is not None:
        args += ["--ro-bind", str(input_source), str(_input_mount_point(run_dir))]
    # The root that bwrap assembles the view on is a tmpfs, like the covers: make them read-only.
    for secret in covers:
        if secret.is_dir():
            args += ["--remount-ro", str(secret)]
    args += ["--remount-ro", "/", "--chdir", str(run_dir), "--"]
    return args + list(argv)


_GPU_DEVICE = re.compile(r"nvidia(\d+)$")


def _nvidia_device_files() -> list[Path]:
    """The NVIDIA device files here: nvidia0.., nvidiactl, nvidia-uvm(-tools), nvidia-modeset, nvidia-caps/."""
    return sorted(d for d in Path("/dev").glob("nvidia*") if d.is_char_device() or d.is_dir())


def gpu_device_plan(spec: LaunchSpec, present: Iterable[Path]) -> list[Path]:
    """Which of the device files `present` the kernel of `spec` may open: none without
    expose_gpus; else the control devices (every name but nvidiaN) and, of the GPUs, only
    /dev/nvidia<spec.gpu_minor> (all of them where gpu_minor is None). With one GPU file in
    its view, CUDA_VISIBLE_DEVICES cannot steer the kernel to another GPU."""
    if not spec.expose_gpus:
        return []
    plan = []
    for path in present:
        match = _GPU_DEVICE.match(Path(path).name)
        if match is None or spec.gpu_minor is None or int(match.group(1)) == spec.gpu_minor:
            plan.append(Path(path))
    return sorted(plan)


@functools.cache
def _bwrap_version(bwrap: str) -> tuple[int, ...]:
    """bubblewrap's version, e.g. (0, 8, 0); (0,) where it cannot tell (older options only)."""
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30).stdout
        return tuple(int(part) for part in out.split()[-1].split("."))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return (0,)


def _input_mount_point(run_dir: Path) -> Path:
    """Where the public data must appear so that run_dir/input shows it: the target of the
    link prepare_workspace leaves, or run_dir/input itself where an env made it a folder."""
    link = run_dir / "input"
    return Path(os.path.realpath(link)) if link.is_symlink() else link


def _cover(path: str) -> list[str]:
    """Arguments that hide `path`: an empty read-only tmpfs over a folder, /dev/null over a file."""
    if os.path.isdir(path):
        return ["--tmpfs", path, "--remount-ro", path]
    return ["--ro-bind", "/dev/null", path]


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _ro_bind(path: str) -> list[str]:
    """Arguments that show `path` read-only at the same place; links stay links (merged /usr)."""
    if os.path.islink(path) and os.path.dirname(path) == "/":
        return ["--symlink", os.readlink(path), path]
    args = ["--ro-bind", path, path]
    real = os.path.realpath(path)
    if real != path:  # e.g. a venv or conda prefix reached through a link: show the target too
        args += ["--ro-bind", real, real]
    return args


def _library_dirs() -> list[str]:
    """The existing folders on LD_LIBRARY_PATH, which kernel_environment passes on."""
    found = (os.path.abspath(d) for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d)
    return list(dict.fromkeys(d for d in found if d != "/" and os.path.isdir(d)))


def _system_dirs() -> list[str]:
    return [d for d in _SYSTEM_DIRS if os.path.lexists(d)]


@functools.cache
def _python_dirs(python: str) -> list[str]:
    """The directories an interpreter loads code from: its prefixes and its whole sys.path.

    Asked of the interpreter itself (with a clean environment), so editable installs and
    .pth entries count, and the caller's own sys.path (a test runner's rootdir) does not.
    """
    # An editable install made by setuptools maps packages to their folders in a finder module
    # (MAPPING) rather than on sys.path: those folders are library code too.
    # A mapped package may hold links to folders outside it (this project's dojo_kernel/metrics
    # and dojo_kernel/prepare link to the top-level metrics/ and prepare/): their targets too.
    script = ("import sys, json, os; mapped = [p for n, m in list(sys.modules.items()) if n.startswith('__editable__')"
              " for p in getattr(m, 'MAPPING', {}).values()];"
              " linked = [os.path.realpath(os.path.join(p, e)) for p in mapped if os.path.isdir(p)"
              " for e in os.listdir(p) if os.path.islink(os.path.join(p, e)) and os.path.isdir(os.path.join(p, e))];"
              " print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, *mapped, *linked]))")
    try:
        out = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60,
                             env=_probe_env(), cwd="/", check=True).stdout
        paths = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise IsolationError(f"could not ask {python} for its library paths: {error}") from error
    system = [Path(d) for d in _SYSTEM_DIRS]
    home = Path.home().resolve()
    dirs: list[str] = []
    for entry in paths:
        # "/" or a home folder on sys.path (a stray .pth) would show keys and credentials: skip.
        if not entry or not os.path.isabs(entry) or _is_within(home, Path(entry)):
            continue
        # A zip that does not exist or a file entry: bind the existing folder that holds it.
        while not os.path.isdir(entry) and entry != "/":
            entry = os.path.dirname(entry)
        path = Path(entry)
        if _is_within(home, path) or any(_is_within(path, d) for d in system):
            continue
        if entry not in dirs:
            dirs.append(entry)
    # Drop folders inside other listed folders: one bind covers them.
    return [d for d in dirs if not any(o != d and _is_within(Path(d), Path(o)) for o in dirs)]
