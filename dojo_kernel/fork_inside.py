"""The kernel's half of forking: this file's source is sent into a kernel and run there.

The host (dojo_kernel.fork) never imports it: it reads this file and sends the text as a
silent execute_request, run in a namespace of its own (not the user's), so that it works
in a sandbox that cannot see the dojo_kernel package. It uses only the standard library
and what every ipykernel has.

What happens, on the kernel's main thread (the one that runs user code, so the Python
state is consistent: no cell is half run):

1. Refuse, with a message, when the process holds a GPU (a CUDA context does not survive
   fork; the child would crash or corrupt it).
2. List what cannot be carried: other threads (only the forking thread survives a fork),
   open network sockets (a TCP stream cannot be shared by two processes), child processes
   (they stay the parent's).
3. fork(); the intermediate process forks again and exits, so the new kernel (which
   starts a session and process group of its own) is nobody's child inside this kernel's
   tree (closing or restarting the parent cannot take it down) and is reaped by init (the
   sandbox's, or the host's).
4. The new kernel never touches what it inherited from ZMQ (contexts, sockets, the I/O
   threads that served them are gone): it keeps every inherited object referenced so that
   no finaliser runs, points stdout/stderr back at the real file descriptors, gives open
   regular files their own offsets, cuts inherited network sockets off, and builds a new
   kernel app on the connection file the host wrote (new sockets, new HMAC key) around the
   SAME InteractiveShell, hence the same user namespace, history and execution count.

The parent prints one line, MARK + JSON: {"pid": N, "lost": {...}} or {"refused": "..."}.
"""

import asyncio
import contextvars
import json
import os
import signal
import socket
import stat
import sys
import threading
import time

MARK = "__dojo_fork__ "
_KEEP = []  # in the child: everything inherited that must never be finalised
_KERNEL_MODULES = ("ipykernel", "zmq", "IPython", "tornado", "jupyter_client", "traitlets", "comm", "debugpy")


def _gpu_holders():
    """What in this process holds a GPU context (a CUDA context cannot survive fork)."""
    found = []
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            found.append("torch has initialised CUDA")
    except Exception:
        pass
    for module, what in (("cupy.cuda", "cupy is imported"), ("pycuda.autoinit", "pycuda has a context"),
                         ("numba.cuda.cudadrv.devices", "numba.cuda is imported")):
        if module in sys.modules:
            found.append(what)
    bridge = sys.modules.get("jax._src.xla_bridge")
    try:
        if bridge is not None and any(name != "cpu" for name in getattr(bridge, "_backends", {})):
            found.append("jax has a GPU backend")
    except Exception:
        pass
    devices = set()
    for fd in _fds():
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/nvidia"):
            devices.add(target)
    if devices:
        found.append("the process has GPU device files open (" + ", ".join(sorted(devices)) + ")")
    return found


def _fds():
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []


def _foreign_threads():
    """Threads other than the kernel's own: they do not exist in a fork."""
    names = []
    for thread in threading.enumerate():
        if thread is threading.main_thread():
            continue
        target = getattr(thread, "_target", None)
        module = getattr(target, "__module__", None) if target is not None else type(thread).__module__
        if (module or "").split(".")[0] not in _KERNEL_MODULES:
            names.append(thread.name)
    return names


def _kernel_ports():
    """Local TCP ports of the kernel's own sockets (ipykernel's iopub pipe for subprocess output)."""
    try:
        from ipykernel.kernelapp import IPKernelApp
        port = getattr(IPKernelApp.instance().iopub_thread, "_pipe_port", None)
    except Exception:
        return set()
    return {port} if isinstance(port, int) else set()


def _network_socket_fds(kernel_too=False):
    """fds of TCP/UDP sockets other than the kernel's own (its channels are unix sockets)."""
    inodes = set()
    own_ports = set() if kernel_too else {f"{port:04X}" for port in _kernel_ports()}
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/self/net/{table}") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9 and fields[1].rsplit(":", 1)[-1] not in own_ports:
                        inodes.add(fields[9])
        except OSError:
            continue
    found = []
    for fd in _fds():
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            found.append(fd)
    return found


def _child_processes():
    found = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as handle:
                pids = handle.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/comm") as handle:
                    found.append(f"{pid} ({handle.read().strip()})")
            except OSError:
                found.append(pid)
    return found


def _own_file_offsets():
    """Reopen every regular file this process has open, at the same offset, on the same fd:
    after fork the two processes would otherwise move one shared offset."""
    shared = []
    for fd in _fds():
        if fd <= 2:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            path = os.readlink(f"/proc/self/fd/{fd}")
            with open(f"/proc/self/fdinfo/{fd}") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            position, flags = int(fields["pos"]), int(fields["flags"], 8)
        except (OSError, KeyError, ValueError):
            continue
        keep = flags & (os.O_ACCMODE | os.O_APPEND | os.O_NONBLOCK | os.O_SYNC | os.O_DSYNC)
        try:
            new = os.open(path, keep | os.O_CLOEXEC)
        except OSError:
            shared.append(path)
            continue
        try:
            again = os.fstat(new)
            if (again.st_dev, again.st_ino) != (info.st_dev, info.st_ino):
                shared.append(path)
                continue
            os.lseek(new, position, os.SEEK_SET)
            os.dup2(new, fd, inheritable=not flags & os.O_CLOEXEC)
        except OSError:
            shared.append(path)
        finally:
            os.close(new)
    return shared


