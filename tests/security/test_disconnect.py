"""A client that hangs up mid-body is not an internal error: nothing is stored, nothing is logged as one."""

from __future__ import annotations

import time

import pytest

from wire import hang_up_mid_body, log_alarms, send


@pytest.mark.parametrize(
    "method, path, service",
    [
        ("POST", "/2015-03-31/functions", "lambda"),
        ("POST", "/2015-03-31/functions/victim/invocations", "lambda"),
        ("PUT", "/2015-03-31/functions/victim/configuration", "lambda"),
        ("POST", "/", "iam"),
    ],
)
def test_hanging_up_mid_body_leaves_no_traceback(server, lam, method, path, service):
    assert server.log is not None
    start = server.log.stat().st_size
    for sent in (b"", b'{"FunctionName":"half', b"Action=CreateRole&RoleName=half"):
        hang_up_mid_body(server, method, path, declared=100_000, sent=sent, service=service)
    # The server notices each hang-up when it next reads; give it a moment, then prove it still serves.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and send(server, "GET", "/_lambdabox/health").status != 200:
        time.sleep(0.1)
    time.sleep(0.5)
    assert "half" not in str(lam.list_functions()["Functions"])
    with server.log.open("rb") as log:
        log.seek(start)
        assert log_alarms(log.read().decode("utf-8", "replace")) == []


def test_a_query_body_past_its_limit_is_not_buffered(server):
    """IAM and STS forms are small; a hostile one of many megabytes is refused, not read whole."""
    answer = send(server, "POST", "/", b"Action=ListRoles&Version=2010-05-08&Pad=" + b"x" * (2 * 1024 * 1024), service="iam")
    assert answer.status == 413
    assert b"<Code>RequestEntityTooLarge</Code>" in answer.body
    assert send(server, "POST", "/", b"Action=ListRoles&Version=2010-05-08", service="iam").status == 200
