"""Lambdabox benchmarks: start a real server, measure, print a table, write JSON.

    scripts/bench.sh            # full run (about two minutes on a 2-core host)
    scripts/bench.sh --smoke    # a little of each, well under a minute (CI runs this)
    .venv/bin/python bench/run.py [--smoke] [--only CASE,...] [--output DIR]

Every figure is measured in this one run against one server, at the client, through the
HTTP API. A timed invoke that fails, or a "cold" one that ran no INIT, fails the run, and so
does a median over ten times what bench/tripwires.json recorded for it (a tripwire for gross
regressions, which CI's smoke run trips on); comparisons (python3 -c, the bare ASGI app) run beside it in the same run. The
cases, in order (each in bench/cases/):
  latency     cold start (Python, Node.js) vs `python3 -c`; sequential warm invokes
  snapstart   cold start restored from a SnapStart snapshot vs the same function's INIT
  async_flow  asynchronous events acknowledged and processed per second
  throughput  warm invokes/s at concurrency 32 vs a bare ASGI app on the same uvicorn stack
  function_urls  a hello-world through its function URL vs through Invoke: sequential latency, requests/s at 32
  density     memory per idle warm environment (PSS, RSS, host), environments per host (extrapolated)
  scale_out   new environments per second under a burst of concurrent invokes on a cold function
  sqs_source  an SQS event source mapping on moto's server: records/s at BatchSize 100, send-to-invoke latency
  nats_source a NATS JetStream mapping on the machine's NATS: records/s at BatchSize 100, publish-to-invoke latency
              (with a server and a moto of its own)
  kinesis_source  a Kinesis event source mapping on moto's server: records/s at BatchSize 100, one shard and four
              (with a server and a moto of its own)
"""

from __future__ import annotations

import argparse
import shlex
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.cases import (  # noqa: E402
    async_flow, density, function_urls, kinesis_source, latency, nats_source, scale_out, snapstart, sqs_source,
    throughput,
)
from bench.suite import FULL, SMOKE, Context, Outcome, Row  # noqa: E402
from support import Server  # noqa: E402  (the tests' server process, reused)

#: The cases in the order they run; each deletes its functions before the next begins.
CASES = [latency, snapstart, async_flow, throughput, function_urls, density, scale_out, sqs_source, kinesis_source, nats_source]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a little of each, for CI")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--only", help="comma-separated cases to run (default: all), e.g. latency,snapstart")
    parser.add_argument(
        "--server-args", default="", help="options for the server, e.g. '--function-network none' (default: none)"
    )
    arguments = parser.parse_args()
    cases = [case for case in CASES if not arguments.only or case.__name__.rpartition(".")[2] in arguments.only.split(",")]
    profile = SMOKE if arguments.smoke else FULL
    # Bursts hold hundreds of connections and environments; the server inherits this limit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    host = _host()
    outcomes: list[tuple[str, Outcome]] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory) / "data", extra_args=shlex.split(arguments.server_args)).start()
        try:
            lam = server.client("lambda")
            context = Context(server, lam, _role(server), profile)
            for case in cases:
                name = case.__name__.rpartition(".")[2]
                print(f"[{time.monotonic() - began:6.1f} s] {name} ...", file=sys.stderr, flush=True)
                outcomes.append((name, case.run(context)))
        finally:
            server.stop()
    elapsed = time.monotonic() - began

    print(f"{'benchmark':<46}{'unit':<11}{'median':>12}{'p99':>14}{'n':>7}")
    for _, outcome in outcomes:
        for row in outcome.rows:
            print(_line(row))
    print()
    for _, outcome in outcomes:
        for note in outcome.notes:
            print(note)

    results = {"profile": profile.name, "host": host, "elapsed_s": round(elapsed, 1)}
    for _, outcome in outcomes:
        results.update(outcome.results)
    arguments.output.mkdir(parents=True, exist_ok=True)
    target = arguments.output / f"bench-{time.strftime('%Y%m%dT%H%M%S')}{'-smoke' if arguments.smoke else ''}.json"
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nhost: {host['cpus']} CPUs, {host['memory_mib']} MiB, load average {host['load_average_at_start'][0]:.2f} "
          f"at the start (other work on the host skews every figure)")
    print(f"{profile.name} run took {elapsed:.0f} s; wrote {target}")
    tripped = _tripped(results)
    for line in tripped:
        print(f"REGRESSION: {line}", file=sys.stderr)
    return 1 if tripped else 0


def _tripped(results: dict) -> list[str]:
    """The figures more than `factor` times the median bench/tripwires.json recorded for them."""
    wires = json.loads((Path(__file__).parent / "tripwires.json").read_text())
    found = []
    for name, recorded in wires["medians_ms"].items():
        measured = results.get(name, {}).get("median_ms") if isinstance(results.get(name), dict) else None
        if measured is not None and measured > wires["factor"] * recorded:
            found.append(f"{name}: median {measured:.2f} ms, over {wires['factor']}x the recorded {recorded} ms")
    return found


def _role(server: Server) -> str:
    from bench import deploy

    return deploy.role(server.client("iam"))


#: Samples below which the tail column is the maximum, marked with "max".
TAIL_SAMPLES = 100


def _line(row: Row) -> str:
    tail = ""
    if row.p99 is not None:
        # Too few samples for a 99th percentile: the nearest rank is the maximum, and is called that.
        tail = f"{row.p99:.2f}" + (" max" if row.n is not None and row.n < TAIL_SAMPLES else "")
    p99 = f"{tail:>14}"
    n = f"{row.n:>7}" if row.n is not None else f"{'':>7}"
    return f"{row.name:<46}{row.unit:<11}{row.median:>12.2f}{p99}{n}"


def _host() -> dict:
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_mib": total_kib // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Other work on the host skews every figure; the load average before we start says how much there was.
        # (Later readings would count our own frozen environments, which sit in uninterruptible sleep.)
        "load_average_at_start": os.getloadavg(),
    }


if __name__ == "__main__":
    sys.exit(main())
