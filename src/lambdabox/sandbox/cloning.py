"""Clones of a template sandbox: how SnapStart environments start without running INIT again.

A *template* is a sandbox whose runtime has run INIT and then calls `serve(fd)` (the
launcher hands the runtime that call as its `snapshot` function). The template never
leaves `serve`; each clone returns from it, as a child returns from fork().

`serve` first forks the *forker* (F), a copy of the one thread that called it, and F
announces itself to the server ("serving", with its PID attached by the kernel). What INIT
left besides, its other threads in PID 1 and any process it started, is then the server's
to stop and kill (`TemplateSandbox.seal`): PID 1 waits, stopped, and only F forks clones.

The server asks for a clone by sending the template a request (JSON: environment,
hostname, /tmp size, argv, syscall filter, whether the clone has a network of its own)
with two descriptors: the clone's *channel*, one end of a fresh SOCK_SEQPACKET pair, and
its output. Then, on that channel:

1. The template forks the clone's keeper (C), which sends "forked". The server has
   SO_PASSCRED on its end, so the kernel attaches C's PID as the server sees it; the
   server moves C into the clone's own cgroup and answers "go".
2. C unshares a user namespace (mapping only its own uid and gid, so it needs no
   privilege), and with it new mount, PID, IPC, UTS and (with a network of its own)
   network namespaces, then forks the clone's PID 1 (G), which inherits C's cgroup.
3. G mounts its own /tmp and /proc, sets its hostname, brings up its loopback and listens
   on 127.0.0.1:9001 (its Runtime API) and :9000 (the bridge to Lambdabox's API), takes
   its output as stdout and stderr, drops every capability it got with the user namespace
   (bounding set too), takes on its environment (also as /proc/self/environ shows it),
   installs the functions' syscall filter over the template's, sends "ready" (with the two
   listening sockets) and returns from `serve` into the runtime. A failing step sends
   "error <step>\\t<reason>" instead, and G exits with 127.
4. C waits for G and sends "exit <code>" before it exits; the server reads the code
   there, since C is the template's child, not its own.

The template's PID namespace holds every clone's, so clones die with their template.
Standard library only: this runs inside the sandbox, in the runtime's interpreter.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
from typing import Any, NoReturn

from lambdabox.sandbox import linux

#: Largest clone request, in bytes (the environment is the bulk of it).
MAX_REQUEST = 1 << 20
#: Exit status of a clone whose setup failed.
SETUP_FAILED = 127

_MOUNT_FLAGS = linux.MS_NOSUID | linux.MS_NODEV


#: Kept alive for the clone's life: the blocks /proc/self/cmdline and environ show.
_strings: list[Any] = []


def serve(template_fd: int) -> None:
    """In the template: fork a clone per request, forever. Returns in each clone, set up."""
    sock = socket.socket(fileno=template_fd)
    # Keepers exit on their own; let the kernel reap them (and orphans, as this is PID 1).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    if os.fork():
        # PID 1, with whatever threads INIT started: the server stops it for good (see the docstring).
        sock.close()
        while True:
            signal.pause()
    # F: only this thread was copied. The server learns our PID from the kernel.
    sock.send(b"serving")
    while True:
        message, fds, _flags, _address = socket.recv_fds(sock, MAX_REQUEST, 2)
        if not message:
            os._exit(0)
        try:
            child = os.fork()
        except OSError as error:
            _send(fds[0], f"error fork the clone\t{error.strerror}")
            child = -1
        if child == 0:
            sock.close()
            _keep(json.loads(message), fds[0], fds[1] if len(fds) > 1 else None)
            return
        for fd in fds:
            os.close(fd)


def _keep(request: dict[str, Any], channel_fd: int, out_fd: int | None) -> None:
    """C: get moved into the cgroup, make the namespaces, fork G; in G, return once set up."""
    channel = socket.socket(fileno=channel_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        channel.send(b"forked")
        if channel.recv(16) != b"go":
            os._exit(SETUP_FAILED)
        uid, gid = os.getuid(), os.getgid()
        failed = "unshare namespaces"
        flags = linux.CLONE_NEWUSER | linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
        linux.unshare(flags | (linux.CLONE_NEWNET if request.get("private_network") else 0))
        failed = "map the user and group"
        # Only our own ids: an unprivileged process may map those and no others. Our /proc
        # files must be ours to write: dumpable, as after an exec (setuid without exec cleared it).
        linux.prctl(linux.PR_SET_DUMPABLE, 1)
        linux.write_file("/proc/self/setgroups", "deny")
        linux.write_file("/proc/self/uid_map", f"{uid} {uid} 1")
        linux.write_file("/proc/self/gid_map", f"{gid} {gid} 1")
        failed = "fork PID 1"
        pid = os.fork()
    except OSError as error:
        _fail(channel, failed, error)
    if pid:
        if out_fd is not None:
            os.close(out_fd)
        _, status = os.waitpid(pid, 0)
        channel.send(f"exit {os.waitstatus_to_exitcode(status)}".encode())
        os._exit(0)
    _become(request, channel, out_fd)


def _become(request: dict[str, Any], channel: socket.socket, out_fd: int | None) -> None:
    """G: PID 1 of the clone's namespaces. The same steps a new sandbox takes, as far as a clone needs."""
    failed = ""
    try:
        failed = "mount /tmp"
        linux.mount("tmpfs", "/tmp", "tmpfs", _MOUNT_FLAGS, f"size={request['tmp_mb']}m,mode=1777")
        failed = "mount /proc"
        # Our own PID namespace's processes only.
        linux.mount("proc", "/proc", "proc", _MOUNT_FLAGS | linux.MS_NOEXEC)
        failed = "set the hostname"
        linux.sethostname(request["hostname"])
        listening = []
        if request.get("private_network"):
            failed = "listen on the Runtime API and API ports"
            linux.bring_up_loopback()
            for port in (linux.RUNTIME_API_PORT, linux.API_PORT):
                listening.append(linux.listen_on_loopback(port))
        failed = "drop the capabilities"
        # The user namespace gave us every capability inside it; none may stay.
        for capability in range(linux.last_capability() + 1):
            linux.prctl(linux.PR_CAPBSET_DROP, capability)
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
        linux.capset_none()
        failed = "set up stdout and stderr"
        os.setsid()
        target = out_fd if out_fd is not None else os.open("/dev/null", os.O_WRONLY)
        os.dup2(target, 1)
        os.dup2(target, 2)
        os.close(target)
        failed = "take on the environment"
        os.environ.clear()
        os.environ.update(request["env"])
        _strings.append(linux.replace_process_strings(request.get("argv") or [], request["env"]))
        if request.get("seccomp"):
            failed = "install the syscall filter"
            linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
            linux.install_seccomp(base64.b64decode(request["seccomp"]))
    except OSError as error:
        _fail(channel, failed, error)
    # The template's random state is every clone's: reseed (os.register_at_fork does too, when imported).
    random.seed()
    socket.send_fds(channel, [b"ready"], [server.fileno() for server in listening])
    for server in listening:
        server.close()
    channel.close()


def _fail(channel: socket.socket, step: str, error: OSError) -> NoReturn:
    try:
        channel.send(f"error {step}\t{error.strerror or error}".replace("\n", " ").encode())
    finally:
        os._exit(SETUP_FAILED)


def _send(fd: int, text: str) -> None:
    try:
        os.write(fd, text.encode())
    except OSError:
        pass
