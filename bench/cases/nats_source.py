"""A NATS JetStream event source mapping on the machine's NATS: records per second end to end for a no-op
function at BatchSize 100, and the latency from a record's publication to its invocation at an idle mapping.

Runs its own Lambdabox server (functions on the host's network, so that the latency function can report
to NATS with a raw PUB) and its own streams, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import deploy
from bench.suite import Context, Outcome, Row

NATS_URL = "nats://127.0.0.1:4222"
ACCOUNT = "000000000000"
NOOP = "def handler(event, context):\n    pass\n"
#: Publishes, on core NATS subject SUBJECT, how long ago (ms) each record reached the stream.
LATENCY = """import json, os, socket, time

def handler(event, context):
    now = time.time()
    ages = [(now - r["nats"]["approximateArrivalTimestamp"]) * 1000 for r in event["Records"]]
    body = json.dumps(ages).encode()
    with socket.create_connection(("127.0.0.1", 4222), timeout=5) as connection:
        connection.recv(4096)
        connection.sendall(b"CONNECT {}\\r\\nPUB " + os.environ["SUBJECT"].encode() + b" %d\\r\\n" % len(body)
                           + body + b"\\r\\nPING\\r\\n")
        connection.recv(4096)
"""
LATENCY_SAMPLES = 20
#: The parallel run: records spread over so many subjects, read with this ParallelizationFactor.
SUBJECTS, FACTOR = 16, 4


def run(context: Context) -> Outcome:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from support import Server

    records = context.profile.async_events * 100 if context.profile.name == "full" else 5_000
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory) / "data", extra_args=["--nats-url", NATS_URL, "--function-network", "host"]).start()
        try:
            lam = server.client("lambda")
            role = deploy.role(server.client("iam"))
            per_s = _throughput(lam, role, f"BENCH_T_{tag}", records)
            parallel_per_s = _throughput(lam, role, f"BENCH_P_{tag}", records, SUBJECTS, FACTOR)
            ages = _latency(lam, role, f"BENCH_L_{tag}")
        finally:
            server.stop()
    results = {"nats_source": {"records": records, "records_per_s": round(per_s, 1),
                               "records_per_s_parallel": round(parallel_per_s, 1),
                               "latency_ms_median": round(statistics.median(ages), 1),
                               "latency_ms_max": round(max(ages), 1)}}
    rows = [Row("nats_noop_batch100_end_to_end", "records/s", per_s, n=records),
            Row(f"nats_noop_batch100_parallel{FACTOR}_{SUBJECTS}_subjects", "records/s", parallel_per_s, n=records),
            Row("nats_idle_publish_to_invoke", "ms", statistics.median(ages), max(ages), len(ages))]
    notes = [f"nats jetstream, {records} records at BatchSize 100 to a no-op function: {per_s:.0f} records/s end to end "
             f"(one subject, batches one at a time), {parallel_per_s:.0f} records/s over {SUBJECTS} subjects with "
             f"ParallelizationFactor {FACTOR}; "
             f"an idle mapping invokes a record {statistics.median(ages):.0f} ms (median) after it was published"]
    return Outcome(results, rows, notes)


async def _on_nats(work):
    import nats

    connection = await nats.connect(NATS_URL)
    try:
        return await work(connection)
    finally:
        await connection.close()


def _stream(name: str, publish: int, subjects: int = 1) -> None:
    async def make(connection):
        js = connection.jetstream()
        await js.add_stream(name=name, subjects=[f"{name}.>"], description=f"lambdabox-account={ACCOUNT}")
        pending = [js.publish(f"{name}.s{number % subjects}", b'{"n": 1}') for number in range(publish)]
        for start in range(0, len(pending), 500):
            await asyncio.gather(*pending[start:start + 500])
    asyncio.run(_on_nats(make))


def _drop(name: str) -> None:
    async def drop(connection):
        await connection.jetstream().delete_stream(name)
    asyncio.run(_on_nats(drop))


def _acked(stream: str, mapping_uuid: str) -> int:
    """The stream sequence up to which the mapping's consumer acked everything; -1 before it exists."""
    async def info(connection):
        from nats.js.errors import NotFoundError
        try:
            found = await connection.jetstream().consumer_info(stream, f"lambdabox-{mapping_uuid}")
        except NotFoundError:
            return -1
        return found.ack_floor.stream_seq
    return asyncio.run(_on_nats(info))


async def _until_acked(connection, stream: str, mapping_uuid: str, records: int) -> None:
    """Return once the mapping's consumer acked every record (looking every 50 ms, on one connection)."""
    from nats.js.errors import NotFoundError

    js = connection.jetstream()
    while True:
        try:
            found = await js.consumer_info(stream, f"lambdabox-{mapping_uuid}")
            if found.ack_floor.stream_seq >= records:
                return
        except NotFoundError:
            pass
        await asyncio.sleep(0.05)


def _throughput(lam, role: str, stream: str, records: int, subjects: int = 1, factor: int = 1) -> float:
    _stream(stream, records, subjects)
    try:
        with deploy.function(lam, role, "nats-noop", deploy.package(NOOP)) as name:
            lam.invoke(FunctionName=name, Payload=b"{}")  # warm
            began = time.perf_counter()
            mapping = lam.create_event_source_mapping(EventSourceArn=f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/{stream}",
                                                      FunctionName=name, BatchSize=100, ParallelizationFactor=factor)
            asyncio.run(_on_nats(lambda connection: _until_acked(connection, stream, mapping["UUID"], records)))
            elapsed = time.perf_counter() - began
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
    finally:
        _drop(stream)
    return records / elapsed


def _latency(lam, role: str, stream: str) -> list[float]:
    subject = f"bench.latency.{stream}"
    _stream(stream, 0)
    ages: list[float] = []
    try:
        name = "nats-latency"
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": deploy.package(LATENCY)}, Environment={"Variables": {"SUBJECT": subject}})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
        try:
            mapping = lam.create_event_source_mapping(EventSourceArn=f"arn:aws:nats:us-east-1:{ACCOUNT}:stream/{stream}",
                                                      FunctionName=name, BatchSize=1, StartingPosition="LATEST")
            while _acked(stream, mapping["UUID"]) < 0:  # LATEST: records before the consumer are not read.
                time.sleep(0.05)

            async def measure(connection):
                replies = await connection.subscribe(subject)
                js = connection.jetstream()
                for number in range(LATENCY_SAMPLES + 1):
                    await js.publish(f"{stream}.in", str(number).encode())
                    reply = await replies.next_msg(timeout=30)
                    if number:  # The first one paid for the cold start and the consumer's creation.
                        ages.extend(json.loads(reply.data))
                    await asyncio.sleep(0.2)

            asyncio.run(_on_nats(measure))
            lam.delete_event_source_mapping(UUID=mapping["UUID"])
        finally:
            lam.delete_function(FunctionName=name)
    finally:
        _drop(stream)
    return ages
