"""The seccomp profiles sandboxes run under: which system calls fail, and why.

A sandbox's processes run as an unprivileged user with no capabilities, but some calls
need no privilege and still reach far: a new user namespace gives back every capability
inside it (and with it mounts, netfilter and much of the kernel), io_uring and bpf are
large kernel surfaces, keyrings are shared by every sandbox of the same uid. The profile
below denies those, and the host-administration calls Docker's default profile denies to
a container without the matching capability (so that a mistake elsewhere does not leave
them open).

Contract:
1. The default action is *allow*; a denied call fails with EPERM, but `clone3` fails
   with ENOSYS, so that glibc falls back to `clone`, whose flags a filter can read.
2. A call from another ABI than the native one (i386 `int 0x80` or x32 on x86_64,
   32-bit ARM on aarch64) kills the process: no rule could be bypassed through a second
   syscall table.
3. Argument tests read `int` arguments through their low 32 bits only, as the kernel does.
4. Two variants. `function` is for every environment. `template` is for a SnapStart
   template, whose `cloning` code must unshare its namespaces (exactly
   `CLONE_NAMESPACES`, optionally with CLONE_NEWNET), mount /tmp and /proc, and set the
   hostname; all else is denied as in `function`. Each clone installs `function` on
   top: stacked filters all run, and the strictest answer wins.

`compile_program` turns a variant into the raw classic-BPF program (libseccomp does the
compiling) that `linux.install_seccomp` installs; the spawner itself needs no libseccomp.
"""

from __future__ import annotations

import errno
import itertools
import os
from dataclasses import dataclass
from typing import Literal, Union

import pyseccomp

Variant = Literal["function", "template"]
#: Every variant, in the order `compile_program` accepts them.
VARIANTS: tuple[Variant, ...] = ("function", "template")

# Namespace flags of clone(2) and unshare(2), from <linux/sched.h>.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
#: Every namespace flag.
NAMESPACES = (
    CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)
#: The namespaces a SnapStart clone unshares (see `cloning`); CLONE_NEWNET may come with them.
CLONE_NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
#: Mask of an `int` argument: the kernel reads its low 32 bits, whatever the caller put in the high ones.
INT = 0xFFFFFFFF

# personality(2) values Docker allows, from <linux/personality.h>: PER_LINUX, PER_LINUX32,
# UNAME26 (with either), and 0xffffffff, which only asks for the current one.
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000
PER_QUERY = 0xFFFFFFFF

# File types in a mode, from <sys/stat.h>. A type of 0 in mknod(2) means a regular file.
S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFREG = 0o100000
S_IFIFO = 0o010000

# Socket families, types and protocols, from <sys/socket.h>, <linux/netlink.h>, <linux/in.h>.
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17
AF_VSOCK = 40
#: The type part of socket(2)'s type argument (the rest is SOCK_NONBLOCK and SOCK_CLOEXEC).
SOCK_TYPE_MASK = 0xF
SOCK_RAW = 3
#: Obsolete packet sockets: the kernel turns socket(AF_INET, SOCK_PACKET) into AF_PACKET.
SOCK_PACKET = 10
NETLINK_XFRM = 6
NETLINK_NETFILTER = 12
SOL_IP = 0
SOL_IPV6 = 41
# x_tables' setsockopt options (the legacy iptables interface), as (mask, value) for the
# pairs and ranges they come in: {IPT,IP6T}_SO_SET_REPLACE and _ADD_COUNTERS (64, 65),
# ARPT_ (96, 97), EBT_SO_SET_ENTRIES and _COUNTERS (128, 129), and IP_VS_SO_SET_* (1152-1167).
_X_TABLES_IPV4 = ((0xFFFFFFFE, 64), (0xFFFFFFFE, 96), (0xFFFFFFFE, 128), (0xFFFFFFF0, 1152))
_X_TABLES_IPV6 = ((0xFFFFFFFE, 64),)

