"""A tenant's output cannot hurt the server: floods, huge lines, retention, the size cap, odd names.

Every test runs a real server (its own, with the options it needs) and drives it with boto3.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from support import ACCOUNT, REGION, Invoked, Server, make_zip

#: CloudWatch's largest event message, in bytes (256 KB less 26 bytes of per-event overhead).
MAX_EVENT_BYTES = 262_118
#: The server options of the flood tests: the defaults, spelled out (2 MB/s, bursts of 4 MB).
RATE_MB, BURST_MB = 2, 4
#: Slowest the neighbour's warm invokes may get while another function floods its log, in seconds. The old
#: capture stalled the loop for 19 s; a flood now costs neighbours a few ms per reader callback.
NEIGHBOUR_P99_S = 0.5
NEIGHBOUR_MAX_S = 1.5
#: How long the flooder is invoked again and again (12 MB each time), in seconds.
FLOOD_S = 4.0
#: Most the server's resident memory may grow through a flood, in kB (the old capture grew by 290 MB).
RSS_GROWTH_KB = 48 * 1024

SHORT_LINES = """
import sys
LINE = "x" * 7 + "\\n"
BLOCK = LINE * 12500         # 100 KB of 8-byte lines
def handler(event, context):
    for _ in range(120):     # 12 MB in all
        sys.stdout.write(BLOCK)
    return {"done": True}
"""

ONE_LONG_LINE = """
import sys
PIECE = "y" * 1_000_000
def handler(event, context):
    for _ in range(10):      # one 10 MB line, with no newline
        sys.stdout.write(PIECE)
    return {"done": True}
"""


def _lambda(server: Server):
    return server.client("lambda")


def _deploy(server: Server, name: str, code: str, timeout: int = 60) -> str:
    lam = _lambda(server)
    role = f"arn:aws:iam::{ACCOUNT}:role/lambdabox-test"
    iam = server.client("iam")
    try:
        iam.create_role(
            RoleName="lambdabox-test",
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=timeout,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


def _invoke(client, name: str, **options) -> Invoked:
    response = client.invoke(FunctionName=name, **options)
    return Invoked(response["StatusCode"], response["ResponseMetadata"]["HTTPHeaders"], response["Payload"].read())


def _log(server: Server, name: str, since: int = 0) -> list[dict]:
    """Every event of a function's log group, page by page."""
    found: list[dict] = []
    seen: set[tuple] = set()
    while True:
        query = urllib.parse.urlencode({"since": since})
        page = server.get_json(f"/_lambdabox/logs/{urllib.parse.quote(name, safe='')}?{query}")
        fresh = [e for e in page["events"] if (e["timestamp"], e["logStreamName"], e["message"]) not in seen]
        for event in fresh:
            seen.add((event["timestamp"], event["logStreamName"], event["message"]))
        found.extend(fresh)
        if not page["truncated"] or not fresh:
            return found
        since = page["events"][-1]["timestamp"]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _cpu_s(pid: int) -> float:
    """User and system CPU time of a process so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in (data_dir / "logs").rglob("*.jsonl"))


def _stream_files(data_dir: Path, function: str) -> list[Path]:
    """The stream files of a function's group (the names are percent-quoted when short)."""
    namespace = f"{ACCOUNT}:{REGION}"
    group = urllib.parse.quote(f"/aws/lambda/{function}", safe="")
    return sorted((data_dir / "logs" / namespace / group).glob("*.jsonl"))


@pytest.fixture
def flood_server(tmp_path: Path):
    running = Server(tmp_path / "data", extra_args=["--log-rate", str(RATE_MB), "--log-burst", str(BURST_MB)]).start()
    yield running
    running.stop()


