"""The seccomp profiles, proved from inside: a forked child installs the compiled program and tries the calls.

The calls are tried by the same probe the hostile Lambda function of
tests/security/test_syscalls.py runs (tests/security/syscall_probe.py), each in a child of
its own. Its arguments make an unfiltered call fail with another errno than EPERM (or
succeed harmlessly), and `test_without_a_filter_no_probe_looks_denied` checks that: so
EPERM under the filter is the filter's doing, even for root.
"""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import runpy
import select
import signal
import socket
import subprocess
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabox.sandbox import linux, seccomp

PROBE = runpy.run_path(str(Path(__file__).parent.parent / "security" / "syscall_probe.py"))
#: An unprivileged uid and gid (nobody's).
NOBODY = 65534
#: An interpreter nobody may run (the tests' own may live under /root).
SYSTEM_PYTHON = "/usr/bin/python3"
#: The namespace sets a template's clones unshare.
CLONE_SETS = (seccomp.CLONE_NAMESPACES, seccomp.CLONE_NAMESPACES | seccomp.CLONE_NEWNET)

pytestmark = pytest.mark.needs_root


@pytest.fixture(scope="module")
def programs() -> dict[str, bytes]:
    return {variant: seccomp.compile_program(variant) for variant in seccomp.VARIANTS}


