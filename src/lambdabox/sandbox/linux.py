"""The Linux system calls the sandbox needs and Python's `os` module lacks, via ctypes.

One function per system call. Each raises `OSError` with the errno the kernel gave and
names the call and its arguments, so that a failing step says what it tried. Nothing here
decides policy; `launcher` says which calls happen in which order, and why.

This module is imported by the spawner process, which runs with `python -I -S`: standard
library only.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import socket
import struct

# Namespace flags for unshare(2), from <linux/sched.h>.
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# Mount flags for mount(2), from <linux/mount.h>.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

# Flags for umount2(2).
MNT_DETACH = 0x2

# prctl(2) options, from <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_MM = 35
PR_SET_MM_MAP = 14

#: capset(2) header version 3: two 32-bit words per set, 64 capabilities.
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: pivot_root has no glibc wrapper; its number per architecture (from the kernel's syscall tables).
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sbrk.argtypes = [ctypes.c_long]
_libc.sbrk.restype = ctypes.c_void_p
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _MmMap(ctypes.Structure):
    """struct prctl_mm_map, from <linux/prctl.h>."""

    _fields_ = [
        *[(name, ctypes.c_uint64) for name in (
            "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
            "arg_start", "arg_end", "env_start", "env_end", "auxv",
        )],
        ("auxv_size", ctypes.c_uint32),
        ("exe_fd", ctypes.c_uint32),
    ]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result: int, call: str) -> None:
    if result == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{call}: {os.strerror(errno)}")


def _bytes(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def setns(fd: int, kind: int) -> None:
    _check(_libc.setns(fd, kind), f"setns({fd}, {kind:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data)),
        f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}, {data!r})",
    )


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(_bytes(target), flags), f"umount2({target!r}, {flags:#x})")


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(_libc.syscall(number, _bytes(new_root), _bytes(put_old)), f"pivot_root({new_root!r}, {put_old!r})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name!r})")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option}, {arg2})")


def capset_none() -> None:
    """Empty the effective, permitted and inheritable capability sets of this thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset(0)")


def raise_permitted_capabilities() -> None:
    """Make this thread's effective capabilities its permitted ones (after a setuid with PR_SET_KEEPCAPS)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    for word in data:
        word.effective = word.permitted
    _check(_libc.capset(ctypes.byref(header), data), "capset(effective = permitted)")


def replace_process_strings(argv: list[str], env: dict[str, str]) -> ctypes.Array:
    """Point this process's /proc/self/cmdline and /proc/self/environ at new blocks.

    A process forked without exec still shows the command line and environment its
    ancestor was exec'd with. PR_SET_MM_MAP moves the kernel's view to buffers of ours (no
    privilege is needed for these fields). The returned buffer must outlive the process.
    """
    args = b"".join(os.fsencode(part) + b"\0" for part in argv)
    block = b"".join(os.fsencode(f"{key}={value}") + b"\0" for key, value in env.items())
    buffer = ctypes.create_string_buffer(args + block, len(args + block) or 1)
    base = ctypes.addressof(buffer)
    with open("/proc/self/stat", "rb") as file:
        # Fields after the command name, which may hold spaces; field 3 is fields[0].
        fields = file.read().rpartition(b")")[2].split()

    def field(number: int) -> int:
        return int(fields[number - 3])

    layout = _MmMap(
        start_code=field(26), end_code=field(27), start_data=field(45), end_data=field(46),
        start_brk=field(47), brk=_libc.sbrk(0), start_stack=field(28),
        arg_start=base, arg_end=base + len(args), env_start=base + len(args), env_end=base + len(args) + len(block),
        auxv=0, auxv_size=0, exe_fd=0xFFFFFFFF,
    )
    _check(_libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(layout), ctypes.sizeof(layout), 0), "prctl(PR_SET_MM_MAP)")
    return buffer


#: ioctl requests and flags for a network interface, from <linux/sockios.h> and <net/if.h>.
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
#: struct ifreq: the interface name, then a union whose first member here is the short flags.
_IFREQ = struct.Struct("16sH22x")


def bring_up_loopback() -> None:
    """Set `lo` up in this process's network namespace (a new one has it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ.pack(b"lo", 0)
        _, flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


#: Where a sandbox with a network of its own finds, on its loopback, its Runtime API (as on AWS) and the
#: bridge to Lambdabox's API; the server holds both listeners (see `network` and `cloning`).
RUNTIME_API_PORT, API_PORT = 9001, 9000
#: Backlog of those listeners: one runtime client, and the function's own API calls.
LISTEN_BACKLOG = 64


def listen_on_loopback(port: int) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:`port` of this thread's network namespace."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(LISTEN_BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


def write_file(path: str, text: str, dir_fd: int | None = None) -> None:
    """Write `text` to an existing file in one write(2), as /proc and /sys files want."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as file:
        return int(file.read())


#: prctl(2) option that installs a seccomp filter, from <linux/prctl.h>, and its mode, from <linux/seccomp.h>.
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
#: Size of one classic-BPF instruction, `struct sock_filter`, in bytes.
_SOCK_FILTER_SIZE = 8
#: Most instructions the kernel takes in one program (BPF_MAXINSNS); sock_fprog's length is 16 bits.
_BPF_MAXINSNS = 4096


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(program: bytes) -> None:
    """Install `program` (raw `struct sock_filter`s, from `seccomp.compile_program`) as a seccomp filter.

    It applies to the calling thread and everything it forks or execs from then on, and
    cannot be removed; a filter installed later runs too, and the stricter answer wins.
    Call it single-threaded. Without no_new_privs set, the kernel wants CAP_SYS_ADMIN
    (EACCES otherwise). Raises OSError with the kernel's errno (EINVAL for a malformed program).
    """
    if not program or len(program) % _SOCK_FILTER_SIZE or len(program) // _SOCK_FILTER_SIZE > _BPF_MAXINSNS:
        raise OSError(22, f"install_seccomp: a program of {len(program)} bytes is not 1-{_BPF_MAXINSNS} instructions")
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // _SOCK_FILTER_SIZE, ctypes.addressof(instructions))
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
        f"prctl(PR_SET_SECCOMP, {len(program) // _SOCK_FILTER_SIZE} instructions)",
    )
