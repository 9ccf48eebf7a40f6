"""Scale-out: how fast new environments start when a burst of concurrent invokes hits a cold function.

Every request of the burst is sent at the same moment on its own pre-opened connection. The
handler holds its environment for a second, so each request needs an environment of its own.
It returns context.log_stream_name (one stream per environment) and the wall-clock time its
first line ran (the host's realtime clock, which the sandbox shares). An environment has
"started" when its first invoke began. The headline rate is the client's: distinct environments
over the time from the burst's release until the last of them first answered, less the hold.
Beside it, the rate seen from inside: until the last of them began running the handler. Throttled requests (429) are
counted with their Reason, not retried.
"""

from __future__ import annotations

import json
from collections import Counter

from bench import deploy
from bench.loadgen import Target, burst
from bench.stats import summary
from bench.suite import Context, Outcome, Row

#: How long each invoke holds its environment, in seconds.
HOLD_S = 1.0


def run(context: Context) -> Outcome:
    server, size = context.server, context.profile.burst
    with deploy.function(context.lam, context.role, "scaleout", deploy.package(deploy.SLEEPER)) as name:
        released, answers = burst(Target("127.0.0.1", server.port, name, credentials=server.root()), [json.dumps({"sleep": HOLD_S}).encode()] * size)
    first_start: dict[str, float] = {}
    first_response: dict[str, float] = {}
    throttles: Counter = Counter()
    function_errors: Counter = Counter()
    other_failures: Counter = Counter()
    for answer in answers:
        if answer.ok:
            body = json.loads(answer.body)
            first_start[body["stream"]] = min(first_start.get(body["stream"], float("inf")), body["began"] - released)
            first_response[body["stream"]] = min(first_response.get(body["stream"], float("inf")), answer.answered_s)
        elif answer.status == 429:
            throttles[_reason(answer.body)] += 1
        elif answer.status == 200:
            # An environment that failed (e.g. Runtime.InitTimeout when INIT outlasts 10 s): not counted as started.
            function_errors[_error_type(answer.body)] += 1
        else:
            other_failures[answer.status] += 1
    starts_ms = [seconds * 1000 for seconds in first_start.values()]
    all_started_s = max(first_start.values(), default=0.0)
    rate = round(len(first_start) / all_started_s, 1) if all_started_s > 0 else 0.0
    # The same rate seen from the client: when each environment first answered, less the hold.
    all_answered_s = max(first_response.values(), default=0.0) - HOLD_S
    results = {
        "burst": size,
        "hold_s": HOLD_S,
        "environments": len(first_start),
        "all_started_s": round(all_started_s, 3),
        "environments_per_s": rate,
        "environments_per_s_by_first_response": round(len(first_response) / all_answered_s, 1) if all_answered_s > 0 else 0.0,
        "environment_start": summary(starts_ms),
        "response": summary([answer.answered_s * 1000 for answer in answers if answer.ok]),
        "throttled": sum(throttles.values()),
        "throttle_reasons": dict(throttles),
        "function_errors": dict(function_errors),
        "other_failures": {str(status): count for status, count in other_failures.items()},
    }
    start, response = results["environment_start"], results["response"]
    client_rate = results["environments_per_s_by_first_response"]
    rows = [
        Row("scale_out_environments_per_s (client)", "envs/s", client_rate, n=len(first_response)),
        Row("scale_out_environments_per_s (handler start)", "envs/s", rate, n=len(first_start)),
        Row("scale_out_environment_start", "ms", start["median_ms"], start["p99_ms"], start["n"]),
        Row("scale_out_response (incl. 1 s hold)", "ms", response["median_ms"], response["p99_ms"], response["n"]),
        Row("scale_out_throttled", "invokes", results["throttled"], n=size),
        Row("scale_out_function_errors", "invokes", sum(function_errors.values()), n=size),
    ]
    notes = [
        f"scale-out: {len(first_start)} distinct environments from a burst of {size}: {client_rate} environments/s "
        f"seen by the client (first responses, less the {HOLD_S:g} s hold); {rate}/s by when their handlers began "
        f"(all within {all_started_s:.2f} s of the release); {results['throttled']} throttled {dict(throttles) or ''}".rstrip()
    ]
    if function_errors:
        notes.append(f"  scale-out: {sum(function_errors.values())} invokes failed in the function: {dict(function_errors)}")
    if other_failures:
        notes.append(f"  scale-out: other failures by status: {dict(other_failures)}")
    return Outcome({"scale_out": results}, rows, notes)


def _error_type(body: bytes) -> str:
    try:
        return json.loads(body).get("errorType", "unknown")
    except (ValueError, AttributeError):
        return "unparsed"


def _reason(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return "unparsed"
    return document.get("Reason") or document.get("Type") or document.get("message", "unknown")