def under(programs: list[bytes], work: Callable[[], Any], uid: int | None = None) -> Any:
    """Run `work` in a forked child that became `uid` (if given), set no_new_privs and installed `programs`.

    Returns what `work` returned (through JSON); raises AssertionError with the child's traceback if it raised.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        child = os.getpid()
        try:
            os.close(read_end)
            try:
                if uid is not None:
                    os.setgroups([])
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
                for program in programs:
                    linux.install_seccomp(program)
                reply = {"result": work()}
            except BaseException:
                reply = {"error": traceback.format_exc()}
            if os.getpid() != child:  # a process `work` forked, that did not exit
                os._exit(1)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(reply).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert raw, f"the child died: status {status:#x}"
    reply = json.loads(raw)
    assert "error" not in reply, reply["error"]
    return reply["result"]


def expected() -> dict[str, int]:
    return {probe.name: probe.expect for probe in PROBE["probes"]()}


def denied_probes() -> dict[str, int]:
    return {name: outcome for name, outcome in expected().items() if not name.startswith("allowed:")}


def test_both_variants_compile_to_whole_programs_the_kernel_takes(programs):
    for variant, program in programs.items():
        assert program and len(program) % 8 == 0, variant
        assert len(program) // 8 <= 4096, variant
        # Compiling is deterministic: the server may compile once and hand the bytes to every sandbox.
        assert seccomp.compile_program(variant) == program
    assert programs["function"] != programs["template"]


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown seccomp variant"):
        seccomp.compile_program("everything")


def test_every_denied_call_has_a_probe():
    names = {name.split(":")[0] for name in denied_probes()}
    for variant in seccomp.VARIANTS:
        missing = {call for call in seccomp.denied_calls(variant) if seccomp._number(call) is not None} - names
        assert not missing, f"{variant}: no probe tries {sorted(missing)}"


def test_the_probes_numbers_are_libseccomps():
    import pyseccomp

    for name, (x86_64, aarch64) in PROBE["NUMBERS"].items():
        if name in seccomp.NEWER_CALLS:
            assert x86_64 == aarch64 == seccomp.NEWER_CALLS[name]
            continue
        for arch, number in ((pyseccomp.Arch.X86_64, x86_64), (pyseccomp.Arch.AARCH64, aarch64)):
            resolved = pyseccomp.resolve_syscall(arch, name)
            assert (resolved if resolved >= 0 else None) == number, (name, arch)


def test_without_a_filter_no_probe_looks_denied():
    """As root, with no filter: every denied call gets through to the kernel, which says something else."""
    outcomes = under([], PROBE["run"])
    looks_denied = {name: outcome for name, outcome in outcomes.items() if outcome == denied_probes().get(name)}
    assert not looks_denied


@pytest.mark.parametrize("uid", [None, NOBODY], ids=["root", "nobody"])
def test_the_function_profile_denies_every_probe(programs, uid):
    outcomes = under([programs["function"]], PROBE["run"], uid)
    wrong = {name: (outcome, expected()[name]) for name, outcome in outcomes.items() if outcome != expected()[name]}
    assert not wrong, "(got, expected): " + repr(wrong)
    assert "unshare:NEWUSER" in outcomes and "allowed:fork" in outcomes


def test_the_template_profile_denies_all_but_what_cloning_needs(programs):
    outcomes = under([programs["template"]], PROBE["run"])
    # Root gets past the filter here, and the kernel fails the call (a missing path, a length of -1).
    assert outcomes.pop("mount") == errno.ENOENT
    assert outcomes.pop("sethostname") == errno.EINVAL
    wrong = {name: (outcome, expected()[name]) for name, outcome in outcomes.items() if outcome != expected()[name]}
    assert not wrong, "(got, expected): " + repr(wrong)


def test_a_clone_stacks_the_function_profile_on_the_template_one(programs):
    outcomes = under([programs["template"], programs["function"]], PROBE["run"])
    wrong = {name: (outcome, expected()[name]) for name, outcome in outcomes.items() if outcome != expected()[name]}
    assert not wrong, "(got, expected): " + repr(wrong)


def test_the_template_allows_exactly_the_clones_namespace_sets(programs):
    """All 256 mixes of namespace flags, as root (who may unshare any without a filter)."""
    flags = [1 << bit for bit in range(32) if seccomp.NAMESPACES >> bit & 1]

    def every_mix():
        outcomes = {}
        for mix in range(1 << len(flags)):
            value = sum(flag for index, flag in enumerate(flags) if mix >> index & 1)
            outcomes[value] = PROBE["attempt_in_child"](lambda: PROBE["call"]("unshare", value | 0x400))
        return outcomes

    outcomes = {int(value): outcome for value, outcome in under([programs["template"]], every_mix).items()}
    assert len(outcomes) == 256
    allowed = {value for value, outcome in outcomes.items() if outcome == 0}
    assert allowed == {0, *CLONE_SETS}
    assert all(outcome == errno.EPERM for value, outcome in outcomes.items() if value not in allowed)
    # Bits outside the namespaces' (CLONE_FILES here) change nothing; the kernel's own high bits neither.
    high = under([programs["template"]], lambda: PROBE["attempt_in_child"](lambda: PROBE["call"]("unshare", (1 << 32) | seccomp.CLONE_NEWUSER)))
    assert high == errno.EPERM


def _clone_setup(with_network: bool, programs: dict[str, bytes]) -> dict[str, Any]:
    """What `cloning` does in a template (as an unprivileged user), then what a clone could try."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_SETS[1] if with_network else CLONE_SETS[0]
    linux.unshare(flags)
    linux.prctl(linux.PR_SET_DUMPABLE, 1)
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"), ("/proc/self/gid_map", f"{gid} {gid} 1")):
        with open(path, "w") as file:
            file.write(text)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            report: dict[str, Any] = {"pid": os.getpid()}
            linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=1777")
            try:
                linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
                report["proc"] = "mounted"
            except OSError as error:
                # The kernel wants the host's /proc fully visible for that; a sandbox's is.
                report["proc"] = error.errno
            linux.sethostname("clone")
            report["hostname"] = socket.gethostname()
            # What the user namespace opened up, with the template profile still on.
            report["netfilter"] = PROBE["attempt_in_child"](lambda: PROBE["call"]("socket", 16, socket.SOCK_RAW, 12))
            report["packet"] = PROBE["attempt_in_child"](lambda: PROBE["call"]("socket", 17, socket.SOCK_RAW, 0))
            report["iptables"] = PROBE["attempt_in_child"](lambda: PROBE["_setsockopt"](socket.AF_INET, 0, 64))
            # The function profile on top, while we still hold the namespace's capabilities:
            # what fails now, fails because of the filter.
            linux.install_seccomp(programs["function"])
            report["after"] = {
                "mount": PROBE["attempt_in_child"](lambda: PROBE["call"]("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
                "unshare": PROBE["attempt_in_child"](lambda: PROBE["call"]("unshare", seccomp.CLONE_NAMESPACES)),
                "sethostname": PROBE["attempt_in_child"](lambda: PROBE["call"]("sethostname", b"x", 1)),
            }
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(raw)


@pytest.mark.parametrize("with_network", [False, True], ids=["shared-network", "own-network"])
def test_a_template_can_make_a_clone_and_the_clone_cannot_go_on(programs, with_network):
    report = under([programs["template"]], lambda: _clone_setup(with_network, programs), uid=NOBODY)
    assert report["pid"] == 1
    assert report["proc"] in ("mounted", errno.EPERM)
    assert report["hostname"] == "clone"
    # The user namespace's capabilities do not reach netfilter, packet sockets or nested namespaces.
    assert report["netfilter"] == errno.EPERM
    assert report["packet"] == errno.EPERM
    assert report["iptables"] == errno.EPERM
    # With the function profile on top, the clone's own setup calls are gone too.
    assert report["after"] == {"mount": errno.EPERM, "unshare": errno.EPERM, "sethostname": errno.EPERM}


def _ordinary_work() -> dict[str, Any]:
    done: dict[str, Any] = {}
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    done["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    seen = []
    thread = threading.Thread(target=lambda: seen.append(threading.get_native_id()))
    thread.start()
    thread.join()
    done["thread"] = bool(seen) and seen[0] != threading.get_native_id()

    done["subprocess"] = subprocess.run(["/bin/true"]).returncode
    # posix_spawn tries clone3 first, and falls back to clone on ENOSYS.
    spawned = os.posix_spawn("/bin/true", ["/bin/true"], {})
    done["posix_spawn"] = os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1])

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(write_end, 1)
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, "-I", "-c", "import sys; print(sum(range(10)), sys.version_info[0])"])
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        done["execv"] = pipe.read().strip()
    os.waitpid(pid, 0)

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                done["tcp"] = accepted.recv(4).decode()
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"pong")
        done["unix"] = right.recv(4).decode()

    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    page.write(b"x")
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    libc = ctypes.CDLL(None, use_errno=True)
    done["mprotect"] = libc.mprotect(ctypes.c_void_p(address), ctypes.c_size_t(mmap.PAGESIZE), mmap.PROT_READ)

    poller = select.epoll()
    read_end, write_end = os.pipe()
    poller.register(read_end, select.EPOLLIN)
    os.write(write_end, b"!")
    done["epoll"] = [fd for fd, _ in poller.poll(1)] == [read_end]

    caught = []
    signal.signal(signal.SIGUSR1, lambda number, frame: caught.append(number))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.signal(signal.SIGALRM, lambda number, frame: caught.append(number))
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    deadline = time.monotonic() + 5
    while len(caught) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    done["signals"] = sorted(caught)
    done["urandom"] = len(os.urandom(16))
    return done


