"""The spawner: a small single-threaded process that forks sandboxes for the server.

The server is multi-threaded, and forking it would copy locks other threads hold. So
`LinuxSandboxFactory` starts this module once, as `python -I -S` (standard library only),
and sends it one request per sandbox over a SOCK_SEQPACKET socket: the request as JSON,
with the write end of an error pipe and, optionally, the output descriptor and a
template's channel attached.

For each request:
1. The spawner forks the *launcher*, which enters the sandbox's network namespace (one
   the server prepared), unshares the mount, PID, IPC and UTS namespaces, forks the
   sandbox's PID 1, writes `pid <host pid>` to the error pipe, and moves PID 1 into the
   sandbox's cgroup. Once PID 1 has made its user namespace, the launcher writes its
   uid and gid maps (the sandbox's uid and gid inside, an identity of its own outside),
   tells PID 1 it may go on, and exits. PID 1 is then reparented to the server, a child
   subreaper, which watches it with a pidfd and reaps it.
2. Meanwhile PID 1 builds the sandbox's filesystem as root, makes its user namespace,
   drops every privilege, installs the syscall filter and execs the program. The error
   pipe is close-on-exec: the server reads end-of-file once the exec happened, or
   `error <step>\t<reason>` if a step before it failed (PID 1 then exits with 127).
3. When the server closes its end of the socket, the spawner exits.

Nothing of the spawner survives in a sandbox: PID 1 is the exec'd program itself.

A zygote (a spawner that preloaded a Python script) runs the script's main() in PID 1
instead of exec'ing. A *template* request also keeps its channel open there and hands
main() a `snapshot` function, which serves clones of the initialized process (`cloning`).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import socket
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from lambdabox.sandbox import cloning, linux, preimport

#: Largest request the spawner accepts, in bytes (the environment is the bulk of it).
MAX_REQUEST = 1 << 20
#: Most descriptors a request carries: the error pipe, the output, the network namespace, a template's channel.
MAX_FDS = 4
#: Exit status of a PID 1 whose setup failed (as a shell's "command not found").
SETUP_FAILED = 127
#: Host directories every sandbox sees read-only; on merged-/usr hosts some are symlinks.
HOST_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc")
#: The sandbox's user as AWS's environments name it, and its home directory (which, as on AWS, does not
#: exist: os.homedir() and getpwuid() answer with it, and HOME is not set).
USER_NAME = "sbx_user1051"
USER_HOME = "/home/sbx_user1051"
#: Where the sandbox's own account files are written in its root before they are bound over the host's.
ACCOUNTS_DIR = ".accounts"
#: Device nodes bound from the host's /dev.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
#: Links in /dev that programs expect, to the process's own descriptors.
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
#: Size of the sandbox's root and /dev tmpfs, which hold only directories, links and mount points.
SKELETON_SIZE = "size=256k"
#: Where the host's root is put by pivot_root, until it is unmounted.
OLD_ROOT = ".old-root"
#: The flags a read-only bind of host directories ends up with.
READ_ONLY = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV
#: Resource limits every sandbox starts with, whatever the server had: Linux's own defaults
#: (RLIMIT_NOFILE and RLIMIT_NPROC come from the request). A value above what the launcher
#: may set is lowered to its hard limit. RLIM_INFINITY is -1.
RLIMITS = {
    "RLIMIT_CORE": 0,
    "RLIMIT_CPU": resource.RLIM_INFINITY,
    "RLIMIT_DATA": resource.RLIM_INFINITY,
    "RLIMIT_FSIZE": resource.RLIM_INFINITY,
    "RLIMIT_LOCKS": resource.RLIM_INFINITY,
    "RLIMIT_MEMLOCK": 8 * 1024 * 1024,
    "RLIMIT_MSGQUEUE": 819_200,
    "RLIMIT_NICE": 0,
    "RLIMIT_RTPRIO": 0,
    "RLIMIT_RTTIME": resource.RLIM_INFINITY,
    "RLIMIT_STACK": 8 * 1024 * 1024,
    "RLIMIT_AS": resource.RLIM_INFINITY,
}
#: What PID 1 tells the launcher once it has made its user namespace, and the launcher's answer
#: once PID 1 is in its cgroup and its ids are mapped.
USERNS_MADE, GO_ON = b"u", b"1"


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@contextmanager
def step(name: str) -> Iterator[None]:
    """Name the setup step that runs inside, so that its failure says what was tried."""
    try:
        yield
    except OSError as error:
        raise StepFailed(name, error.strerror or str(error)) from None
    except Exception as error:  # a bug in a step still has to reach the server
        raise StepFailed(name, repr(error)) from None


#: The script a zygote preloaded, whose main() its sandboxes run instead of exec'ing.
_preloaded: list[Any] = []


#: Modules a Python runtime imports anyway, some lazily: a zygote imports them once for all its sandboxes.
_WARM_MODULES = ("socket", "importlib", "logging", "traceback", "decimal", "json")


def _preload(path: str, libraries: list[str]) -> None:
    """Import the script (its imports run now, once); its main() runs later, in each sandbox.

    With `libraries` (the host directory of the runtime's libraries, and where sandboxes see
    them), the runtime's SDK is imported too (preimport.py). What the zygote holds then is
    frozen out of the garbage collector's reach, so that collections in sandboxes don't write
    to (and so copy) the pages they share with it.
    """
    import gc
    import importlib
    import importlib.util

    for name in _WARM_MODULES:
        importlib.import_module(name)
    imported = preimport.preimport(*libraries) if libraries else []

    spec = importlib.util.spec_from_file_location("lambdabox_preloaded", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The runtime decides in each sandbox whether the function may use them (bootstrap.forget_preimported).
    module.PREIMPORTED = tuple(sorted({name.partition(".")[0] for name in imported}))
    _preloaded.append(module)
    gc.freeze()


def serve(sock_fd: int, preload: str | None = None, libraries: list[str] | None = None) -> None:
    """The spawner's loop: one fork per request, until the server hangs up."""
    if preload:
        _preload(preload, libraries or [])
    sock = socket.socket(fileno=sock_fd)
    # The launchers we fork exit at once; let the kernel reap them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    limits = {"max_fd": os.sysconf("SC_OPEN_MAX"), "last_cap": linux.last_capability(), "rlimits": _within_hard(RLIMITS)}
    sock.send(b"ready")
    while True:
        message, fds, flags, _address = socket.recv_fds(sock, MAX_REQUEST, MAX_FDS)
        if not message:
            return
        if flags & socket.MSG_CTRUNC:
            # More descriptors than a request may carry: the server is broken; refuse rather than guess.
            for fd in fds:
                os.close(fd)
            continue
        request = json.loads(message)
        # The error pipe first; then, as the request's "fds" names them: the output, the
        # network namespace, a template's channel (see `cloning`).
        err_fd = fds[0]
        named = dict(zip(request.get("fds", []), fds[1:]))
        request["template_fd"] = named.get("template")
        request["netns_fd"] = named.get("netns")
        out_fd = named.get("output")
        # Received descriptors are inheritable; the error pipe must close itself on exec.
        os.set_inheritable(err_fd, False)
        try:
            child = os.fork()
        except OSError as error:
            _report(err_fd, StepFailed("fork the launcher", error.strerror))
            child = -1
        if child == 0:
            sock.close()
            launch(request, limits, err_fd, out_fd)
        for fd in fds:
            os.close(fd)


