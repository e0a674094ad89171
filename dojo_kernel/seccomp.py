"""The seccomp filter bubblewrap installs for agent code (`bwrap --seccomp FD`).

A classic BPF program (struct sock_filter, 8 bytes per instruction) built here with the
standard library, because neither libseccomp's Python bindings nor pyseccomp install here.
It refuses, with EPERM, the calls that let one process control or read another
(ptrace, process_vm_readv/writev, kcmp, pidfd_getfd: the way to clear the sandbox init's
parent-death signal and outlive the env), personality changes (they switch off ASLR and
change syscall semantics), and host-kernel interfaces a kernel in a notebook never needs
(keyrings, bpf, perf events, userfaultfd, io_uring, module loading, mounts). Pure: no
file is written; the caller hands the bytes to bwrap through a descriptor.
"""

from __future__ import annotations

import errno
import platform
import struct

# <linux/filter.h>, <linux/bpf_common.h>, <linux/seccomp.h>, <linux/audit.h>
_LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS: load 32 bits of seccomp_data at offset k
_JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35      # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06      # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_EPERM = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO | EPERM
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0_LOW = 0, 4, 16  # struct seccomp_data (little endian)
_X32_SYSCALL_BIT = 0x40000000

# The refused calls, by name; numbers per architecture below (x86_64 from asm/unistd_64.h,
# aarch64 from asm-generic/unistd.h). personality is handled apart: reading it stays allowed.
BLOCKED = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
           "userfaultfd", "perf_event_open", "keyctl", "add_key", "request_key", "bpf",
           "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
           "acct", "swapon", "swapoff", "reboot", "syslog", "mount", "umount2", "pivot_root",
           "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "vhangup",
           "io_uring_setup", "io_uring_enter", "io_uring_register")

_ARCHES = {
    # machine name: (AUDIT_ARCH_*, {syscall: number})
    "x86_64": (0xC000003E, {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "pidfd_getfd": 438, "personality": 135, "userfaultfd": 323, "perf_event_open": 298,
        "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "kexec_load": 246,
        "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169, "syslog": 103, "mount": 165,
        "umount2": 166, "pivot_root": 155, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "lookup_dcookie": 212, "vhangup": 153, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427}),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "pidfd_getfd": 438, "personality": 92, "userfaultfd": 282, "perf_event_open": 241,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "kexec_load": 104,
        "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "acct": 89, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116, "mount": 40,
        "umount2": 39, "pivot_root": 41, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "lookup_dcookie": 18, "vhangup": 58, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427}),
}
_ARCHES["arm64"] = _ARCHES["aarch64"]

# personality(PER_LINUX) and personality(0xffffffff) (a query) are what glibc and Python use.
_PERSONALITY_ALLOWED = (0x0, 0xFFFFFFFF)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _ARCHES


def program(machine: str | None = None) -> bytes | None:
    """The filter for `machine` (default: this one) as bwrap reads it; None where the
    architecture is unknown (the sandbox then runs without a filter: README says so)."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, numbers = arch
    ops = [_op(_LD_W_ABS, _OFFSET_ARCH),
           # A call made through another ABI (32-bit compat) has other numbers: kill the process.
           _op(_JEQ_K, audit_arch, jt=1), _op(_RET_K, _RET_KILL_PROCESS),
           _op(_LD_W_ABS, _OFFSET_NR)]
    if audit_arch == 0xC000003E:  # x32 calls carry the same arch tag with bit 30 set: refuse them
        ops += [_op(_JGE_K, _X32_SYSCALL_BIT, jf=1), _op(_RET_K, _RET_EPERM)]
    for name in BLOCKED:  # "if nr == N: return EPERM", two instructions each
        ops += [_op(_JEQ_K, numbers[name], jf=1), _op(_RET_K, _RET_EPERM)]
    # personality(x): allowed only for the values in _PERSONALITY_ALLOWED.
    ops += [_op(_JEQ_K, numbers["personality"], jf=2 + len(_PERSONALITY_ALLOWED)),
            _op(_LD_W_ABS, _OFFSET_ARG0_LOW)]
    for index, value in enumerate(_PERSONALITY_ALLOWED):
        ops.append(_op(_JEQ_K, value, jt=len(_PERSONALITY_ALLOWED) - index))
    ops += [_op(_RET_K, _RET_EPERM), _op(_RET_K, _RET_ALLOW)]
    return b"".join(ops)
