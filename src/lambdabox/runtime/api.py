"""The contract of one environment's Runtime API endpoint.

Lambda's Runtime API (/2018-06-01/runtime/...) is how a runtime inside an environment
asks for work and hands back results. Lambdabox serves it to each environment on its own
loopback port, given to the runtime as AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT.

Guarantees:
1. `start()` binds the port; `address` is valid afterwards.
2. `wait_ready()` resolves when the runtime first asks for work (GET .../invocation/next):
   its INIT is over. If the runtime posts .../runtime/init/error first, it raises
   `InitFailed` with the posted error instead.
3. `invoke(invocation)` hands the invocation to the runtime's pending /next (with the
   Lambda-Runtime-* headers), then resolves with the `Outcome` the runtime posts to
   .../invocation/{id}/response or /error. One invocation at a time; a second concurrent
   call is a programming error.
4. A response larger than `MAX_RESPONSE_BYTES` is not delivered: the outcome is Lambda's
   Function.ResponseSizeTooLarge error, and the runtime gets HTTP 413.
4a. A streamed response (Lambda-Runtime-Function-Response-Mode: streaming, chunked) goes block by block
   to the `StreamedBody` given to `invoke` (runtime/streamed_response.py), up to
   MAX_STREAMED_RESPONSE_BYTES; the outcome (`streamed` set, payload empty) resolves when the body ends:
   an error reported in its trailers, or Function.ResponseSizeTooLarge past the limit (the runtime gets
   413 and the body is cut there). Without a StreamedBody the body is collected as a buffered response.
5. Cancelling `invoke` (a timeout, or the sandbox dying) leaves the endpoint unusable for
   further invokes; the environment is then destroyed, never reused.
6. `close()` stops serving and closes every connection; idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdabox.model import json_text

#: Largest response payload a runtime may post, in bytes (Lambda's 6 MB limit as it counts it).
MAX_RESPONSE_BYTES = 6_291_556


@dataclass(frozen=True)
class Invocation:
    request_id: str
    payload: bytes
    #: Deadline as milliseconds since the epoch (Lambda-Runtime-Deadline-Ms).
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str
    #: The client context as JSON text, if the caller sent one (Lambda-Runtime-Client-Context).
    client_context: str | None = None
    #: The Cognito identity as JSON text, if any (Lambda-Runtime-Cognito-Identity).
    cognito_identity: str | None = None


@dataclass(frozen=True)
class Outcome:
    #: The response payload, or the error document {errorMessage, errorType, stackTrace, ...}.
    payload: bytes
    #: None on success; else the error type (Lambda-Runtime-Function-Error-Type, or the body's errorType).
    error_type: str | None = None
    #: True when the payload went out block by block through a StreamedBody (then `payload` is empty).
    streamed: bool = False


def error_message(payload: bytes | None) -> str:
    """The errorMessage of an error document a runtime posted ("" when it names none); a payload that is not
    a JSON object (or nests too deep to read) is its own text, cut to 256 characters."""
    if not payload:
        return ""
    try:
        return str(json_text.loads(payload).get("errorMessage", ""))
    except (ValueError, AttributeError):
        return payload.decode("utf-8", "replace")[:256]


class InitFailed(Exception):
    """The runtime reported an error during INIT (POST /runtime/init/error)."""

    def __init__(self, error_type: str, payload: bytes) -> None:
        super().__init__(error_type)
        self.error_type = error_type
        self.payload = payload
        #: What the environment that ran this INIT logged of it (an `InitReport` of invoke/environment.py), or None.
        self.report: object | None = None

    def describe(self) -> str:
        """"errorType: errorMessage" of the posted document (the type alone when it has no message)."""
        try:
            message = json_text.loads(self.payload).get("errorMessage")
        except (ValueError, AttributeError):
            message = None
        return f"{self.error_type}: {message}" if message else self.error_type
