"""Crash safety: every acknowledged event is processed at least once across a kill -9."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time
from collections import Counter

from support import Server, make_zip
from test_async import HOST_NETWORK, TRUST, Listener

EVENTS = 2000
#: Asynchronous invocations the server runs at once: the most that can be in flight at the crash.
CONCURRENCY = 32

ECHO = """
import json, urllib.request
def handler(event, context):
    urllib.request.urlopen(urllib.request.Request(event["report"], data=json.dumps({"id": event["id"]}).encode(),
                                                  method="POST"), timeout=10).read()
"""


def test_kill_9_loses_no_acknowledged_event(tmp_path):
    listener = Listener()
    data = tmp_path / "data"
    server = Server(data, extra_args=["--async-concurrency", str(CONCURRENCY), *HOST_NETWORK]).start()
    try:
        iam, lam = server.client("iam"), server.client("lambda")
        role = iam.create_role(RoleName="crash", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName="echo", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": ECHO})}, MemorySize=256,
                            # A post that takes over the default 3 s on a busy host would fail the event, and its
                            # retry would count as a duplicate the crash did not cause.
                            Timeout=30)
        lam.get_waiter("function_active_v2").wait(FunctionName="echo", WaiterConfig={"Delay": 0.1})

        def send(batch: range) -> int:
            client = server.client("lambda")
            for number in batch:
                payload = json.dumps({"report": listener.url, "id": number})
                assert client.invoke(FunctionName="echo", InvocationType="Event", Payload=payload)["StatusCode"] == 202
            return len(batch)

        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            sent = sum(pool.map(send, [range(start, EVENTS, 16) for start in range(16)]))
        ingest_s = time.perf_counter() - began
        assert sent == EVENTS
        print(f"\ningest: {EVENTS} events acknowledged in {ingest_s:.2f} s = {EVENTS / ingest_s:.0f} events/s")

        deadline = time.monotonic() + 120
        while len(listener.posts) < EVENTS // 4:
            assert time.monotonic() < deadline, f"only {len(listener.posts)} events ran in 2 minutes"
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()
        before_crash = len(listener.posts)
        server.process = None

        server = Server(data, port=server.port, extra_args=HOST_NETWORK).start()
        restarted = time.perf_counter()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len({post["id"] for post in listener.posts}) < EVENTS:
            time.sleep(0.1)
        seen = Counter(post["id"] for post in listener.posts)
        missing = sorted(set(range(EVENTS)) - set(seen))
        duplicates = {number: count for number, count in seen.items() if count > 1}
        print(f"crash after {before_crash} effects; {len(seen)} events seen; {len(duplicates)} duplicated; "
              f"drained in {time.perf_counter() - restarted:.1f} s after the restart")
        assert missing == [], f"{len(missing)} acknowledged events were lost: {missing[:20]}"
        # Only the events that were in flight when the server died may run twice.
        assert len(duplicates) <= CONCURRENCY, duplicates
        assert all(count == 2 for count in duplicates.values()), duplicates
    finally:
        server.stop()
        listener.close()