def launch(request: dict[str, Any], limits: dict[str, Any], err_fd: int, out_fd: int | None) -> None:
    """The launcher: fork PID 1 into new namespaces, move it into its cgroup, map its ids, exit."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        with step("open the cgroup"):
            # Now: PID 1 shares our new mount table, and its pivot_root takes /sys away from us.
            procs_fds = [os.open(procs, os.O_WRONLY | os.O_CLOEXEC) for procs in request["procs"]]
        with step("open /proc"):
            # The host's: once PID 1 has pivoted, the /proc our paths reach is the sandbox's.
            proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if request.get("netns_fd") is not None:
            with step("enter the network namespace"):
                # Prepared by the server: loopback with the Runtime API listening, and the
                # environment's link to the outside, if it has one. PID 1 inherits it.
                linux.setns(request["netns_fd"], linux.CLONE_NEWNET)
        with step("unshare namespaces"):
            # Our own mount table, PID numbering, System V IPC and hostname. The new PID
            # namespace applies to our children only: the next fork is its PID 1.
            linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS)
        with step("fork PID 1"):
            joined_read, joined_write = os.pipe2(os.O_CLOEXEC)
            made_read, made_write = os.pipe2(os.O_CLOEXEC)
            pid = os.fork()
        if pid == 0:
            for fd in [joined_write, made_read, proc_fd, *procs_fds]:
                os.close(fd)
            enter(request, limits, err_fd, out_fd, joined_read, made_write)
        os.close(joined_read)
        os.close(made_write)
        # First, so that the server can clean up PID 1 whatever fails next.
        os.write(err_fd, f"pid {pid}\n".encode())
        with step("join the cgroup"):
            # The first move into a cgroup waits for an RCU grace period (milliseconds):
            # PID 1 builds its root meanwhile, and waits for us only before it drops its
            # privileges, so that the program and all it forks are counted and limited.
            for fd in procs_fds:
                os.write(fd, str(pid).encode())
        if os.read(made_read, 1) != USERNS_MADE:
            return  # PID 1 failed before, and has reported why.
        with step("map the sandbox's user and group"):
            # One id each: the sandbox's own inside, an identity no other sandbox has outside,
            # so no per-user kernel state (keyrings, inotify and process counts) is shared.
            linux.write_file(f"{pid}/setgroups", "deny", proc_fd)
            linux.write_file(f"{pid}/uid_map", f"{request['uid']} {request['host_uid']} 1", proc_fd)
            linux.write_file(f"{pid}/gid_map", f"{request['gid']} {request['host_gid']} 1", proc_fd)
        os.write(joined_write, GO_ON)
    except StepFailed as failed:
        _report(err_fd, failed)
    except BaseException as error:
        _report(err_fd, StepFailed("launch", repr(error)))
    finally:
        os._exit(0)


def enter(
    request: dict[str, Any], limits: dict[str, Any], err_fd: int, out_fd: int | None, joined_fd: int, made_fd: int
) -> None:
    """PID 1: build the filesystem, drop privileges, exec. Never returns."""
    try:
        build_root(request)
        set_up_host_facing(request, limits)
        with step("take the sandbox's host identity"):
            # The user namespace below belongs to whoever makes it, and the kernel counts what its
            # processes use (inotify instances, namespaces, ...) against that owner too: so PID 1
            # makes it as the sandbox's own host uid, keeping its capabilities for the step.
            linux.prctl(linux.PR_SET_KEEPCAPS, 1)
            os.setresgid(request["host_gid"], request["host_gid"], request["host_gid"])
            os.setresuid(request["host_uid"], request["host_uid"], request["host_uid"])
            linux.raise_permitted_capabilities()
        with step("make the user namespace"):
            # From here on, what PID 1 may do is decided in a user namespace of its own: the
            # mount, PID, IPC, UTS and network namespaces belong to the host's, so no
            # capability it holds in its own reaches them.
            linux.unshare(linux.CLONE_NEWUSER)
            linux.prctl(linux.PR_SET_KEEPCAPS, 0)
            os.write(made_fd, USERNS_MADE)
        with step("wait until the launcher moved us into the cgroup and mapped our ids"):
            if os.read(joined_fd, 1) != GO_ON:
                raise OSError(0, "the launcher failed")
        drop_privileges(request, limits)
        strings = linux.replace_process_strings(request["argv"], request["env"]) if request.get("in_process") else None
        if request.get("seccomp"):
            with step("install the syscall filter"):
                linux.install_seccomp(base64.b64decode(request["seccomp"]))
        execute(request, limits, err_fd, out_fd, strings)
    except StepFailed as failed:
        _report(err_fd, failed)
    except BaseException as error:
        _report(err_fd, StepFailed("setup", repr(error)))
    finally:
        os._exit(SETUP_FAILED)


def build_root(request: dict[str, Any]) -> None:
    root = request["new_root"]
    # Directories we create must be searchable by the sandbox's user whatever the server's umask.
    os.umask(0o022)
    with step("make mounts private"):
        # The new mount table starts as a copy of the host's, with shared propagation on
        # systemd hosts: without this, what we mount below would appear on the host too.
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    with step("mount the new root"):
        # A tmpfs per sandbox, so its skeleton of directories and links is its own.
        linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"{SKELETON_SIZE},mode=0755")
    for host in HOST_DIRS:
        if os.path.islink(host):
            with step(f"link {host}"):
                # Merged /usr: /bin -> usr/bin. The same link keeps the same paths working.
                os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            _bind(host, root + host, writable=False)
    _mount_accounts(root, request["uid"], request["gid"])
    # Parents before children, so that a mount inside another one lands on top of it.
    for mount in sorted(request["mounts"], key=lambda mount: mount["target"].count("/")):
        _bind(mount["source"], root + mount["target"], mount["writable"])
    with step("mount /tmp"):
        os.mkdir(root + "/tmp")
        # The only writable place a sandbox has, sized by EphemeralStorage.
        linux.mount("tmpfs", root + "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={request['tmp_mb']}m,mode=1777")
    with step("mount /proc"):
        os.mkdir(root + "/proc")
        # Mounted from inside the new PID namespace, so it lists the sandbox's processes only.
        linux.mount("proc", root + "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    _make_dev(root + "/dev")
    cwd = root + request["cwd"]
    if not os.path.isdir(cwd):
        with step(f"create the working directory {request['cwd']}"):
            os.makedirs(cwd)
    with step("enter the new root"):
        os.chdir(root)
        os.mkdir(OLD_ROOT)
        # Unlike chroot, pivot_root moves the host's root away, so that it can be unmounted.
        linux.pivot_root(".", OLD_ROOT)
        os.chdir("/")
    with step("unmount the host's root"):
        # Lazily: the host's mounts below it go with it, and none is busy from here.
        linux.umount2("/" + OLD_ROOT, linux.MNT_DETACH)
        os.rmdir("/" + OLD_ROOT)
    with step("make the root read-only"):
        linux.mount(None, "/", None, READ_ONLY)


def _mount_accounts(root: str, uid: int, gid: int) -> None:
    """/etc/passwd and /etc/group of the sandbox's own: root, nobody and its user, none of the host's."""
    accounts = f"{root}/{ACCOUNTS_DIR}"
    files = {
        "passwd": (
            "root:x:0:0:root:/root:/bin/bash\n"
            "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n"
            f"{USER_NAME}:x:{uid}:{gid}::{USER_HOME}:/sbin/nologin\n"
        ),
        "group": f"root:x:0:\nnobody:x:65534:\n{USER_NAME}:x:{gid}:\n",
    }
    with step("write the sandbox's account files"):
        # In the sandbox's own root tmpfs; written by root, so its user can't change them, and bound read-only.
        os.mkdir(accounts, 0o755)
        for name, text in files.items():
            fd = os.open(f"{accounts}/{name}", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as file:
                file.write(text)
    for name in files:
        if os.path.isfile(f"{root}/etc/{name}"):
            _bind(f"{accounts}/{name}", f"{root}/etc/{name}", writable=False)
    with step("remove the account files' staging directory"):
        # The mounts keep the files: nothing of them is left at the root but at /etc.
        for name in files:
            os.unlink(f"{accounts}/{name}")
        os.rmdir(accounts)


def _bind(source: str, target: str, writable: bool) -> None:
    with step(f"bind {source} on {target}"):
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif os.path.isfile(target):
            pass  # A file to cover, in a directory that may be read-only (the host's /etc).
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        # Recursive, so that mounts below the source come along.
        linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
    with step(f"remount {target} {'nosuid' if writable else 'read-only'}"):
        # A bind takes the source's flags; ours are set by a second call, a remount.
        flags = READ_ONLY & ~linux.MS_RDONLY if writable else READ_ONLY
        linux.mount(None, target, None, flags)


def _make_dev(dev: str) -> None:
    with step("mount /dev"):
        os.mkdir(dev)
        linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID | linux.MS_NOEXEC, f"{SKELETON_SIZE},mode=0755")
    for name in DEVICES:
        with step(f"bind /dev/{name}"):
            os.close(os.open(f"{dev}/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
            # The host's node itself: binding needs no mknod, and keeps its permissions.
            linux.mount(f"/dev/{name}", f"{dev}/{name}", None, linux.MS_BIND)
    with step("link /dev/fd"):
        for name, target in DEV_LINKS.items():
            os.symlink(target, f"{dev}/{name}")


def _within_hard(wanted: dict[str, int]) -> dict[int, int]:
    """Resource number -> value, each value lowered to the launcher's hard limit; names this system lacks left out."""
    found = {}
    for name, value in wanted.items():
        number = getattr(resource, name, None)
        if number is None:
            continue
        _, hard = resource.getrlimit(number)
        if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
            value = hard
        found[number] = value
    return found