@pytest.mark.parametrize("variant", seccomp.VARIANTS)
def test_ordinary_work_still_runs_under_the_filter(programs, variant):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no {SYSTEM_PYTHON} to exec")
    # Imported lazily by getaddrinfo, from a standard library nobody may not be able to read.
    import encodings.idna  # noqa: F401

    done = under([programs[variant]], _ordinary_work, uid=NOBODY)
    assert done == {
        "fork": 7,
        "thread": True,
        "subprocess": 0,
        "posix_spawn": 0,
        "execv": "45 3",
        "tcp": "ping",
        "unix": "pong",
        "mprotect": 0,
        "epoll": True,
        "signals": sorted([signal.SIGUSR1, signal.SIGALRM]),
        "urandom": 16,
    }


def test_install_seccomp_refuses_what_is_not_a_program():
    def attempts() -> dict[str, int]:
        outcomes = {}
        for name, program in (("empty", b""), ("partial", b"\x06\x00" * 3), ("bad opcode", b"\xff\xff\x00\x00\x00\x00\x00\x00")):
            try:
                linux.install_seccomp(program)
                outcomes[name] = 0
            except OSError as error:
                outcomes[name] = error.errno
        return outcomes

    assert under([], attempts) == {"empty": errno.EINVAL, "partial": errno.EINVAL, "bad opcode": errno.EINVAL}


