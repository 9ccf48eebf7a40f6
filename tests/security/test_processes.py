"""A process inherits nothing from the server: environment, descriptors, limits, signals, credentials.

Each creation path is tried: a Python environment forked from a zygote, Node.js and a custom
runtime exec'd, a provisioned environment, and a SnapStart clone. The server runs with a secret
in its environment (CANARY); the function looks everywhere a process can.
"""

from __future__ import annotations

import base64
import json

import pytest

from hostile import CANARY, call, deploy, host_uids, variables
from support import wait_provisioned

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

PYTHON_PROBE = """
import json, os

def _status():
    return {line.split(":")[0]: line.split(":", 1)[1].strip() for line in open("/proc/self/status")}

def _others():
    # The environment blocks of every other process this one can read.
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                found[pid] = open("/proc/%s/environ" % pid, "rb").read().decode(errors="replace")
            except OSError:
                pass
    return found

def handler(event, context):
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    status = _status()
    return {
        "environ": open("/proc/self/environ", "rb").read().decode(errors="replace"),
        "cmdline": open("/proc/self/cmdline", "rb").read().decode(errors="replace"),
        "os_environ": dict(os.environ),
        "fds": fds,
        "limits": open("/proc/self/limits").read(),
        "SigIgn": status["SigIgn"], "SigBlk": status["SigBlk"],
        "cwd": os.getcwd(),
        "uid_map": open("/proc/self/uid_map").read().split(),
        "ids": [os.getuid(), os.getgid(), os.getgroups()],
        "umask": os.umask(0o022),
        "others": _others(),
    }
"""

NODE_PROBE = """
const fs = require('fs');
exports.handler = async () => ({
  environ: fs.readFileSync('/proc/self/environ').toString(),
  cmdline: fs.readFileSync('/proc/self/cmdline').toString(),
  limits: fs.readFileSync('/proc/self/limits').toString(),
  cwd: process.cwd(),
});
"""

#: A custom runtime in sh: reports what its own process (PID 1, exec'd) was given.
SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
while true; do
  headers=$(mktemp)
  curl -sS -D "$headers" -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next"
  request_id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  environ=$(base64 -w0 /proc/self/environ)
  cmdline=$(base64 -w0 /proc/self/cmdline)
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/${request_id}/response" \\
       -d "{\\"environ\\": \\"${environ}\\", \\"cmdline\\": \\"${cmdline}\\"}" >/dev/null
