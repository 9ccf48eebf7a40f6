"""The Python runtime bootstrap, run under each supported interpreter against a real RuntimeApi."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from harness import FUNCTION_ARN, invocation, python_argv, running, write_files
from lambdabox.runtime.api import MAX_RESPONSE_BYTES, InitFailed

APP = """\
import json, logging, sys, time

def handler(event, context):
    print("got", json.dumps(event))
    logging.getLogger().warning("warned %s", event.get("n"))
    if event.get("fail"):
        return {1, 2} if event["fail"] == "marshal" else 1 / 0
    if event.get("none"):
        return None
    return {"echo": event, "path": sys.path[:3]}

def context_handler(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.2)
    second = context.get_remaining_time_in_millis()
    client = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client": None if client is None else [
            client.client.installation_id, client.client.app_title, client.client.app_version_name,
            client.client.app_version_code, client.client.app_package_name, client.custom, client.env,
        ],
        "remaining": [first, second],
    }

def big(event, context):
    return "x" * event["size"]
"""


def run(scenario) -> None:
    asyncio.run(scenario)


def test_results_and_errors(python: str, task_root: Path) -> None:
    write_files(task_root, {"app.py": APP})

    async def scenario() -> None:
        async with running(python_argv(python), task_root, "app.handler") as runtime:
            await runtime.ready()
            item = invocation(b'{"n": 1}')
            outcome = await runtime.invoke(item)
            assert outcome.error_type is None
            version = "python%s.%s" % tuple(re.findall(r"(\d+)\.(\d+)", python)[0])
            assert json.loads(outcome.payload) == {
                "echo": {"n": 1},
                "path": [str(task_root), f"/opt/python/lib/{version}/site-packages", "/opt/python"],
            }

            assert (await runtime.invoke(invocation(b'{"none": true}'))).payload == b"null"

            failing = invocation(b'{"fail": "divide"}')
            outcome = await runtime.invoke(failing)
            assert outcome.error_type == "ZeroDivisionError"
            document = json.loads(outcome.payload)
            assert document["errorType"] == "ZeroDivisionError"
            assert document["errorMessage"] == "division by zero"
            assert document["requestId"] == failing.request_id
            [frame] = document["stackTrace"]
            assert frame.startswith(f'  File "{task_root / "app.py"}", line 7, in handler\n')

            outcome = await runtime.invoke(invocation(b'{"fail": "marshal"}'))
            assert outcome.error_type == "Runtime.MarshalError"
            document = json.loads(outcome.payload)
            assert document["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
            assert document["stackTrace"] == []

            # Still serving after errors.
            assert json.loads((await runtime.invoke(invocation(b'{"n": 2}'))).payload)["echo"] == {"n": 2}
            output = runtime.output()
        lines = output.split("\n")
        assert 'got {"n": 1}' in lines
        warning = next(line for line in lines if line.endswith("warned 1"))
        assert re.fullmatch(
            rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{item.request_id}\twarned 1", warning
        )
        assert any(line.startswith("[ERROR] ZeroDivisionError: division by zero\rTraceback") for line in lines)

    run(scenario())


INIT_FAILURES = {
    "import": (
        "missing.handler",
        {},
        "Runtime.ImportModuleError",
        "Unable to import module 'missing': No module named 'missing'",
    ),
    "handler": ("app.nothing", {"app.py": "x = 1\n"}, "Runtime.HandlerNotFound", "Handler 'nothing' missing on module 'app'"),
    "syntax": ("bad.handler", {"bad.py": "def handler(:\n"}, "Runtime.UserCodeSyntaxError", "Syntax error in module 'bad': "),
    "name": (
        "handler",
        {},
        "Runtime.MalformedHandlerName",
        "Bad handler 'handler': not enough values to unpack (expected 2, got 1)",
    ),
    "raises": ("boom.handler", {"boom.py": "raise RuntimeError('at import')\n"}, "RuntimeError", "at import"),
}


@pytest.mark.parametrize("case", sorted(INIT_FAILURES))
def test_init_errors(python: str, task_root: Path, case: str) -> None:
    handler, files, error_type, message = INIT_FAILURES[case]
    write_files(task_root, files)

    async def scenario() -> None:
        async with running(python_argv(python), task_root, handler) as runtime:
            with pytest.raises(InitFailed) as failed:
                await runtime.ready()
            assert await runtime.exit_code() == 1
        assert failed.value.error_type == error_type
        document = json.loads(failed.value.payload)
        assert document["errorType"] == error_type
        assert document["requestId"] == ""
        assert isinstance(document["stackTrace"], list)
        if case == "syntax":
            assert document["errorMessage"].startswith(message)
            assert document["stackTrace"][0].startswith(f'  File "{task_root / "bad.py"}" Line 1\n')
        else:
            assert document["errorMessage"] == message
        if case == "raises":
            assert document["stackTrace"][-1].startswith(f'  File "{task_root / "boom.py"}", line 1, in <module>')

    run(scenario())


def test_context(python: str, task_root: Path) -> None:
    write_files(task_root, {"app.py": APP})
    client_context = json.dumps(
        {
            "client": {
                "installation_id": "install",
                "app_title": "title",
                "app_version_name": "1.0",
                "app_version_code": "100",
                "app_package_name": "com.example",
            },
            "custom": {"k": "v"},
            "env": {"platform": "linux"},
        }
    )
    identity = json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})

    async def scenario() -> None:
        async with running(python_argv(python), task_root, "app.context_handler") as runtime:
            await runtime.ready()
            item = invocation(timeout_ms=5000, client_context=client_context, cognito_identity=identity)
            answer = json.loads((await runtime.invoke(item)).payload)
            bare = json.loads((await runtime.invoke(invocation())).payload)
        first, second = answer.pop("remaining")
        assert 4000 < first <= 5000
        assert 150 <= first - second <= 1000
        assert answer == {
            "function_name": "fn",
            "function_version": "$LATEST",
            "invoked_function_arn": FUNCTION_ARN,
            "memory_limit_in_mb": "128",
            "aws_request_id": item.request_id,
            "log_group_name": "/aws/lambda/fn",
            "log_stream_name": "2026/01/01/[$LATEST]0123456789abcdef",
            "identity": ["id-1", "pool-1"],
            "client": ["install", "title", "1.0", "100", "com.example", {"k": "v"}, {"platform": "linux"}],
        }
        assert bare["client"] is None
        assert bare["identity"] == [None, None]

    run(scenario())


def test_nested_handler_path(python: str, task_root: Path) -> None:
    write_files(task_root, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "def go(e, c):\n    return e\n"})

    async def scenario() -> None:
        async with running(python_argv(python), task_root, "pkg/sub/mod.go") as runtime:
            await runtime.ready()
            assert (await runtime.invoke(invocation(b"[1, 2]"))).payload == b"[1, 2]"

    run(scenario())


def test_response_too_large(task_root: Path) -> None:
    import sys

    write_files(task_root, {"app.py": APP})

    async def scenario() -> None:
        async with running(python_argv(sys.executable), task_root, "app.big") as runtime:
            await runtime.ready()
            # A JSON string of the limit's length, plus its two quotes: just over.
            outcome = await runtime.invoke(invocation(json.dumps({"size": MAX_RESPONSE_BYTES - 1}).encode()))
            assert outcome.error_type == "Function.ResponseSizeTooLarge"
            assert json.loads(outcome.payload) == {
                "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            # Exactly at the limit is delivered, and the runtime keeps serving after a 413.
            outcome = await runtime.invoke(invocation(json.dumps({"size": MAX_RESPONSE_BYTES - 2}).encode()))
            assert outcome.error_type is None
            assert len(outcome.payload) == MAX_RESPONSE_BYTES
            output = runtime.output()
        assert "refused (413)" in output

    run(scenario())