def test_install_seccomp_needs_no_new_privs_when_unprivileged(programs):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            try:
                linux.install_seccomp(programs["function"])
                os.write(write_end, b"0")
            except OSError as error:
                os.write(write_end, str(error.errno).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    outcome = int(os.read(read_end, 16))
    os.waitpid(pid, 0)
    assert outcome == errno.EACCES


#: Interpreters the runtimes use, each with a script that forks, spawns, makes threads and does async I/O.
_PYTHON_SCRIPT = (
    "import asyncio, subprocess, threading\n"
    "thread = threading.Thread(target=lambda: None); thread.start(); thread.join()\n"
    "subprocess.run(['/bin/true'], check=True)\n"
    "asyncio.run(asyncio.sleep(0))\n"
    "print('ok')\n"
)
_NODE_SCRIPT = (
    "const cp = require('child_process'), fs = require('fs'), { Worker } = require('worker_threads');"
    "fs.promises.readFile('/etc/hostname').then(() => {"
    "  cp.execFileSync('/bin/true');"
    "  new Worker('1', { eval: true }).on('exit', () => console.log('ok'));"
    "});"
)
#: pyenv's interpreters, as root installed them (another user may not read /root: the tests then skip, not crash).
_PYENV = Path("/root/.pyenv/versions")
_INTERPRETERS = [("/usr/bin/node", "-e", _NODE_SCRIPT), (SYSTEM_PYTHON, "-c", _PYTHON_SCRIPT)] + [
    (str(path), "-c", _PYTHON_SCRIPT)
    for path in (sorted(_PYENV.glob("3.*/bin/python3")) if os.access(_PYENV, os.R_OK | os.X_OK) else [])
    if path.parent.parent.name.split(".")[1].isdigit() and int(path.parent.parent.name.split(".")[1]) >= 9
]


@pytest.mark.parametrize("argv", _INTERPRETERS, ids=[argv[0] for argv in _INTERPRETERS])
def test_the_runtimes_interpreters_run_under_the_function_profile(programs, argv):
    if not os.access(argv[0], os.X_OK):
        pytest.skip(f"no {argv[0]}")

    def run() -> list:
        finished = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        return [finished.returncode, finished.stdout.strip(), finished.stderr[-2000:]]

    assert under([programs["function"]], run) == [0, "ok", ""]


@settings(max_examples=300, deadline=None)
@given(
    mask=st.integers(min_value=1, max_value=(1 << 32) - 1),
    allowed=st.frozensets(st.integers(min_value=0, max_value=(1 << 32) - 1), max_size=6),
    probes=st.lists(st.integers(min_value=0, max_value=(1 << 64) - 1), min_size=1, max_size=50),
)
def test_a_not_in_test_matches_exactly_the_values_outside_the_set(mask, allowed, probes):
    test = seccomp.NotIn(0, mask, allowed)
    alternatives = test.alternatives()
    inside = {value & mask for value in allowed}
    for probe in [*probes, *inside, *(value ^ 1 for value in inside)]:
        matched = any(probe & alternative_mask == value for alternative_mask, value in alternatives)
        assert matched == (probe & mask not in inside), hex(probe)


def test_personality_allows_exactly_dockers_values(programs):
    """Every value near an allowed one, each single bit, and high bits the kernel drops, through the real filter."""
    allowed = {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}
    candidates = {value + delta for value in allowed for delta in (-1, 0, 1)} | {1 << bit for bit in range(33)}
    candidates |= {value | (1 << 32) for value in list(candidates)} | {(1 << 64) - 1}
    candidates = {value & ((1 << 64) - 1) for value in candidates}

    def sweep() -> dict[str, int]:
        outcomes = {}
        for value in sorted(candidates):
            outcomes[hex(value)] = PROBE["call"]("personality", value)
            PROBE["call"]("personality", 0)
        return outcomes

    outcomes = under([programs["function"]], sweep)
    for value in candidates:
        assert outcomes[hex(value)] == (0 if value & 0xFFFFFFFF in allowed else errno.EPERM), hex(value)