#: Calls newer than the libseccomp we may run with, by number. From Linux 5.1 on, new
#: calls have one number on every architecture (but alpha's); these are x86_64's and arm64's.
NEWER_CALLS = {"open_tree_attr": 467}


@dataclass(frozen=True)
class Masked:
    """Argument `arg`, ANDed with `mask`, equals `value`."""

    arg: int
    mask: int
    value: int

    def alternatives(self) -> list[tuple[int, int]]:
        return [(self.mask, self.value)]


@dataclass(frozen=True)
class AnyBit:
    """Argument `arg` has at least one of the bits of `mask` set."""

    arg: int
    mask: int

    def alternatives(self) -> list[tuple[int, int]]:
        return [(1 << bit, 1 << bit) for bit in range(64) if self.mask >> bit & 1]


@dataclass(frozen=True)
class NotIn:
    """Argument `arg`, ANDed with `mask`, is none of `values` (each taken ANDed with `mask` too)."""

    arg: int
    mask: int
    values: frozenset[int]

    def alternatives(self) -> list[tuple[int, int]]:
        return _outside(self.mask, frozenset(value & self.mask for value in self.values))


Test = Union[Masked, AnyBit, NotIn]


@dataclass(frozen=True)
class Deny:
    """Fail each of `calls` with the errno `error` where every test of `when` holds (always, with none).

    A rule is in both variants unless `only` names one. Tests of one rule are on distinct arguments.
    """

    calls: tuple[str, ...]
    when: tuple[Test, ...] = ()
    error: int = errno.EPERM
    only: Variant | None = None


@dataclass(frozen=True)
class Group:
    """Rules that are there for one reason, `why`."""

    why: str
    rules: tuple[Deny, ...]


