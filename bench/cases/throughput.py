"""Warm throughput: invokes per second at concurrency 32, against a bare ASGI app on the same stack.

Both servers are driven by the same client with the same request bytes: 32 threads in one
process, each with its own keep-alive connection (bench.http_client), each sending the next
Invoke as soon as the last is answered. That client costs about 0.1 ms of CPU per request, so
on a 2-core host it leaves the server the rest of the machine; boto3 costs over 1 ms and would
measure itself, so boto3 runs once more on both targets only as a labelled reference.

The baseline is bench/hello_asgi.py, a bare ASGI callable served by uvicorn with the settings
`lambdabox server` uses, in its own process on a free port. The function is a hello-world
Python handler at 1,769 MB (one full vCPU per environment, so no CPU quota throttles it) with
reserved concurrency of twice the client concurrency, well within the default account limit
of 1,000. Before measuring, concurrent bursts start 32 environments, so no cold start falls in
a measured window. Rounds alternate baseline and Lambdabox, each after a short warm-up of its
own; the figure is the median of the rounds.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import deploy, sandboxes
from bench.loadgen import LoadResult, Target, burst, closed_loop
from bench.stats import summary
from bench.suite import Context, Outcome, Row
from support import free_port  # noqa: E402  (tests/support.py, on the path run.py sets)

HELLO_ASGI = Path(__file__).resolve().parent.parent / "hello_asgi.py"
#: Client processes for the raw client: one is enough (about a quarter of a core at the baseline's rate).
RAW_PROCESSES = 1
#: Client processes for boto3, whose per-request CPU makes it client-bound: every core.
BOTO3_PROCESSES = os.cpu_count() or 1
#: Warm-up of every round, in seconds: the connections are new, the environments not.
ROUND_WARMUP_S = 1.0
#: Bursts tried to start one environment per connection before giving up.
PRIME_BURSTS = 5
#: How long the baseline server may take to listen, in seconds.
START_TIMEOUT_S = 20.0


def run(context: Context) -> Outcome:
    profile = context.profile
    concurrency = profile.connections
    settings = {
        "concurrency": concurrency,
        "client": f"{RAW_PROCESSES} process x {concurrency} threads, one keep-alive raw HTTP connection each",
        "memory_mb": deploy.ONE_VCPU_MB,
        "reserved_concurrency": 2 * concurrency,
        "account_concurrency": "server default (1000)",
        "window_s": profile.window_s,
        "rounds": profile.rounds,
        "warmup_s": ROUND_WARMUP_S,
        "uvicorn": _stack(),
    }
    raw, boto, environments = _measure(context)
    ours, theirs = _figures(raw["lambdabox"]), _figures(raw["bare_asgi"])
    ours["environments"] = environments
    boto_ours, boto_theirs = _figures(boto["lambdabox"]), _figures(boto["bare_asgi"])
    ratio, boto_ratio = _ratio(ours, theirs), _ratio(boto_ours, boto_theirs)
    results = {
        "settings": settings,
        "lambdabox": ours,
        "bare_asgi": theirs,
        "ratio": ratio,
        "boto3_reference": {"lambdabox": boto_ours, "bare_asgi": boto_theirs, "ratio": boto_ratio},
    }
    rows = [
        Row("warm_throughput_lambdabox_c32", "invokes/s", ours["invokes_per_s"], n=ours["requests"]),
        Row("warm_throughput_bare_asgi_c32", "requests/s", theirs["invokes_per_s"], n=theirs["requests"]),
        Row("warm_throughput_ratio", "%", round(ratio * 100, 1)),
        Row("warm_c32_latency_lambdabox", "ms", *_latency(ours)),
        Row("warm_c32_latency_bare_asgi", "ms", *_latency(theirs)),
        Row("boto3_c32_lambdabox (client-bound)", "invokes/s", boto_ours["invokes_per_s"], n=boto_ours["requests"]),
        Row("boto3_c32_bare_asgi (client-bound)", "requests/s", boto_theirs["invokes_per_s"], n=boto_theirs["requests"]),
    ]
    ours_cpu, theirs_cpu = ours["cpu_ms_per_request"], theirs["cpu_ms_per_request"]
    notes = [
        f"warm throughput at c={concurrency}: Lambdabox {ours['invokes_per_s']}/s is {ratio:.1%} of the bare ASGI app's "
        f"{theirs['invokes_per_s']}/s (median of {profile.rounds} round(s) of {profile.window_s:g} s; {deploy.ONE_VCPU_MB} MB, "
        f"reserved concurrency {2 * concurrency}, {environments} environments; uvicorn {settings['uvicorn']})",
        f"  CPU ms per request: Lambdabox server {ours_cpu['server']}, sandboxes {ours_cpu['sandboxes']}, "
        f"client {ours_cpu['client']}; bare ASGI server {theirs_cpu['server']}, client {theirs_cpu['client']}; "
        f"host busy {ours['host_busy_fraction']:.0%} vs {theirs['host_busy_fraction']:.0%} of {os.cpu_count()} CPUs",
        f"  boto3 (each thread its own client, {BOTO3_PROCESSES} processes) is client-bound: "
        f"{boto_ours['cpu_ms_per_request']['client']} ms of client CPU per invoke against Lambdabox, "
        f"{boto_theirs['cpu_ms_per_request']['client']} ms against the bare app; ratio {boto_ratio:.1%}",
    ]
    for label, figures in (("Lambdabox", ours), ("bare ASGI", theirs), ("boto3 Lambdabox", boto_ours)):
        if figures["failed"]:
            notes.append(f"  {label}: {figures['failed']} requests failed, statuses {figures['statuses']}: {figures['error_sample']}")
    return Outcome({"warm_throughput": results}, rows, notes)


def _measure(context: Context) -> tuple[dict[str, list[LoadResult]], dict[str, list[LoadResult]], int]:
    """Raw-client rounds and one boto3 round against each target, and how many environments served."""
    server, profile = context.server, context.profile
    concurrency = profile.connections
    code = deploy.package(deploy.HELLO)
    raw: dict[str, list[LoadResult]] = {"lambdabox": [], "bare_asgi": []}
    boto: dict[str, list[LoadResult]] = {}
    with deploy.function(context.lam, context.role, "throughput", code, memory_mb=deploy.ONE_VCPU_MB, reserved=2 * concurrency) as name:
        with hello_asgi() as baseline:
            ours = Target("127.0.0.1", server.port, name, credentials=server.root())
            theirs = Target("127.0.0.1", baseline.port, name)

            def ours_probe() -> dict[str, float]:
                groups = sandboxes.environments(server.pid, f"{name}-").values()
                return {
                    "server_cpu_s": sandboxes.cpu_seconds(server.pid),
                    "sandbox_cpu_s": sum(sandboxes.cpu_seconds(pid) for group in groups for pid in sandboxes.pids(group)),
                    "host_busy_s": sandboxes.busy_cpu_seconds(),
                }

            def theirs_probe() -> dict[str, float]:
                return {"server_cpu_s": sandboxes.cpu_seconds(baseline.pid), "host_busy_s": sandboxes.busy_cpu_seconds()}

            _prime(ours, server.pid, concurrency)
            for _ in range(profile.rounds):
                for label, target, probe in (("bare_asgi", theirs, theirs_probe), ("lambdabox", ours, ours_probe)):
                    raw[label].append(closed_loop(target, concurrency, RAW_PROCESSES, ROUND_WARMUP_S, profile.window_s, probe=probe))
            environments = len(sandboxes.environments(server.pid, f"{name}-"))
            for label, target, probe in (("bare_asgi", theirs, theirs_probe), ("lambdabox", ours, ours_probe)):
                boto[label] = [closed_loop(target, concurrency, BOTO3_PROCESSES, ROUND_WARMUP_S, profile.window_s, "boto3", probe)]
    return raw, boto, environments


def _ratio(ours: dict, theirs: dict) -> float:
    return round(ours["invokes_per_s"] / theirs["invokes_per_s"], 3) if theirs["invokes_per_s"] else 0.0


def _prime(target: Target, server_pid: int, count: int) -> None:
    """Start `count` environments of the target's function with bursts of concurrent invokes.

    A burst starts a new environment for every request that finds no idle one; a request
    that does reuse one leaves a shortfall, which the next burst makes up.
    """
    for _ in range(PRIME_BURSTS):
        burst(target, [target.payload] * count)
        if len(sandboxes.environments(server_pid, f"{target.function}-")) >= count:
            return


def _figures(rounds: list[LoadResult]) -> dict:
    """Median of the rounds' rates, latency over all rounds, CPU per request over all rounds."""
    requests = sum(result.requests for result in rounds)
    ok = sum(result.statuses.get("200", 0) for result in rounds)
    seconds = sum(result.seconds for result in rounds)
    latencies = [latency for result in rounds for latency in result.latencies_ms]
    windows = [count for result in rounds for count in result.per_second]
    statuses: dict[str, int] = {}
    for result in rounds:
        for status, count in result.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count

    def per_request(key: str) -> float:
        return round(sum(result.probed.get(key, 0.0) for result in rounds) * 1000 / requests, 3) if requests else 0.0

    return {
        # Only successful requests count towards the rate; failures are reported beside it.
        "invokes_per_s": round(statistics.median(result.statuses.get("200", 0) / result.seconds for result in rounds), 1),
        "rounds_per_s": [round(result.statuses.get("200", 0) / result.seconds, 1) for result in rounds],
        "one_second_windows_median": statistics.median(windows) if windows else 0,
        "requests": requests,
        "failed": requests - ok,
        "statuses": statuses,
        "latency": summary(latencies),
        "cpu_ms_per_request": {
            "client": round(sum(result.client_cpu_s for result in rounds) * 1000 / requests, 3) if requests else 0.0,
            "server": per_request("server_cpu_s"),
            "sandboxes": per_request("sandbox_cpu_s"),
        },
        "host_busy_fraction": round(sum(result.probed.get("host_busy_s", 0.0) for result in rounds) / seconds / (os.cpu_count() or 1), 3),
        "error_sample": next((result.error_sample for result in rounds if result.error_sample), ""),
    }


def _latency(figures: dict) -> tuple[float, float, int]:
    latency = figures["latency"]
    return latency["median_ms"], latency["p99_ms"], latency["n"]


def _stack() -> str:
    """What uvicorn's "auto" settings pick here: uvloop and httptools when installed, else asyncio and h11."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"loop={loop} http={http}"


@dataclass(frozen=True)
class Baseline:
    pid: int
    port: int


@contextmanager
def hello_asgi() -> Iterator[Baseline]:
    """The baseline app in its own process on a free port, for the body of the `with`."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, str(HELLO_ASGI), str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_listening(process, port, log)
            yield Baseline(process.pid, port)
        finally:
            # 1. Ask uvicorn to shut down; 2. kill it if it has not within the deadline.
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(process: subprocess.Popen, port: int, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the hello-world ASGI app exited: {log.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the hello-world ASGI app did not start listening")
