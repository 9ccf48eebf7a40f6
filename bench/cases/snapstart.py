"""SnapStart: a cold start restored from a version's snapshot, against the same function running INIT.

The handler's INIT imports a handful of standard-library packages (about what a small web
framework costs), so that there is INIT worth skipping. Each sample first has the
environment end itself (an invoke that exits the runtime, not timed), so the timed invoke
is the first of a new environment: restored from the snapshot for the published
SnapStart version, INIT from scratch for $LATEST of the same function.
"""

from __future__ import annotations

import json
import time

from bench import deploy
from bench.stats import summary
from bench.suite import Context, Outcome, Row

HEAVY_INIT = """import os
LOADED = [__import__(name) for name in (
    "asyncio", "email.mime.multipart", "http.server", "xml.dom.minidom", "sqlite3", "argparse", "decimal", "logging.handlers",
)]


def handler(event, context):
    if event.get("exit"):
        os._exit(0)
    return {'hello': 'world'}
"""


def run(context: Context) -> Outcome:
    lam, role, runs = context.lam, context.role, context.profile.cold_runs
    with deploy.function(lam, role, "snapstart", deploy.package(HEAVY_INIT), snap_start=True) as name:
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version, WaiterConfig={"Delay": deploy.POLL_S})
        results = {
            "cold_start_snapstart_restore": summary(fresh_starts(lam, name, version, runs)),
            "cold_start_same_init_on_demand": summary(fresh_starts(lam, name, "$LATEST", runs)),
        }
    ratio = round(results["cold_start_snapstart_restore"]["median_ms"] / results["cold_start_same_init_on_demand"]["median_ms"], 2)
    results["snapstart_vs_init"] = ratio
    rows = [Row(key, "ms", value["median_ms"], value["p99_ms"], value["n"]) for key, value in results.items() if isinstance(value, dict)]
    return Outcome(results, rows, [f"SnapStart restore / INIT of the same function: {ratio}x"])


def fresh_starts(lam, name: str, qualifier: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        # Ends the environment: the next invoke needs a new one.
        lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps({"exit": True}).encode())["Payload"].read()
        began = time.perf_counter()
        lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=b"{}")["Payload"].read()
        samples.append((time.perf_counter() - began) * 1000)
    return samples
