"""Response streaming, end to end: custom runtimes (provided.al2023) that stream, read through Invoke."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from test_runtimes import executable_zip

BOOTSTRAP = (Path(__file__).parent / "streaming_bootstrap.py").read_text()


@pytest.fixture
def streaming_function(lam, role, unique):
    """Create a provided.al2023 function whose runtime streams (tests/streaming_bootstrap.py); its name."""

    def create(timeout: int = 10, memory: int = 512) -> str:
        name = unique("stream")
        lam.create_function(
            FunctionName=name, Runtime="provided.al2023", Role=role, Handler="stream.handler", Timeout=timeout,
            MemorySize=memory, Code={"ZipFile": executable_zip({"bootstrap": BOOTSTRAP}, {"bootstrap"})},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        return name

    return create


def test_invoke_collects_a_streamed_response(streaming_function, invoke):
    name = streaming_function()
    answered = invoke(name, {"chunks": ["{\"a\":", "1}"]})
    assert answered.error is None, answered.raw
    assert answered.body == {"a": 1}


def test_invoke_reports_an_error_from_the_trailers(streaming_function, invoke):
    name = streaming_function()
    document = {"errorType": "Error", "errorMessage": "mid-stream", "trace": []}
    answered = invoke(name, {"chunks": ["partial"], "error": ["Error", base64.b64encode(json.dumps(document).encode()).decode()]})
    assert answered.error == "Unhandled"
    assert answered.body == document


def test_invoke_cuts_an_endless_stream_at_the_buffered_limit(streaming_function, invoke):
    name = streaming_function()
    answered = invoke(name, {"forever": True})
    assert answered.error == "Unhandled"
    assert answered.body["errorType"] == "Function.ResponseSizeTooLarge"
    # The server is still healthy: the same function answers again.
    assert invoke(name, {"chunks": ["[1]"]}).body == [1]