def _cut_network_sockets(fds):
    """Put an unconnected socket on each inherited TCP/UDP fd: the number stays taken (so no
    later file lands on it under an old socket object) and using it fails cleanly."""
    for fd in fds:
        try:
            with socket.socket() as dead:
                os.dup2(dead.fileno(), fd)
        except OSError:
            pass


def _become_kernel(connection_file, home, cwd, argv, adopt_within):
    """In the forked child: a new kernel app on `connection_file` around the same shell."""
    from ipykernel import ipkernel
    from ipykernel.kernelapp import IPKernelApp

    old_app = IPKernelApp.instance()
    old_kernel = old_app.kernel
    shell = old_kernel.shell
    _KEEP.extend([old_app, old_kernel, sys.stdout, sys.stderr, sys.displayhook, ipkernel._comm_manager,
                  getattr(old_app, "context", None), getattr(old_app, "heartbeat", None),
                  getattr(old_app, "iopub_thread", None)])
    # stdout/stderr were redirected into pipes read by the parent's threads: write to the
    # real descriptors again, or the child's output would come out of the parent.
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        copy = getattr(stream, "_original_stdstream_copy", None)
        if isinstance(copy, int):
            try:
                os.dup2(copy, fd)
            except OSError:
                pass
    sys.stdout, sys.stderr, sys.displayhook = sys.__stdout__, sys.__stderr__, sys.__displayhook__
    if home:
        os.environ["HOME"] = home
    if cwd:
        os.chdir(cwd)
    IPKernelApp.clear_instance()
    type(old_kernel).clear_instance()
    ipkernel._comm_manager = None
    ipkernel._comm_lock = threading.Lock()
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    if loky is not None:  # its executor's workers and manager thread are the parent's
        vars(loky).update(_executor=None, _executor_kwargs=None)
    # The forking thread is still inside the parent's event loop (running this cell): a new loop.
    # Signals must not wake the old one through its wakeup socket, which the parent shares.
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    asyncio.events._set_running_loop(None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    app = IPKernelApp.instance()
    app.parse_command_line(list(argv))
    app.connection_file = connection_file
    app.init_connection_file()
    app.init_sockets()
    app.init_heartbeat()
    app.init_io()
    app.init_signal()
    app.init_kernel()
    app.init_shell()
    shell.kernel = app.kernel
    # This thread is still inside the fork cell's run_cell, so IPython's display trap counts as
    # entered and will not install the shell's display hook for later cells: install it here.
    sys.displayhook = shell.displayhook
    # The forking thread still carries the fork cell's context variables (the parent message
    # the display hook answers to): the new kernel runs in a fresh context, as a new process would.
    contextvars.Context().run(_serve, app, connection_file, adopt_within)


def _serve(app, connection_file, adopt_within):
    from tornado import ioloop
    app.kernel.start()
    app.io_loop = ioloop.IOLoop.current()
    # The host marks the fork adopted once it has checked it; a fork it never adopts (the
    # host gave up, or was told a wrong PID) would otherwise serve nobody forever.
    marker = os.path.join(os.path.dirname(connection_file), "adopted")
    deadline = time.monotonic() + adopt_within

    def check_adopted():
        if os.path.exists(marker):
            return
        if time.monotonic() > deadline:
            os._exit(0)
        app.io_loop.call_later(0.2, check_adopted)

    app.io_loop.call_later(0.2, check_adopted)
    try:
        app.io_loop.start()
    except KeyboardInterrupt:
        pass


def _say(answer):
    """The answer for the host, in ONE write on a line of its own: print() writes the text and
    the newline separately, and a thread's output could land between them."""
    sys.stdout.write("\n" + MARK + json.dumps(answer) + "\n")
    sys.stdout.flush()


def fork(connection_file, home=None, cwd=None, adopt_within=60.0):
    """Fork this kernel; print MARK + JSON for the host."""
    refused = _gpu_holders()
    if refused:
        _say({"refused": "; ".join(refused)})
        return
    lost = {"threads": _foreign_threads(), "network_sockets": len(_network_socket_fds()),
            "child_processes": _child_processes()}
    argv = [arg for arg in sys.argv[1:]]
    if "-f" in argv:
        index = argv.index("-f")
        del argv[index:index + 2]
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            os.close(read_end)
            if os.fork() != 0:
                os._exit(0)
            os.setsid()  # its own session and process group: what is killed with it, and only that
            os.write(write_end, b"%d\n" % os.getpid())
            os.close(write_end)
            _cut_network_sockets(_network_socket_fds(kernel_too=True))  # the old kernel's are dead too
            _own_file_offsets()
            _become_kernel(connection_file, home, cwd, argv, adopt_within)
        except BaseException:
            import traceback
            try:
                traceback.print_exc(file=sys.__stderr__)
                if sys.__stderr__ is not None:
                    sys.__stderr__.flush()
            except Exception:
                pass
            os._exit(70)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.waitpid(first, 0)
        with os.fdopen(read_end, "rb") as handle:
            line = handle.readline(32)
    except OSError:
        line = b""
    if not line.strip().isdigit():
        _say({"refused": "the forked process ended before it started"})
        return
    _say({"pid": int(line), "lost": lost})
