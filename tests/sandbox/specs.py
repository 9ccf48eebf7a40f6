"""Building specs for test sandboxes, and waiting for them."""

from __future__ import annotations

import asyncio
import uuid

from lambdabox.sandbox.api import Sandbox, SandboxSpec

#: How long a test program may run before the test fails, in seconds.
RUN_TIMEOUT_S = 10.0
#: PATH inside sandboxes (Debian's /bin is a link into /usr).
PATH = "/usr/local/bin:/usr/bin:/bin"


def spec(argv: list[str], **fields) -> SandboxSpec:
    fields.setdefault("env", {"PATH": PATH})
    fields.setdefault("cwd", "/")
    fields.setdefault("memory_mb", 256)
    fields.setdefault("vcpus", 1.0)
    fields.setdefault("tmp_mb", 16)
    return SandboxSpec(id=f"test-{uuid.uuid4().hex[:12]}", argv=argv, **fields)


def sh(script: str, **fields) -> SandboxSpec:
    return spec(["/bin/sh", "-c", script], **fields)


def python(code: str, **fields) -> SandboxSpec:
    return spec(["/usr/bin/python3", "-I", "-c", code], **fields)


def wait(sandbox: Sandbox, timeout: float = RUN_TIMEOUT_S) -> int:
    return asyncio.run(asyncio.wait_for(sandbox.wait_exit(), timeout))
