"""The Node.js runtime bootstrap, run with the local node against a real RuntimeApi."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from harness import FUNCTION_ARN, invocation, node_argv, running, write_files
from lambdabox.runtime.api import InitFailed

INDEX = """\
exports.asyncHandler = async (event, context) => {
  console.log('got', JSON.stringify(event));
  if (event.fail) throw new TypeError('bad ' + event.fail);
  const first = context.getRemainingTimeInMillis();
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    echo: event,
    remaining: [first, context.getRemainingTimeInMillis()],
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    identity: context.identity,
    clientContext: context.clientContext,
    waits: context.callbackWaitsForEmptyEventLoop,
  };
};

exports.callbackHandler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.waits;
  setTimeout(() => {}, 300);
  if (event.fail) return callback(event.fail);
  callback(null, { done: true });
};

exports.silent = (event) => 42;

exports.nested = { deeper: { fn: async () => 'nested' } };
"""


def run(scenario) -> None:
    asyncio.run(scenario)


def test_async_handler_and_context(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": INDEX})
    identity = json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
    client_context = json.dumps({"client": {"app_title": "t"}, "custom": {"k": 1}, "env": {}})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, "index.asyncHandler") as runtime:
            await runtime.ready()
            item = invocation(b'{"n": 1}', timeout_ms=5000, client_context=client_context, cognito_identity=identity)
            outcome = await runtime.invoke(item)
            assert outcome.error_type is None
            answer = json.loads(outcome.payload)

            failing = invocation(b'{"fail": "input"}')
            outcome = await runtime.invoke(failing)
            output = runtime.output()
        first, second = answer.pop("remaining")
        assert 4000 < first <= 5000 and 80 <= first - second <= 1000
        assert answer == {
            "echo": {"n": 1},
            "functionName": "fn",
            "functionVersion": "$LATEST",
            "invokedFunctionArn": FUNCTION_ARN,
            "memoryLimitInMB": "128",
            "awsRequestId": item.request_id,
            "logGroupName": "/aws/lambda/fn",
            "logStreamName": "2026/01/01/[$LATEST]0123456789abcdef",
            "identity": {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
            "clientContext": {"client": {"app_title": "t"}, "custom": {"k": 1}, "env": {}},
            "waits": True,
        }
        assert outcome.error_type == "TypeError"
        document = json.loads(outcome.payload)
        assert document["errorType"] == "TypeError"
        assert document["errorMessage"] == "bad input"
        assert document["trace"][0] == "TypeError: bad input"
        assert any("index.js" in line for line in document["trace"][1:])
        lines = output.split("\n")
        assert any(
            re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{item.request_id}\tINFO\tgot {{\"n\":1}}", line)
            for line in lines
        )
        assert any(f"\t{failing.request_id}\tERROR\tInvoke Error \t{{" in line for line in lines)

    run(scenario())


def test_callback_handler_waits_for_empty_event_loop(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": INDEX})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, "index.callbackHandler") as runtime:
            await runtime.ready()
            started = time.monotonic()
            outcome = await runtime.invoke(invocation(b'{"waits": true}'))
            waited = time.monotonic() - started
            assert json.loads(outcome.payload) == {"done": True}
            assert waited >= 0.25  # The pending 300 ms timer ran out first.

            started = time.monotonic()
            outcome = await runtime.invoke(invocation(b'{"waits": false}'))
            assert json.loads(outcome.payload) == {"done": True}
            assert time.monotonic() - started < 0.25

            outcome = await runtime.invoke(invocation(b'{"waits": false, "fail": "nope"}'))
            assert outcome.error_type == "string"
            assert json.loads(outcome.payload) == {"errorType": "string", "errorMessage": "nope", "trace": []}

    run(scenario())


def test_sync_handler_without_callback_returns_null(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": INDEX})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, "index.silent") as runtime:
            await runtime.ready()
            assert (await runtime.invoke(invocation())).payload == b"null"
            assert (await runtime.invoke(invocation())).payload == b"null"

    run(scenario())


@pytest.mark.parametrize(
    "files, handler",
    [
        ({"app.mjs": "export const handler = async (event) => ({ esm: event.n });\n"}, "app.handler"),
        (
            {"package.json": '{"type": "module"}', "app.js": "export async function handler(event) { return { esm: event.n }; }\n"},
            "app.handler",
        ),
        ({"lib/app.cjs": "module.exports.handler = async (event) => ({ esm: event.n });\n"}, "lib/app.handler"),
    ],
    ids=["mjs", "type-module", "cjs-in-dir"],
)
def test_module_kinds(node: str, task_root: Path, files: dict[str, str], handler: str) -> None:
    write_files(task_root, files)

    async def scenario() -> None:
        async with running(node_argv(node), task_root, handler) as runtime:
            await runtime.ready()
            assert json.loads((await runtime.invoke(invocation(b'{"n": 7}'))).payload) == {"esm": 7}

    run(scenario())


def test_nested_export(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": INDEX})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, "index.nested.deeper.fn") as runtime:
            await runtime.ready()
            assert (await runtime.invoke(invocation())).payload == b'"nested"'

    run(scenario())


@pytest.mark.parametrize(
    "handler, files, error_type, message",
    [
        ("missing.handler", {}, "Runtime.ImportModuleError", "Error: Cannot find module 'missing'"),
        ("index.nope", {"index.js": INDEX}, "Runtime.HandlerNotFound", "index.nope is undefined or not exported"),
        ("bad.handler", {"bad.js": "exports.handler = (;\n"}, "Runtime.UserCodeSyntaxError", "SyntaxError: "),
        ("nodot", {}, "Runtime.MalformedHandlerName", "Bad handler"),
    ],
    ids=["import", "handler", "syntax", "name"],
)
def test_init_errors(node: str, task_root: Path, handler: str, files: dict[str, str], error_type: str, message: str) -> None:
    write_files(task_root, files)

    async def scenario() -> None:
        async with running(node_argv(node), task_root, handler) as runtime:
            with pytest.raises(InitFailed) as failed:
                await runtime.ready()
            assert await runtime.exit_code() != 0
        assert failed.value.error_type == error_type
        document = json.loads(failed.value.payload)
        assert document["errorType"] == error_type
        assert document["errorMessage"].startswith(message)
        assert document["trace"][0].startswith(f"{error_type}: {message}")

    run(scenario())


CRASHES = """\
exports.throwsLater = (event, context, callback) => {
  setTimeout(() => { throw new RangeError('later'); }, 10);
};
exports.rejects = async () => {
  Promise.reject(new Error('forgotten'));
  await new Promise((resolve) => setTimeout(resolve, 200));
  return 'unreachable';
};
exports.neverSettles = async () => new Promise(() => {});
"""


@pytest.mark.parametrize(
    "handler, error_type, message, exit_code",
    [
        ("throwsLater", "RangeError", "later", 129),
        ("rejects", "Runtime.UnhandledPromiseRejection", "Error: forgotten", 128),
        ("neverSettles", "Runtime.NodeJsExit", "The Lambda runtime client detected an unexpected Node.js exit code.", None),
    ],
)
def test_invocation_failures(node: str, task_root: Path, handler: str, error_type: str, message: str, exit_code) -> None:
    write_files(task_root, {"index.js": CRASHES})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, f"index.{handler}") as runtime:
            await runtime.ready()
            outcome = await runtime.invoke(invocation())
            assert outcome.error_type == error_type
            assert json.loads(outcome.payload)["errorMessage"].startswith(message)
            if exit_code is None:
                # The runtime survives a never-settled promise and serves again.
                assert (await runtime.invoke(invocation())).error_type == error_type
            else:
                assert await runtime.exit_code() == exit_code

    run(scenario())