@pytest.mark.parametrize("code", [SHORT_LINES, ONE_LONG_LINE], ids=["12MB-of-short-lines", "one-10MB-line"])
def test_a_flood_neither_stalls_nor_bloats_the_server(flood_server: Server, code: str) -> None:
    server = flood_server
    neighbour = _deploy(server, "neighbour", "def handler(event, context):\n    return 1\n")
    flooder = _deploy(server, "flooder", code)
    lam = _lambda(server)
    for _ in range(5):
        assert _invoke(lam, neighbour).status == 200
    first_flood = time.perf_counter()
    assert _invoke(lam, flooder, Payload=b"{}").status == 200  # INIT and a first flood: the burst is spent
    rss_before = _rss_kb(server.pid)
    cpu_before = _cpu_s(server.pid)

    latencies: list[float] = []
    stop = threading.Event()

    def measure() -> None:
        client = _lambda(server)
        while not stop.is_set():
            began = time.perf_counter()
            assert _invoke(client, neighbour).body == 1
            latencies.append(time.perf_counter() - began)

    thread = threading.Thread(target=measure)
    thread.start()
    try:
        time.sleep(0.3)
        began = time.perf_counter()
        flooded = [_invoke(lam, flooder, LogType="Tail")]
        while time.perf_counter() - began < FLOOD_S:
            flooded.append(_invoke(lam, flooder, LogType="Tail"))
        flood_s = time.perf_counter() - began
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
    rss_after = _rss_kb(server.pid)
    cpu_s = _cpu_s(server.pid) - cpu_before

    for result in flooded:
        assert result.status == 200 and result.body == {"done": True} and result.error is None
        tail = base64.b64decode(result.headers["x-amz-log-result"])
        assert len(tail) <= 4096 and b"REPORT RequestId:" in tail
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if len(latencies) >= 100 else latencies[-1]
    print(
        f"\nflood of {flood_s:.2f} s: {len(latencies)} neighbour invokes, median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; server RSS {rss_before} -> {rss_after} kB; "
        f"server CPU {cpu_s:.2f} s; flooder invoked {len(flooded)} times; log files {_log_bytes(server.data_dir)} bytes"
    )
    assert len(latencies) >= 10
    assert p99 < NEIGHBOUR_P99_S and latencies[-1] < NEIGHBOUR_MAX_S
    assert rss_after - rss_before < RSS_GROWTH_KB

    messages = [event["message"] for event in _log(server, flooder)]
    markers = [m for m in messages if m.startswith("Lambdabox dropped ")]
    assert markers and all(f"more than {RATE_MB * 1024 * 1024} bytes per second" in m for m in markers)
    # One marker per drop episode (about a second each), never one per line.
    assert len(markers) <= 2 * (len(flooded) + 1) + flood_s
    assert max(len(m.encode()) for m in messages) <= MAX_EVENT_BYTES
    # What was kept is bounded by the burst and the rate over the time the flooder ran (from its first
    # invoke, with INIT, to the end), with room for the JSON around each event: far less than it printed.
    kept = _log_bytes(server.data_dir)
    elapsed_s = time.perf_counter() - first_flood
    assert kept < 1.3 * (BURST_MB + RATE_MB * elapsed_s) * 1024 * 1024
    assert kept < (len(flooded) + 1) * 10 * 1024 * 1024 / 4


def test_a_line_longer_than_an_event_is_split_and_tail_still_works(server: Server, deploy, invoke) -> None:
    code = """
import sys
def handler(event, context):
    sys.stdout.write("a" * 300_000 + "\\n")
    sys.stdout.write("\\u00e9" * 200_000 + "\\n")   # 400 KB of two-byte characters
    sys.stdout.flush()
    sys.stdout.buffer.write(b"\\xff\\xfe bad bytes\\n")
    sys.stdout.buffer.flush()
    print("last line")
    return 1
"""
    name = deploy({"app.py": code})
    result = invoke(name, {}, LogType="Tail")
    assert result.status == 200 and result.body == 1
    tail = base64.b64decode(result.headers["x-amz-log-result"])
    assert len(tail) <= 4096
    lines = tail.decode(errors="replace").splitlines()  # the tail is cut in bytes, maybe inside a character
    assert lines[-1].startswith("REPORT RequestId:") and "last line" in lines and "\ufffd\ufffd bad bytes" in lines

    messages = [event["message"] for event in _log(server, name)]
    assert all(len(m.encode()) <= MAX_EVENT_BYTES for m in messages)
    a_events = [m for m in messages if m.startswith("a")]
    assert [len(m) for m in a_events] == [MAX_EVENT_BYTES, 300_000 - MAX_EVENT_BYTES]
    e_events = [m for m in messages if m.startswith("\u00e9")]
    assert len(e_events) == 2 and "".join(e_events) == "\u00e9" * 200_000  # cut between characters
    assert len(e_events[0].encode()) == MAX_EVENT_BYTES
    assert "\ufffd\ufffd bad bytes" in messages


