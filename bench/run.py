"""Lambdabox benchmarks: start a real server, measure, print a table, write JSON.

    scripts/bench.sh            # full run
    scripts/bench.sh --smoke    # a few iterations of each, seconds long (CI runs this)

Every figure is measured at the client, through the HTTP API, in this one run.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lambdabox.runtime.catalog import RuntimeCatalog  # noqa: E402
from support import Server  # noqa: E402  (the tests' server process, reused)

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)


def package(source: str, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"median_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "n": len(ordered)}


def cold_starts(lam, name: str, runs: int) -> list[float]:
    """First invoke of a new environment: each run changes the configuration, which retires the warm one."""
    samples = []
    for run in range(runs):
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"RUN": str(run)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400})
        began = time.perf_counter()
        response = lam.invoke(FunctionName=name, Payload=b"{}")
        response["Payload"].read()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def warm_invokes(lam, name: str, runs: int) -> list[float]:
    lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def async_throughput(server: Server, name: str, events: int, threads: int = 16) -> dict[str, float]:
    """Events acknowledged per second (each durable before its 202), and processed per second end to end."""
    import concurrent.futures
    import urllib.request

    def send(count: int) -> None:
        client = server.client("lambda")
        for _ in range(count):
            client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, [events // threads] * threads))
    acknowledged = time.perf_counter()
    total = (events // threads) * threads
    url = f"{server.url}/_lambdabox/invocations?function={name}&limit={total}"
    while True:
        with urllib.request.urlopen(url) as response:
            statuses = [item["status"] for item in json.load(response)["invocations"]]
        if statuses.count("succeeded") >= total:
            break
        time.sleep(0.02)
    finished = time.perf_counter()
    return {
        "events": total,
        "ingest_per_s": round(total / (acknowledged - began), 1),
        "end_to_end_per_s": round(total / (finished - began), 1),
    }


def fresh_interpreter(runs: int) -> list[float]:
    """The same handler run by `python3 -c` in a new interpreter: what a process per cold start costs."""
    code = HELLO + "import json; print(json.dumps(handler({}, None)))"
    # The very interpreter Lambdabox runs python3.12 functions with.
    interpreter = RuntimeCatalog().launch("python3.12", Path("/")).argv[0]
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([interpreter, "-c", code], check=True, capture_output=True)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few iterations only")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results")
    arguments = parser.parse_args()
    cold_runs, warm_runs, events = (3, 20, 64) if arguments.smoke else (20, 300, 1000)

    with tempfile.TemporaryDirectory() as directory:
        server = Server(Path(directory) / "data").start()
        try:
            iam, lam = server.client("iam"), server.client("lambda")
            role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
            node = package("exports.handler = async () => ({hello: 'world'});\n", "index.js")
            functions = {
                # 128 MB gets 0.072 vCPU once INIT is over, as on Lambda; 1769 MB gets one full vCPU.
                "python": ("python3.12", "app.handler", package(HELLO), 128),
                "python_1vcpu": ("python3.12", "app.handler", package(HELLO), 1769),
                "nodejs": ("nodejs20.x", "index.handler", node, 128),
                "noop": ("python3.12", "app.handler", package("def handler(event, context):\n    pass\n"), 128),
            }
            for name, (runtime, handler, code, memory) in functions.items():
                lam.create_function(
                    FunctionName=name, Runtime=runtime, Role=role, Handler=handler, Code={"ZipFile": code}, MemorySize=memory
                )
                lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
            results = {
                "cold_start_python_128mb": summary(cold_starts(lam, "python", cold_runs)),
                "cold_start_python_1769mb": summary(cold_starts(lam, "python_1vcpu", cold_runs)),
                "cold_start_nodejs_128mb": summary(cold_starts(lam, "nodejs", cold_runs)),
                "python3_c_same_handler": summary(fresh_interpreter(cold_runs)),
                "warm_invoke_python_128mb": summary(warm_invokes(lam, "python", warm_runs)),
                "warm_invoke_python_1769mb": summary(warm_invokes(lam, "python_1vcpu", warm_runs)),
                "async_noop": async_throughput(server, "noop", events),
            }
        finally:
            server.stop()

    results["cold_start_vs_python3_c"] = round(
        results["cold_start_python_128mb"]["median_ms"] / results["python3_c_same_handler"]["median_ms"], 2
    )
    print(f"{'benchmark':<30}{'median ms':>12}{'p99 ms':>10}{'n':>6}")
    for key, value in results.items():
        if isinstance(value, dict) and "median_ms" in value:
            print(f"{key:<30}{value['median_ms']:>12.2f}{value['p99_ms']:>10.2f}{value['n']:>6}")
    print(f"cold start / python3 -c: {results['cold_start_vs_python3_c']}x")
    flow = results["async_noop"]
    print(f"async, {flow['events']} no-op events: {flow['ingest_per_s']} acknowledged/s (fsync'd), "
          f"{flow['end_to_end_per_s']} processed/s end to end")
    arguments.output.mkdir(parents=True, exist_ok=True)
    target = arguments.output / f"bench-{time.strftime('%Y%m%dT%H%M%S')}{'-smoke' if arguments.smoke else ''}.json"
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