def set_up_host_facing(request: dict[str, Any], limits: dict[str, Any]) -> None:
    """What needs root in the host's user namespace: the hostname and the resource limits."""
    with step("set the hostname"):
        linux.sethostname(request["hostname"])
    with step("set the resource limits"):
        own = _within_hard({"RLIMIT_NOFILE": request["nofile"], "RLIMIT_NPROC": request.get("nproc", 1024)})
        for number, value in {**limits["rlimits"], **own}.items():
            resource.setrlimit(number, (value, value))
    with step("drop supplementary groups"):
        os.setgroups([])


def drop_privileges(request: dict[str, Any], limits: dict[str, Any]) -> None:
    """In PID 1's own user namespace: become the sandbox's user with no capability left."""
    with step("drop the capability bounding set"):
        # A new user namespace starts with a full bounding set: empty it, so that no exec, of a
        # setuid or file-capability binary, can give any capability back.
        for capability in range(limits["last_cap"] + 1):
            linux.prctl(linux.PR_CAPBSET_DROP, capability)
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    with step(f"set the group to {request['gid']}"):
        os.setresgid(request["gid"], request["gid"], request["gid"])
    with step(f"set the user to {request['uid']}"):
        # Leaving uid 0 clears the effective and permitted capabilities.
        os.setresuid(request["uid"], request["uid"], request["uid"])
    with step("clear the inheritable capabilities"):
        linux.capset_none()
    with step("set no_new_privs"):
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)


