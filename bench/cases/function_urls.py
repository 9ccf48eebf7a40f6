"""A hello-world through its function URL against the same function through Invoke, side by side in one run.

One Python hello-world at 1,769 MB (one full vCPU, so no CPU quota throttles it) with a public (AuthType NONE) URL.
Both paths are driven by the same raw keep-alive client (bench.http_client): the URL with an unsigned
`GET /` whose Host is the URL's host name, Invoke with a SigV4-signed POST, as the throughput case sends.
- Sequential: one connection per path, requests alternating URL and Invoke, so drift on the host hits both alike.
  Every sample must answer 200 with the function's `{"hello": "world"}`, or the run fails.
- Concurrent: a closed loop at the profile's concurrency (32) against each, rounds alternating, after bursts
  have started one environment per connection. Any request that fails fails the run.
Warm only: a URL's answer carries no log tail, so a cold sample could not prove it was cold here; the latency case
measures cold starts.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

from bench import deploy, http_client, sandboxes
from bench.cases.throughput import ROUND_WARMUP_S, _figures, _prime
from bench.loadgen import LoadResult, Target, closed_loop
from bench.stats import summary
from bench.suite import Context, Outcome, Row

#: Client processes for the closed loops: one raw client keeps 32 connections busy (see the throughput case).
PROCESSES = 1
#: What the hello-world answers on both paths.
HELLO_ANSWER = {"hello": "world"}


def run(context: Context) -> Outcome:
    server, lam, profile = context.server, context.lam, context.profile
    concurrency = profile.connections
    code = deploy.package(deploy.HELLO)
    with deploy.function(lam, context.role, "url_hello", code, memory_mb=deploy.ONE_VCPU_MB, reserved=2 * concurrency) as name:
        url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        # AuthType NONE: the resource policy must allow both actions to everyone, as AWS requires.
        lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                           FunctionUrlAuthType="NONE")
        lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                           InvokedViaFunctionUrl=True)
        via_url = Target("127.0.0.1", server.port, name, url_host=urlparse(url).netloc)
        via_invoke = Target("127.0.0.1", server.port, name, credentials=server.root())
        url_samples, invoke_samples = _sequential(via_url, via_invoke, profile.warm_runs)
        _prime(via_invoke, server.pid, concurrency)
        environments = len(sandboxes.environments(server.pid, f"{name}-"))
        loops: dict[str, list[LoadResult]] = {"url": [], "invoke": []}
        for _ in range(profile.rounds):
            for label, target in (("url", via_url), ("invoke", via_invoke)):
                loops[label].append(closed_loop(target, concurrency, PROCESSES, ROUND_WARMUP_S, profile.window_s))
    url_loop, invoke_loop = _figures(loops["url"]), _figures(loops["invoke"])
    for label, figures in (("URL", url_loop), ("Invoke", invoke_loop)):
        if figures["failed"]:
            raise RuntimeError(f"function URL case: {figures['failed']} {label} requests failed, statuses "
                               f"{figures['statuses']}: {figures['error_sample']}")
    ratio = round(url_loop["invokes_per_s"] / invoke_loop["invokes_per_s"], 3) if invoke_loop["invokes_per_s"] else 0.0
    results = {
        "warm_url_get_python_1769mb": summary(url_samples),
        "warm_url_invoke_same_function": summary(invoke_samples),
        "function_url_throughput": {
            "settings": {"concurrency": concurrency, "window_s": profile.window_s, "rounds": profile.rounds,
                         "memory_mb": deploy.ONE_VCPU_MB, "environments": environments,
                         "client": f"{PROCESSES} process x {concurrency} threads, one keep-alive raw HTTP connection each"},
            "url": url_loop,
            "invoke": invoke_loop,
            "url_vs_invoke": ratio,
        },
    }
    sequential = [(key, results[key]) for key in ("warm_url_get_python_1769mb", "warm_url_invoke_same_function")]
    rows = [Row(key, "ms", value["median_ms"], value["p99_ms"], value["n"]) for key, value in sequential]
    rows += [
        Row(f"url_throughput_c{concurrency}", "requests/s", url_loop["invokes_per_s"], n=url_loop["requests"]),
        Row(f"url_invoke_throughput_c{concurrency}", "invokes/s", invoke_loop["invokes_per_s"], n=invoke_loop["requests"]),
        Row("url_vs_invoke_throughput", "%", round(ratio * 100, 1)),
        Row(f"url_c{concurrency}_latency", "ms", url_loop["latency"]["median_ms"], url_loop["latency"]["p99_ms"],
            url_loop["latency"]["n"]),
        Row(f"url_invoke_c{concurrency}_latency", "ms", invoke_loop["latency"]["median_ms"],
            invoke_loop["latency"]["p99_ms"], invoke_loop["latency"]["n"]),
    ]
    url_median, invoke_median = results["warm_url_get_python_1769mb"]["median_ms"], results["warm_url_invoke_same_function"]["median_ms"]
    notes = [
        f"function URL vs Invoke, one hello-world ({deploy.ONE_VCPU_MB} MB): sequential median {url_median} ms vs "
        f"{invoke_median} ms; at c={concurrency} {url_loop['invokes_per_s']}/s vs {invoke_loop['invokes_per_s']}/s "
        f"({ratio:.1%}; median of {profile.rounds} round(s) of {profile.window_s:g} s, {environments} environments)",
    ]
    return Outcome(results, rows, notes)


def _sequential(via_url: Target, via_invoke: Target, runs: int) -> tuple[list[float], list[float]]:
    """Warm latencies in ms of `runs` requests on each path, alternating, each on its own keep-alive connection."""
    samples: dict[str, list[float]] = {"url": [], "invoke": []}
    paths = (("url", via_url), ("invoke", via_invoke))
    connections = {label: http_client.Connection(target.host, target.port) for label, target in paths}
    requests = {label: target.request() for label, target in paths}
    try:
        # One untimed request on each: the environment and the connections are warm before the first sample.
        for label, _ in paths:
            _checked(label, *connections[label].exchange(requests[label]))
        for _ in range(runs):
            for label, _ in paths:
                began = time.perf_counter()
                answer = connections[label].exchange(requests[label])
                samples[label].append((time.perf_counter() - began) * 1000)
                _checked(label, *answer)
    finally:
        for connection in connections.values():
            connection.close()
    return samples["url"], samples["invoke"]


def _checked(label: str, status: int, headers: dict[str, str], body: bytes) -> None:
    """Raise unless the request ran the function and got its answer."""
    if status != 200 or "x-amz-function-error" in headers:
        raise RuntimeError(f"function URL case: {label} answered {status}: {body[:300]!r}")
    if json.loads(body) != HELLO_ANSWER:
        raise RuntimeError(f"function URL case: {label} answered {body[:300]!r}, not the function's answer")
