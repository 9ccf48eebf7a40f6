"""Runtimes that end: an environment whose runtime exited is never handed an invocation, and an INIT
that fails writes Lambda's platform lines (INIT_REPORT, START, END, REPORT) to the log and the tail."""

from __future__ import annotations

import re
import shutil
import time

import pytest

#: Replies, then ends its own process shortly after, from a thread: the runtime exits after replying.
EXITS_AFTER_REPLYING = {
    "app.py": """
import os, threading, time

def handler(event, context):
    threading.Thread(target=lambda: (time.sleep(0.005), os._exit(0)), daemon=True).start()
    return {"pid": os.getpid()}
"""
}

#: Replies, then an unhandled rejection ends Node's process.
REJECTS_AFTER_REPLYING = {
    "index.mjs": """
export const handler = async () => {
  // Seen unhandled once the handler's result is on its way: the reply goes first, then the runtime exits.
  Promise.reject(new Error('after the reply'));
  return { pid: process.pid };
};
"""
}

#: A full vCPU, so the runtime ends before its environment is frozen (at 128 MB it has 7% of one, and a
#: runtime that exits "shortly after" replying may only do so when thawed for the next invoke, as on AWS).
FULL_VCPU_MB = 1769
INIT_DURATION = re.compile(r"\tInit Duration: \d+\.\d\d ms")


def test_python_runtime_that_exits_after_replying_is_followed_by_a_cold_invoke(deploy, invoke):
    name = deploy(EXITS_AFTER_REPLYING, MemorySize=FULL_VCPU_MB)
    first = invoke(name, LogType="Tail")
    assert first.error is None and INIT_DURATION.search(first.log)
    time.sleep(0.5)  # the runtime has exited by now
    second = invoke(name, LogType="Tail")
    assert second.error is None, second.body
    assert INIT_DURATION.search(second.log), second.log


def test_environment_whose_runtime_exited_while_idle_is_not_used(deploy, invoke):
    name = deploy(EXITS_AFTER_REPLYING, MemorySize=FULL_VCPU_MB)
    for _ in range(3):
        done = invoke(name, LogType="Tail")
        assert done.error is None, done.body
        assert INIT_DURATION.search(done.log)
        time.sleep(0.3)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed on this host")
def test_node_runtime_with_an_unhandled_rejection_after_replying_is_followed_by_a_cold_invoke(deploy, invoke):
    name = deploy(REJECTS_AFTER_REPLYING, runtime="nodejs20.x", handler="index.handler", MemorySize=FULL_VCPU_MB)
    first = invoke(name, LogType="Tail")
    assert first.error is None, first.body
    time.sleep(0.5)
    second = invoke(name, LogType="Tail")
    assert second.error is None, (first.log, second.log)
    assert INIT_DURATION.search(second.log), second.log


#: Lambda's platform lines of an invoke whose INIT failed, as its logs show them: INIT_REPORT of the
#: init phase, INIT_REPORT of the INIT run again for the invoke, then START, END and REPORT.
def platform_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.split(" ", 1)[0] in ("INIT_REPORT", "START", "END", "REPORT")]


def expect_failed_init_lines(lines: list[str], error_type: str) -> None:
    assert len(lines) == 5, lines
    first, again, start, end, report = lines
    assert re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\tError Type: {error_type}", first)
    assert re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: invoke\tStatus: error\tError Type: {error_type}", again)
    request_id = re.fullmatch(r"START RequestId: ([0-9a-f-]{36}) Version: \$LATEST", start).group(1)
    assert end == f"END RequestId: {request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        rf"Max Memory Used: \d+ MB\tStatus: error\tError Type: {error_type}",
        report,
    ), report


@pytest.mark.parametrize(
    ("files", "handler", "error_type"),
    [
        ({"app.py": "def handler(:\n"}, "app.handler", "Runtime.UserCodeSyntaxError"),
        ({"app.py": "x = 1\n"}, "app.handler", "Runtime.HandlerNotFound"),
        ({"app.py": "x = 1\n"}, "missing.handler", "Runtime.ImportModuleError"),
        ({"app.py": "raise ValueError('at import')\ndef handler(e, c): pass\n"}, "app.handler", "ValueError"),
    ],
)
def test_failed_init_logs_lambdas_lines_in_the_tail_and_the_log_group(deploy, invoke, server, files, handler, error_type):
    name = deploy(files, handler=handler)
    done = invoke(name, {}, LogType="Tail")
    assert done.error == "Unhandled" and done.body["errorType"] == error_type
    expect_failed_init_lines(platform_lines(done.log), error_type)
    # The runtime's own error line comes before each INIT_REPORT, as it printed it.
    assert done.log.count(error_type) >= 5
    logged = [event["message"] for event in server.get_json(f"/_lambdabox/logs/{name}")["events"]]
    expect_failed_init_lines(platform_lines("\n".join(logged)), error_type)
