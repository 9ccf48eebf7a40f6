"""Functions for the benchmarks: packages, a role, and a function that exists for one `with` block."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"
#: Holds its environment for event["sleep"] seconds; says which environment it ran in and when it began.
SLEEPER = """import time


def handler(event, context):
    began = time.time()
    time.sleep(event.get("sleep", 0))
    return {"stream": context.log_stream_name, "began": began}
"""
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)
#: Memory that buys one full vCPU (Lambda's 1,769 MB), so a CPU quota does not limit a benchmark.
ONE_VCPU_MB = 1769
#: How often to poll a function's state while waiting for it, in seconds.
POLL_S = 0.05


def package(source: str, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def role(iam) -> str:
    """The ARN of the benchmarks' execution role, created on first use."""
    try:
        return iam.get_role(RoleName="bench")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName="bench", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


@contextmanager
def function(
    lam,
    role_arn: str,
    name: str,
    code: bytes,
    runtime: str = "python3.12",
    handler: str = "app.handler",
    memory_mb: int = 128,
    reserved: int | None = None,
    timeout_s: int = 30,
    snap_start: bool = False,
) -> Iterator[str]:
    """An Active function for the body of the `with`; deleting it afterwards retires its environments."""
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": code},
        MemorySize=memory_mb,
        Timeout=timeout_s,
        SnapStart={"ApplyOn": "PublishedVersions" if snap_start else "None"},
    )
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": POLL_S})
        if reserved is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        yield name
    finally:
        lam.delete_function(FunctionName=name)
