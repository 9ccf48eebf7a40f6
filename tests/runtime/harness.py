"""Helpers that run a runtime as a plain process against a real RuntimeApi.

No sandbox: the bootstrap runs as a subprocess with the environment the invoke layer
would give it, LAMBDA_TASK_ROOT pointing at a temporary directory of handler files. The
tests are plain functions that drive an asyncio scenario with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdabox.runtime.api import Invocation
from lambdabox.runtime.api_server import RuntimeApi
from lambdabox.runtime.catalog import RuntimeCatalog

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "src" / "lambdabox" / "runtime"
PYTHON_BOOTSTRAP = RUNTIME_DIR / "python" / "bootstrap.py"
NODE_BOOTSTRAP = RUNTIME_DIR / "nodejs" / "bootstrap.js"

def _found(runtime: str) -> str:
    """The interpreter Lambdabox itself would run `runtime` with (any patch release), or "" if there is none."""
    found = RuntimeCatalog().interpreter(runtime)
    return str(found) if found else ""


#: Interpreters the Python bootstrap must run under: the oldest and newest runtimes, found as the server
#: finds them, or LAMBDABOX_TEST_PYTHONS="3.10=/usr/bin/python3.10,3.14=/opt/py314/bin/python3".
PYTHONS = dict(
    entry.split("=", 1) for entry in os.environ.get("LAMBDABOX_TEST_PYTHONS", "").split(",") if "=" in entry
) or {"3.9": _found("python3.9"), "3.13": _found("python3.13")}

#: Seconds any single step of a scenario may take before the test fails.
STEP_TIMEOUT_S = 10

FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def require(path: str | None, what: str) -> str:
    """`path` if it exists; else skip the test on a laptop and fail it in CI."""
    if path and os.path.exists(path):
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but missing ({path})")
    pytest.skip(f"{what} not found ({path})")


def function_environment(api: RuntimeApi, task_root: Path, handler: str) -> dict[str, str]:
    """What the invoke layer puts in a runtime's environment."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
    }


def invocation(
    payload: bytes = b"{}",
    *,
    timeout_ms: int = 3000,
    client_context: str | None = None,
    cognito_identity: str | None = None,
) -> Invocation:
    return Invocation(
        request_id=str(uuid.uuid4()),
        payload=payload,
        deadline_ms=int(time.time() * 1000) + timeout_ms,
        invoked_function_arn=FUNCTION_ARN,
        trace_id="Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        client_context=client_context,
        cognito_identity=cognito_identity,
    )


@dataclass
class Running:
    """A runtime process serving one RuntimeApi."""

    api: RuntimeApi
    process: asyncio.subprocess.Process
    log: Path

    async def ready(self) -> None:
        await asyncio.wait_for(self.api.wait_ready(), STEP_TIMEOUT_S)

    async def invoke(self, item: Invocation):
        return await asyncio.wait_for(self.api.invoke(item), STEP_TIMEOUT_S)

    async def exit_code(self) -> int:
        return await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT_S)

    def output(self) -> str:
        return self.log.read_bytes().decode("utf-8", "replace")


@contextlib.asynccontextmanager
async def running(
    argv: list[str], task_root: Path, handler: str, env: dict[str, str] | None = None, **api_options
) -> AsyncIterator[Running]:
    """Start a RuntimeApi and a runtime process against it; stop both on the way out."""
    api = RuntimeApi(**api_options)
    await api.start()
    log = task_root.parent / f"runtime-{uuid.uuid4().hex[:8]}.log"
    environment = {**function_environment(api, task_root, handler), **(env or {})}
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *argv, env=environment, stdout=sink, stderr=asyncio.subprocess.STDOUT, cwd=task_root
        )
    try:
        yield Running(api, process, log)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await api.close()


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def python_argv(interpreter: str) -> list[str]:
    return [interpreter, str(PYTHON_BOOTSTRAP)]


def node_argv(node_binary: str) -> list[str]:
    return [node_binary, str(NODE_BOOTSTRAP)]

