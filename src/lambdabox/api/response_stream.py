"""InvokeWithResponseStream: the function's response as an event stream, sent as it comes.

1. The request is checked, authorized and refused as Invoke's is (throttles, a missing function, a bad
   payload: AWS's error responses, before any byte of the answer).
2. Once the runtime begins to stream, the answer begins: 200, Content-Type application/vnd.amazon.eventstream,
   X-Amz-Executed-Version. Each block of the body goes out as a PayloadChunk event as it arrives.
3. A function that does not stream (a buffered response) has its whole payload sent as one PayloadChunk.
4. The last event is InvokeComplete: empty on success; on failure, ErrorCode (the error type: the one in
   the runtime's trailers, Sandbox.Timedout, Function.ResponseSizeTooLarge, ...) and ErrorDetails (the
   error's message); LogResult with LogType Tail.
5. A client that leaves mid-stream stops the delivery, not the function: it runs to its end.
DryRun answers 204 once the function could run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import Response

from lambdabox.api import event_stream
from lambdabox.api.chunked import ChunkedResponse
from lambdabox.api.rest import Call
from lambdabox.invoke.invoker import Invoker, log_result
from lambdabox.invoke.streaming import StreamedRun
from lambdabox.runtime.api import error_message


async def invoke_with_response_stream(invoker: Invoker, call: Call) -> Response:
    version, request_id, streamed = await invoker.invoke_streamed(call.scope, call.input)
    headers = {"X-Amz-Executed-Version": version, "x-amzn-RequestId": request_id}
    if streamed is None:
        return Response(status_code=204, headers=headers)
    tail = call.input.get("LogType") == "Tail"
    return ChunkedResponse(_events(streamed, tail), headers=headers, media_type=event_stream.CONTENT_TYPE)


async def _events(streamed: StreamedRun, tail: bool) -> AsyncIterator[bytes]:
    try:
        if streamed.streaming:
            async for block in streamed.blocks():
                yield event_stream.payload_chunk(block)
        run = await streamed.finish()
        outcome = run.outcome
        if not outcome.streamed and outcome.error_type is None:
            yield event_stream.payload_chunk(outcome.payload)
        code, details = (None, None) if outcome.error_type is None else (outcome.error_type, error_message(outcome.payload))
        yield event_stream.invoke_complete(code, details, log_result(run.log_lines) if tail else None)
    finally:
        # Left early (the client went away): drop the rest; the function still runs to its end.
        streamed.abandon()