done
"""


@pytest.fixture(scope="module", params=["forked", "provisioned", "snapstart"])
def python_probe(request, slam, srole) -> tuple[str, str | None]:
    """The Python probe on each path a Python environment is made by: (function, qualifier)."""
    if request.param == "forked":
        return deploy(slam, srole, {"app.py": PYTHON_PROBE}), None
    if request.param == "provisioned":
        name = deploy(slam, srole, {"app.py": PYTHON_PROBE})
        version = slam.publish_version(FunctionName=name)["Version"]
        slam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
        wait_provisioned(slam, name, version)
        return name, version
    name = deploy(slam, srole, {"app.py": PYTHON_PROBE}, SnapStart={"ApplyOn": "PublishedVersions"})
    version = slam.publish_version(FunctionName=name)["Version"]
    slam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    return name, version


def test_python_environments_see_only_their_own_variables(python_probe, slam):
    body = call(slam, *python_probe)
    environ = variables(body["environ"])
    # What /proc/self/environ shows is what the function was given, and nothing else (the runtime sets the
    # trace id in os.environ for each invocation, as Lambda's runtimes do).
    given = {key: value for key, value in body["os_environ"].items() if key != "_X_AMZN_TRACE_ID"}
    assert environ == given
    assert environ["MY_SETTING"] == "mine"
    for text in (body["environ"], body["cmdline"], json.dumps(body["os_environ"])):
        assert CANARY not in text
    assert "LAMBDABOX_OPERATOR_SECRET" not in environ and "DATABASE_PASSWORD" not in environ
    # The command line is the runtime's, not the zygote's (which names Lambdabox's source tree).
    assert "lambdabox" not in body["cmdline"].lower().replace("lambdabox-", "")


def test_no_environment_finds_another_ones_credentials(python_probe, slam, srole, secret_server):
    """Each environment's role credentials are its own: not in another's /proc, the server's environment or its log.

    (A SnapStart clone holds its template's in memory, as it holds all INIT left; those are of the
    same function and role, and no clone is given them.)
    """
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    other = deploy(slam, srole, {"app.py": "import os\ndef handler(event, context):\n    return dict(os.environ)\n"})
    # Alive (idle) while the probe looks.
    theirs = call(slam, other)
    body = call(slam, *python_probe)
    mine = variables(body["environ"])
    assert mine["AWS_ACCESS_KEY_ID"].startswith("ASIA") and mine["AWS_ACCESS_KEY_ID"] != theirs["AWS_ACCESS_KEY_ID"]
    seen = json.dumps(body)
    for name in names:
        assert theirs[name] not in seen
    # Whatever other process it can read is of its own environment, with its own credentials.
    for block in body["others"].values():
        found = variables(block)
        assert all(found.get(name) in (None, mine[name]) for name in names), found
    server_environ = open(f"/proc/{secret_server.pid}/environ", "rb").read().decode(errors="replace")
    for name in names:
        assert mine[name] not in server_environ and theirs[name] not in server_environ
    assert "AWS_SESSION_TOKEN" not in variables(server_environ)
    # Nor does the server write them to its log.
    server_log = secret_server.log.read_text(errors="replace")
    assert mine["AWS_SECRET_ACCESS_KEY"] not in server_log and mine["AWS_SESSION_TOKEN"] not in server_log


def test_python_environments_inherit_no_descriptor_limit_or_signal(python_probe, slam):
    body = call(slam, *python_probe)
    for fd, target in body["fds"].items():
        # stdin is /dev/null, stdout and stderr the log pipe; beyond them only the runtime's own sockets
        # and the directory being listed.
        if int(fd) > 2:
            assert target.startswith("socket:") or target == "/proc/self/fd" or target.startswith("/proc/"), (fd, target)
    assert body["fds"]["0"] == "/dev/null"
    limits = {line[:26].strip(): line[26:].split() for line in body["limits"].splitlines()[1:]}
    assert limits["Max open files"][:2] == ["1024", "1024"]
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max stack size"][0] == str(8 * 1024 * 1024)
    # Python ignores SIGPIPE (13) and SIGXFSZ (25) itself, as any Python process does; nothing else, nothing blocked.
    assert int(body["SigIgn"], 16) == (1 << 12) | (1 << 24)
    assert int(body["SigBlk"], 16) == 0
    assert body["cwd"] == "/var/task"
    assert body["umask"] == 0o022


def test_python_environments_run_as_their_own_host_identity(python_probe, slam, secret_server):
    body = call(slam, *python_probe)
    assert body["ids"] == [993, 990, []]
    inside, _, count = body["uid_map"]
    assert (inside, count) == ("993", "1")
    # Seen from the host, it is not root, not the shared sandbox uid of old, but one from the server's range.
    assert host_uids(secret_server, python_probe[0]) and all(uid >= 1_000_000_000 for uid in host_uids(secret_server, python_probe[0]))


def test_exec_d_runtimes_see_only_their_own_variables(slam, srole):
    node = deploy(slam, srole, {"app.js": NODE_PROBE}, runtime="nodejs20.x")
    body = call(slam, node)
    environ = variables(body["environ"])
    assert environ["MY_SETTING"] == "mine" and CANARY not in body["environ"]
    assert "LAMBDABOX_OPERATOR_SECRET" not in environ
    assert body["cwd"] == "/var/task"
    shell = deploy(slam, srole, {"bootstrap": SHELL_BOOTSTRAP}, runtime="provided.al2023", handler="x", executable={"bootstrap"})
    body = call(slam, shell)
    environ = variables(base64.b64decode(body["environ"]).decode())
    assert environ["MY_SETTING"] == "mine" and "LAMBDABOX_OPERATOR_SECRET" not in environ
    assert CANARY not in base64.b64decode(body["cmdline"]).decode()


def test_every_environment_has_a_host_uid_no_other_has(slam, srole, secret_server):
    """Environments of different functions, and concurrent ones of one function, never share a host uid."""
    import concurrent.futures

    sleeper = "import time\ndef handler(event, context):\n    time.sleep(event.get('hold', 0))\n    return 1\n"
    first = deploy(slam, srole, {"app.py": sleeper})
    second = deploy(slam, srole, {"app.py": sleeper})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda name: slam.invoke(FunctionName=name, Payload=b'{"hold": 1}'), [first, first, second, second]))
    mine, theirs = host_uids(secret_server, first), host_uids(secret_server, second)
    # Two environments each (one per concurrent invoke), each of its own identity.
    assert len(mine) == 2 and len(theirs) == 2, (mine, theirs)
    assert not mine & theirs
    assert all(uid >= 1_000_000_000 for uid in mine | theirs)