PROFILE: tuple[Group, ...] = (
    Group(
        "Namespaces. A new user namespace gives back every capability inside it, and with "
        "them mounts, netfilter and much of the kernel's attack surface; the other namespaces "
        "need CAP_SYS_ADMIN anyway. clone3's flags are in memory, where a filter cannot read "
        "them: ENOSYS makes glibc fall back to clone, whose flags are tested.",
        (
            Deny(("unshare",), (AnyBit(0, NAMESPACES),), only="function"),
            # A template's clones unshare exactly these sets (see `cloning`); no other mix.
            Deny(
                ("unshare",),
                (NotIn(0, NAMESPACES, frozenset({0, CLONE_NAMESPACES, CLONE_NAMESPACES | CLONE_NEWNET})),),
                only="template",
            ),
            # In clone's own flags, 0x80 (CLONE_NEWTIME elsewhere) belongs to the exit signal.
            Deny(("clone",), (AnyBit(0, NAMESPACES & ~CLONE_NEWTIME),)),
            Deny(("clone3",), error=errno.ENOSYS),
            Deny(("setns",)),
        ),
    ),
    Group(
        "Mounts and roots: a sandbox's file system is made before it starts. A template's "
        "clones mount /tmp and /proc in their own user and mount namespaces (mount's strings "
        "cannot be filtered, so mount is allowed there).",
        (
            Deny(("mount",), only="function"),
            Deny(("umount", "umount2", "pivot_root", "chroot")),
            Deny(("open_tree", "open_tree_attr", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick")),
            Deny(("mount_setattr",)),
        ),
    ),
    Group(
        "Kernel keyrings are not namespaced: every sandbox running as the same uid would "
        "share its user keyring.",
        (Deny(("keyctl", "add_key", "request_key")),),
    ),
    Group(
        "Large kernel surfaces open without privilege, a frequent source of exploits: eBPF, "
        "perf events, userfaultfd (which stretches a kernel race at will), io_uring.",
        (
            Deny(("bpf", "perf_event_open", "userfaultfd")),
            Deny(("io_uring_setup", "io_uring_enter", "io_uring_register")),
        ),
    ),
    Group(
        "Kernel code: modules and kexec.",
        (
            Deny(("kexec_load", "kexec_file_load")),
            Deny(("init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module")),
        ),
    ),
    Group(
        "Execution domains: Linux's, 32-bit uname and the query only; the others "
        "(READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO...) weaken memory protections.",
        (
            Deny(
                ("personality",),
                (NotIn(0, INT, frozenset({PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PER_QUERY})),),
            ),
        ),
    ),
    Group(
        "Other processes' memory, descriptors and state.",
        (Deny(("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise")),),
    ),
    Group(
        "File handles: open_by_handle_at opens a file by its handle, past the sandbox's root "
        "(the 'shocker' escape); name_to_handle_at makes the handles.",
        (Deny(("open_by_handle_at", "name_to_handle_at")),),
    ),
    Group(
        "Device nodes: a sandbox has the devices it was given. FIFOs, sockets and regular "
        "files may still be made with mknod.",
        (
            Deny(("mknod",), (NotIn(1, S_IFMT, frozenset({0, S_IFREG, S_IFIFO, S_IFSOCK})),)),
            Deny(("mknodat",), (NotIn(2, S_IFMT, frozenset({0, S_IFREG, S_IFIFO, S_IFSOCK})),)),
        ),
    ),
    Group(
        "Networking a user namespace would open up to a template (CAP_NET_ADMIN, CAP_NET_RAW "
        "in its own network namespace): netfilter (nf_tables over netlink, and x_tables' "
        "setsockopts), xfrm, packet and raw sockets. And vsock, a way to the host of a "
        "virtual machine.",
        (
            Deny(("socket",), (Masked(0, INT, AF_NETLINK), Masked(2, INT, NETLINK_NETFILTER))),
            Deny(("socket",), (Masked(0, INT, AF_NETLINK), Masked(2, INT, NETLINK_XFRM))),
            Deny(("socket",), (Masked(0, INT, AF_PACKET),)),
            Deny(("socket",), (Masked(0, INT, AF_INET), Masked(1, SOCK_TYPE_MASK, SOCK_RAW))),
            Deny(("socket",), (Masked(0, INT, AF_INET), Masked(1, SOCK_TYPE_MASK, SOCK_PACKET))),
            Deny(("socket",), (Masked(0, INT, AF_INET6), Masked(1, SOCK_TYPE_MASK, SOCK_RAW))),
            Deny(("socket",), (Masked(0, INT, AF_VSOCK),)),
            *(
                Deny(("setsockopt",), (Masked(1, INT, SOL_IP), Masked(2, mask, value)))
                for mask, value in _X_TABLES_IPV4
            ),
            *(
                Deny(("setsockopt",), (Masked(1, INT, SOL_IPV6), Masked(2, mask, value)))
                for mask, value in _X_TABLES_IPV6
            ),
        ),
    ),
    Group(
        "Host administration: for the host's root alone (Docker denies these without the "
        "matching capability). A template's clones set their own hostname, in their own UTS namespace.",
        (
            Deny(("sethostname",), only="function"),
            Deny(("setdomainname",)),
            Deny(("reboot", "swapon", "swapoff", "acct", "vhangup")),
            Deny(("settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex")),
            Deny(("syslog", "quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init")),
            Deny(("iopl", "ioperm", "vm86", "vm86old")),
            Deny(("uselib", "ustat", "sysfs", "_sysctl", "nfsservctl")),
        ),
    ),
    Group(
        "NUMA memory placement (CAP_SYS_NICE in Docker): the host places a sandbox's memory.",
        (
            Deny(("get_mempolicy", "set_mempolicy", "mbind", "set_mempolicy_home_node")),
            Deny(("move_pages", "migrate_pages")),
        ),
    ),
)

#: The architectures the profile was written for (clone's flags are its first argument there).
_ARCHITECTURES = {pyseccomp.Arch.X86_64: "x86_64", pyseccomp.Arch.AARCH64: "aarch64"}
#: Size of one classic-BPF instruction (struct sock_filter), in bytes.
INSTRUCTION_SIZE = 8
#: Most instructions the kernel takes in one filter (BPF_MAXINSNS).
MAX_INSTRUCTIONS = 4096


def rules(variant: Variant) -> list[Deny]:
    """The rules of `variant`, in profile order. Raises ValueError for an unknown variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown seccomp variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return [rule for group in PROFILE for rule in group.rules if rule.only in (None, variant)]


def denied_calls(variant: Variant) -> dict[str, list[Deny]]:
    """Each call `variant` denies, always or on some arguments, with the rules that deny it."""
    calls: dict[str, list[Deny]] = {}
    for rule in rules(variant):
        for call in rule.calls:
            calls.setdefault(call, []).append(rule)
    return calls


def compile_program(variant: Variant) -> bytes:
    """The raw classic-BPF program of `variant` for this machine's architecture.

    The result is an array of `struct sock_filter` in native byte order, ready for
    `linux.install_seccomp`. Calls this architecture does not have are left out. Raises
    ValueError for an unknown variant, and OSError on an architecture the profile was not
    written for or when libseccomp refuses a rule.
    """
    chosen = rules(variant)
    native = pyseccomp.system_arch()
    if native not in _ARCHITECTURES:
        raise OSError(errno.ENOSYS, f"no seccomp profile for architecture {native:#x}")
    program = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    # Another ABI's calls (i386 or x32 on x86_64, arm on aarch64) would have other numbers.
    program.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    # A binary tree of system call numbers: allowed calls pay a few comparisons, not one per rule.
    program.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, 2)
    for rule in chosen:
        if len({test.arg for test in rule.when}) != len(rule.when):
            raise ValueError(f"two tests of one argument in the rule for {rule.calls}")
        for call in rule.calls:
            number = _number(call)
            if number is None:
                continue
            for choice in itertools.product(*(test.alternatives() for test in rule.when)):
                compare = [
                    pyseccomp.Arg(test.arg, pyseccomp.MASKED_EQ, mask, value)
                    for test, (mask, value) in zip(rule.when, choice)
                ]
                program.add_rule(pyseccomp.ERRNO(rule.error), number, *compare)
    fd = os.memfd_create(f"seccomp-{variant}", os.MFD_CLOEXEC)
    with open(fd, "w+b") as out:
        program.export_bpf(out)
        out.seek(0)
        compiled = out.read()
    if len(compiled) % INSTRUCTION_SIZE or len(compiled) // INSTRUCTION_SIZE > MAX_INSTRUCTIONS:
        raise OSError(errno.E2BIG, f"seccomp program of {len(compiled)} bytes")
    return compiled


def _number(call: str) -> int | None:
    """The native number of `call`, or None where this architecture lacks it."""
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, call)
    if number == -1:  # __NR_SCMP_ERROR: libseccomp does not know the name
        if call not in NEWER_CALLS:
            raise ValueError(f"unknown system call {call!r}")
        return NEWER_CALLS[call]
    # libseccomp's pseudo numbers (below -1) stand for calls this architecture lacks.
    return number if number >= 0 else None


def _outside(mask: int, allowed: frozenset[int]) -> list[tuple[int, int]]:
    """Masked equalities (mask, value) matched together by exactly the x with x & `mask` not in `allowed`.

    Walks the bits of `mask` from the highest, as a binary tree: a subtree with no allowed
    value below it becomes one test (its fixed bits), one with an allowed value is split.
    About (bits of mask) x len(allowed) tests at most.
    """
    bits = [1 << bit for bit in range(63, -1, -1) if mask >> bit & 1]
    tests: list[tuple[int, int]] = []

    def split(depth: int, fixed: int, value: int, below: frozenset[int]) -> None:
        if not below:
            tests.append((fixed, value))
        elif depth < len(bits):
            bit = bits[depth]
            for side in (0, bit):
                split(depth + 1, fixed | bit, value | side, frozenset(v for v in below if v & bit == side))

    split(0, 0, 0, allowed)
    return tests