def test_retention_deletes_streams_older_than_the_default(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_args=["--log-retention-days", "1", "--log-sweep-interval", "0.2"]).start()
    try:
        lam = _lambda(server)
        old = _deploy(server, "old-fn", "def handler(e, c):\n    print('old output')\n")
        new = _deploy(server, "new-fn", "def handler(e, c):\n    print('new output')\n")
        _invoke(lam, old)
        _invoke(lam, new)
        [old_stream] = _stream_files(server.data_dir, old)
        [new_stream] = _stream_files(server.data_dir, new)
        two_days_ago = time.time() - 2 * 86400
        os.utime(old_stream, (two_days_ago, two_days_ago))
        deadline = time.monotonic() + 10
        while old_stream.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not old_stream.exists()
        assert new_stream.exists()
        assert not any("old output" in e["message"] for e in _log(server, old))
        assert any("new output" in e["message"] for e in _log(server, new))
        # The environment whose stream was deleted writes a fresh one.
        assert _invoke(lam, old, LogType="Tail").status == 200
        assert any("old output" in e["message"] for e in _log(server, old))
    finally:
        server.stop()


def test_the_size_cap_deletes_the_least_recently_written_streams_first(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", extra_args=["--log-max-mb", "1", "--log-sweep-interval", "0.2"]).start()
    try:
        lam = _lambda(server)
        code = "def handler(e, c):\n    for i in range(400):\n        print(c.function_name + ' ' + 'z' * 1000)\n"
        names = [_deploy(server, f"cap-{letter}", code) for letter in "abcd"]
        for name in names:
            assert _invoke(lam, name).status == 200
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while _log_bytes(server.data_dir) > 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _log_bytes(server.data_dir) <= 1024 * 1024
        present = [bool(_stream_files(server.data_dir, name)) for name in names]
        assert present == [False, False, True, True]
        assert any(e["message"].startswith("cap-d ") for e in _log(server, names[3]))
    finally:
        server.stop()


@pytest.mark.parametrize(
    "name, query",
    [
        ("g" * 300, {}),  # a group name past 255 bytes once quoted
        ("..", {}),
        (".", {"region": "../../../../etc"}),
        ("fn", {"account": "../" * 100, "region": "x" * 600}),
    ],
)
def test_any_group_or_namespace_name_is_safe_to_read(server: Server, name: str, query: dict) -> None:
    path = f"/_lambdabox/logs/{urllib.parse.quote(name, safe='')}?{urllib.parse.urlencode(query)}"
    assert server.get_json(path) == {"events": [], "truncated": False}


def test_drain_does_not_chase_a_function_that_keeps_printing(tmp_path: Path) -> None:
    """A thread prints without end, faster than the server can log it (no rate cap here to drop it);
    each invoke still ends, with what was printed before the answer in the log."""
    # Writes of at most PIPE_BUF (4096) bytes to a pipe are atomic: the threads' lines never interleave.
    code = """
import os, threading
def spam():
    block = (b"s" * 99 + b"\\n") * 40
    while True:
        os.write(1, block)
threading.Thread(target=spam, daemon=True).start()
def handler(event, context):
    os.write(1, b"before the answer " + event["n"].encode() + b"\\n")
    return event["n"]
"""
    server = Server(tmp_path / "data", extra_args=["--log-rate", "100000", "--log-burst", "100000"]).start()
    try:
        name = _deploy(server, "spammer", code, timeout=30)
        _lambda(server).update_function_configuration(FunctionName=name, MemorySize=1769)
        _lambda(server).get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        lam = _lambda(server)
        for n in ("one", "two", "three"):
            began = time.perf_counter()
            result = _invoke(lam, name, Payload=json.dumps({"n": n}).encode(), LogType="Tail")
            assert result.status == 200 and result.body == n
            assert time.perf_counter() - began < 5
        time.sleep(0.5)
        messages = {event["message"] for event in _log(server, name) if not event["message"].startswith("sss")}
        assert {"before the answer one", "before the answer two", "before the answer three"} <= messages
    finally:
        server.stop()
