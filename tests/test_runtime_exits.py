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
