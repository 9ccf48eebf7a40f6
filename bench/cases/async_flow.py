"""Asynchronous invocation of a no-op function: events acknowledged per second (each durable
before its 202) by 16 boto3 clients, and events processed per second end to end."""

from __future__ import annotations

import concurrent.futures
import time

from bench import deploy
from bench.suite import Context, Outcome, Row

NOOP = "def handler(event, context):\n    pass\n"
#: Client threads sending events, each with its own boto3 client.
THREADS = 16
#: Pause between polls of the invocation records, in seconds.
POLL_S = 0.02
#: Longest wait for every event to have run, in seconds; past it the case fails rather than hang.
DRAIN_TIMEOUT_S = 300


def run(context: Context) -> Outcome:
    server, events = context.server, context.profile.async_events
    with deploy.function(context.lam, context.role, "noop", deploy.package(NOOP)) as name:

        def send(count: int) -> None:
            client = server.client("lambda")
            for _ in range(count):
                client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")

        total = (events // THREADS) * THREADS
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(send, [events // THREADS] * THREADS))
        acknowledged = time.perf_counter()
        path = f"/_lambdabox/invocations?function={name}&limit={total}"
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while True:
            statuses = [item["status"] for item in server.get_json(path)["invocations"]]
            if statuses.count("succeeded") >= total:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{statuses.count('succeeded')} of {total} events ran in {DRAIN_TIMEOUT_S} s: "
                                   f"{dict((status, statuses.count(status)) for status in set(statuses))}")
            time.sleep(POLL_S)
        finished = time.perf_counter()
    flow = {
        "events": total,
        "ingest_per_s": round(total / (acknowledged - began), 1),
        "end_to_end_per_s": round(total / (finished - began), 1),
    }
    rows = [
        Row("async_noop_acknowledged", "events/s", flow["ingest_per_s"], n=total),
        Row("async_noop_end_to_end", "events/s", flow["end_to_end_per_s"], n=total),
    ]
    notes = [f"async, {total} no-op events: {flow['ingest_per_s']} acknowledged/s (fsync'd), "
             f"{flow['end_to_end_per_s']} processed/s end to end"]
    return Outcome({"async_noop": flow}, rows, notes)