def execute(request: dict[str, Any], limits: dict[str, Any], err_fd: int, out_fd: int | None, strings: Any) -> None:
    with step(f"change to {request['cwd']}"):
        os.chdir(request["cwd"])
    with step("set up stdin, stdout and stderr"):
        # Its own session: no terminal's Ctrl-C reaches the sandbox.
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null if out_fd is None else out_fd, 1)
        os.dup2(null if out_fd is None else out_fd, 2)
        # Everything else goes, but the error pipe (which closes itself on exec) and a template's channel.
        kept = sorted(fd for fd in (err_fd, request.get("template_fd")) if fd is not None)
        low = 3
        for fd in kept:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, limits["max_fd"])
    if request.get("in_process") and _preloaded:
        run_preloaded(request, err_fd, strings)
    with step("reset signals"):
        # Ignored signals stay ignored across exec (Python ignores SIGPIPE and SIGXFSZ, and the
        # server may ignore others): every signal starts with its default action, none blocked.
        _default_signals()
    argv = request["argv"]
    with step(f"exec {argv[0]}"):
        os.execve(argv[0], argv, request["env"])


def run_preloaded(request: dict[str, Any], err_fd: int, strings: Any) -> None:
    """In a zygote's sandbox: become the program `argv` names, without exec. Never returns.

    `strings` holds the command line and environment that /proc/self shows (see
    `linux.replace_process_strings`); it lives as long as this frame, that is, the process.
    """
    with step("take on the program's environment"):
        # Python's own state as `python script` would start with it: default actions, but
        # SIGPIPE and SIGXFSZ ignored and SIGINT raising KeyboardInterrupt; nothing blocked.
        _default_signals()
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"])
        # `python [options] script`: the script sees itself as argv[0].
        sys.argv = [request["argv"][-1]]
        sys.stdout.reconfigure(write_through=True)
        sys.stderr.reconfigure(write_through=True)
        # Dumpable, as an exec'd program is (our setuid without exec cleared it): its /proc files are its own.
        linux.prctl(linux.PR_SET_DUMPABLE, 1)
    # The error pipe's end-of-file tells the server the program started, as an exec would.
    os.close(err_fd)
    status = 0
    template_fd = request.get("template_fd")
    try:
        if template_fd is None:
            _preloaded[0].main()
        else:
            # A template: the runtime calls snapshot() once INIT is over, and it returns in each clone.
            _preloaded[0].main(snapshot=lambda: cloning.serve(template_fd))
    except SystemExit as leaving:
        status = leaving.code if isinstance(leaving.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _default_signals() -> None:
    for number in range(1, signal.NSIG):
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # Numbers the C library keeps for itself (its real-time signals).
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _report(err_fd: int, failed: StepFailed) -> None:
    line = f"error {failed.step}\t{failed.reason}".replace("\n", " ") + "\n"
    try:
        os.write(err_fd, line.encode())
    except OSError:
        pass


if __name__ == "__main__":
    serve(int(sys.argv[1]))
