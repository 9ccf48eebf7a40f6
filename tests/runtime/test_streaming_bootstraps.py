"""The Python and Node.js bootstraps stream against a real RuntimeApi: blocks leave before the handler is done,
and a stream the Runtime API cuts (over its limit) leaves the runtime serving the next invocation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from harness import STEP_TIMEOUT_S, invocation, node_argv, python_argv, running, write_files
from lambdabox.runtime.streamed_response import StreamedBody

PYTHON = """\
import time

def handler(event, context):
    return (chunks if event.get("mode") == "gate" else forever)(event)

def chunks(event):
    yield "first"
    # Hold the second chunk back until the reader has seen the first (it creates the file).
    while not __import__("os").path.exists(event["gate"]):
        time.sleep(0.01)
    yield b"second"

def forever(event):
    try:
        while True:
            yield b"z" * 10000
    finally:
        print("generator closed")
"""

NODE = """\
const fs = require('fs');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  if (event.mode === 'gate') {
    responseStream.write('first');
    while (!fs.existsSync(event.gate)) await sleep(10);
    responseStream.end('second');
    return;
  }
  try {
    for (;;) {
      if (!responseStream.write('z'.repeat(10000))) {
        await new Promise((resolve) => {
          responseStream.once('drain', resolve);
          responseStream.once('close', resolve);
        });
      }
      if (responseStream.destroyed) break;
    }
  } finally {
    console.log('stream closed', responseStream.destroyed);
  }
});
"""

#: The Runtime API's limit in these tests, in bytes: small, so that cutting a stream is quick.
LIMIT_BYTES = 100_000


async def read_all(sink: StreamedBody, into: bytearray) -> None:
    async for block in sink.blocks():
        into.extend(block)


async def gated(runtime, gate: Path) -> None:
    """The first block reaches the reader while the handler still waits to make the second."""
    sink = StreamedBody()
    item = invocation(json.dumps({"mode": "gate", "gate": str(gate)}).encode())
    invoked = asyncio.ensure_future(runtime.api.invoke(item, sink))
    blocks = sink.blocks()
    assert await asyncio.wait_for(blocks.__anext__(), STEP_TIMEOUT_S) == b"first"
    assert not invoked.done()
    gate.touch()
    rest = bytearray()
    async for block in blocks:
        rest.extend(block)
        if rest == b"second":
            break
    outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
    sink.close()
    assert outcome.streamed and outcome.error_type is None and bytes(rest) == b"second"


async def cut(runtime) -> None:
    """A stream over the limit ends as Function.ResponseSizeTooLarge."""
    sink = StreamedBody()
    received = bytearray()
    reading = asyncio.ensure_future(read_all(sink, received))
    outcome = await asyncio.wait_for(runtime.api.invoke(invocation(b'{"mode": "forever"}'), sink), STEP_TIMEOUT_S)
    sink.close()
    await asyncio.wait_for(reading, STEP_TIMEOUT_S)
    assert outcome.error_type == "Function.ResponseSizeTooLarge"
    assert len(received) == LIMIT_BYTES and set(received) == {ord("z")}


def test_python_streams_and_survives_a_cut(python: str, task_root: Path) -> None:
    write_files(task_root, {"app.py": PYTHON})

    async def scenario() -> None:
        async with running(python_argv(python), task_root, "app.handler", max_streamed_bytes=LIMIT_BYTES) as runtime:
            await runtime.ready()
            await cut(runtime)
            # The runtime closed the generator and came back for the next event.
            await gated(runtime, task_root / "gate")
            assert "generator closed" in runtime.output()

    asyncio.run(scenario())


def test_node_streams_and_survives_a_cut(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": NODE})

    async def scenario() -> None:
        async with running(node_argv(node), task_root, "index.handler", max_streamed_bytes=LIMIT_BYTES) as runtime:
            await runtime.ready()
            await cut(runtime)
            await gated(runtime, task_root / "gate")
            assert "stream closed true" in runtime.output()

    asyncio.run(scenario())


def test_node_global_awslambda_and_its_opt_out(node: str, task_root: Path) -> None:
    write_files(task_root, {"index.js": "exports.handler = async () => typeof globalThis.awslambda;\n"})

    async def scenario(env: dict[str, str]) -> bytes:
        async with running(node_argv(node), task_root, "index.handler", env) as runtime:
            await runtime.ready()
            return (await runtime.invoke(invocation())).payload

    assert asyncio.run(scenario({})) == b'"object"'
    # Lambda's escape hatch for handlers that don't want the global.
    assert asyncio.run(scenario({"AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA": "1"})) == b'"undefined"'
