"""What the hostile-tenant tests share: deploying probes on a server of their own, and looking at them from the host."""

from __future__ import annotations

import json
import uuid

from support import make_zip, sandbox_processes

#: A value only the server's environment holds; finding it anywhere a function can look is a leak.
CANARY = "canary-6b1f0e5d-server-secret"


def deploy(slam, srole, files, runtime="python3.12", handler="app.handler", executable=(), **config) -> str:
    import io
    import zipfile

    name = f"probe-{uuid.uuid4().hex[:8]}"
    if executable:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, content in files.items():
                info = zipfile.ZipInfo(path)
                info.create_system = 3
                info.external_attr = (0o100755 if path in executable else 0o100644) << 16
                archive.writestr(info, content)
        package = buffer.getvalue()
    else:
        package = make_zip(files)
    slam.create_function(FunctionName=name, Runtime=runtime, Role=srole, Handler=handler, Code={"ZipFile": package},
                         Environment={"Variables": {"MY_SETTING": "mine"}}, Timeout=15, **config)
    slam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


def call(slam, name: str, qualifier: str | None = None) -> dict:
    options = {"Qualifier": qualifier} if qualifier else {}
    response = slam.invoke(FunctionName=name, Payload=b"{}", **options)
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def variables(block: str) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in block.split("\0") if entry)


def host_uids(server, name: str) -> set[int]:
    """The host uids of the processes of a function's environments (found by their cgroups)."""
    uids = set()
    for pid in sandbox_processes(server.pid):
        try:
            status = open(f"/proc/{pid}/status").read()
            cgroup = open(f"/proc/{pid}/cgroup").read()
        except OSError:
            continue
        if f"/{name}-" in cgroup:
            uids.add(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
    return uids


def processes_of(server, name: str) -> list[int]:
    found = []
    for pid in sandbox_processes(server.pid):
        try:
            if f"/{name}-" in open(f"/proc/{pid}/cgroup").read():
                found.append(int(pid))
        except OSError:
            pass
    return found
