"""Load for the benchmarks: a closed loop over many connections, and a one-shot burst.

`closed_loop` starts client *processes* (this file run as a script), each with threads that
hold one keep-alive connection (or one boto3 client) apiece and send the next request as
soon as the last one is answered. Processes, not only threads, so the client is not held to
one core by its own GIL. All processes warm up together, then measure the same window.

`burst` opens one connection per request first, then releases every request at once from
its own thread and records when each was answered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root holds the `bench` package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_client  # noqa: E402

#: How long a client may take to create its connections or boto3 clients, in seconds.
READY_TIMEOUT_S = 60.0
#: Kinds of answer besides HTTP statuses.
FUNCTION_ERROR = "function error"
NO_ANSWER = "no answer"
#: How far ahead of "now" the common start is set, so every process is already waiting, in seconds.
START_MARGIN_S = 0.2


@dataclass(frozen=True)
class Target:
    """Where the load goes: an endpoint, the function name in the Invoke path, and the (key, secret) its
    requests are signed with (None: unsigned, for the bare ASGI baseline). With `url_host` (a function URL's
    host name and port, of an AuthType NONE URL) each request is instead an unsigned GET of "/" on that URL, sent
    to the same endpoint."""

    host: str
    port: int
    function: str
    payload: bytes = b"{}"
    credentials: tuple[str, str] | None = None
    url_host: str | None = None

    @property
    def path(self) -> str:
        return "/" if self.url_host else f"/2015-03-31/functions/{self.function}/invocations"

    def request(self, payload: bytes | None = None) -> bytes:
        """The bytes of one Invoke, signed now: a signature stays valid for the server's 15 minutes of skew, so
        one request may be sent again and again for as long as any benchmark runs. (A URL's: one GET.)"""
        if self.url_host is not None:
            return http_client.get(self.url_host, self.path)
        body = self.payload if payload is None else payload
        headers = {}
        if self.credentials is not None:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            signing = AWSRequest(method="POST", url=f"http://{self.host}:{self.port}{self.path}", data=body,
                                 headers={"Content-Type": "application/json"})
            SigV4Auth(Credentials(*self.credentials), "lambda", "us-east-1").add_auth(signing)
            headers = {name: value for name, value in signing.headers.items() if name.lower() != "content-type"}
        return http_client.post(self.host, self.port, self.path, body, headers)


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    #: Completed requests in each whole second of the window.
    per_second: list[int] = field(default_factory=list)
    #: Answers by kind: the HTTP status ("200", "429", ...), "function error" (a 200 with
    #: X-Amz-Function-Error) or "no answer" (the connection failed).
    statuses: Counter = field(default_factory=Counter)
    #: CPU time the client processes used during the window, in seconds.
    client_cpu_s: float = 0.0
    #: What the probe measured across the window (e.g. server CPU seconds), if one was given.
    probed: dict[str, float] = field(default_factory=dict)
    error_sample: str = ""

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def closed_loop(
    target: Target,
    connections: int,
    processes: int,
    warmup_s: float,
    duration_s: float,
    client: str = "raw",
    probe: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """Keep `connections` requests in flight for warmup_s + duration_s; measure the last duration_s.

    `client` is "raw" (http_client) or "boto3" (one boto3 Lambda client per thread).
    `probe()` returns cumulative counters, read at the window's start and end; the result
    holds their differences.
    """
    shares = [connections // processes + (1 if index < connections % processes else 0) for index in range(processes)]
    spec = {"host": target.host, "port": target.port, "function": target.function, "payload": target.payload.decode(),
            "credentials": target.credentials, "url_host": target.url_host}
    children = []
    try:
        for share in shares:
            job = {**spec, "threads": share, "client": client, "warmup_s": warmup_s, "duration_s": duration_s}
            children.append(
                subprocess.Popen(
                    [sys.executable, __file__, json.dumps(job)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a load client did not start")
        start = time.time() + START_MARGIN_S
        for child in children:
            child.stdin.write(f"{start}\n")
            child.stdin.flush()
        before = _at(start + warmup_s, probe)
        after = _at(start + warmup_s + duration_s, probe)
        reports = [json.loads(child.communicate(timeout=warmup_s + duration_s + READY_TIMEOUT_S)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    result = LoadResult(seconds=duration_s, per_second=[0] * int(duration_s))
    for report in reports:
        result.requests += report["requests"]
        result.latencies_ms += report["latencies_ms"]
        result.statuses.update(report["statuses"])
        result.client_cpu_s += report["cpu_s"]
        result.per_second = [a + b for a, b in zip(result.per_second, report["per_second"])]
        result.error_sample = result.error_sample or report["error_sample"]
    result.probed = {key: after[key] - before[key] for key in before}
    return result


def _at(moment: float, probe: Callable[[], dict[str, float]] | None) -> dict[str, float]:
    time.sleep(max(0.0, moment - time.time()))
    return probe() if probe else {}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Wall-clock seconds from the burst's release until the request was sent, and answered.
    sent_s: float
    answered_s: float

    @property
    def ok(self) -> bool:
        """Answered 200 without a function error."""
        return self.status == 200 and "x-amz-function-error" not in self.headers


def burst(target: Target, payloads: list[bytes], timeout_s: float = 120.0) -> tuple[float, list[Answer]]:
    """Send one request per payload, all at once, each on its own fresh connection.

    Returns the wall-clock time of the release (time.time()) and the answers in payload order;
    a request that failed at the socket is an Answer with status 0 and the error as its body.
    """
    answers: list[Answer | None] = [None] * len(payloads)
    released: list[float] = []
    gate = threading.Barrier(len(payloads) + 1, action=lambda: released.append(time.time()))

    def one(index: int, payload: bytes) -> None:
        request = target.request(payload)
        try:
            connection = http_client.Connection(target.host, target.port, timeout=timeout_s)
        except OSError:
            gate.abort()
            raise
        try:
            gate.wait()
            sent = time.time()
            try:
                status, headers, body = connection.exchange(request)
            except OSError as error:
                status, headers, body = 0, {}, repr(error).encode()
            answers[index] = Answer(status, headers, body, sent - released[0], time.time() - released[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(index, payload), daemon=True) for index, payload in enumerate(payloads)]
    for thread in threads:
        thread.start()
    gate.wait(timeout=READY_TIMEOUT_S)
    for thread in threads:
        thread.join(timeout_s + 10)
    missing = sum(answer is None for answer in answers)
    if missing:
        raise RuntimeError(f"{missing} of {len(payloads)} burst requests got no answer")
    return released[0], answers  # type: ignore[return-value]


# --- the client process -------------------------------------------------------------------


def _client_process(job: dict) -> dict:
    credentials = tuple(job["credentials"]) if job["credentials"] else None
    target = Target(job["host"], job["port"], job["function"], job["payload"].encode(), credentials, job.get("url_host"))
    senders = [_sender(target, job["client"]) for _ in range(job["threads"])]
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    window_start, window_end = start + job["warmup_s"], start + job["warmup_s"] + job["duration_s"]
    # One list and counter per thread: nothing is shared until the threads are joined.
    latencies: list[list[float]] = [[] for _ in senders]
    completions: list[list[float]] = [[] for _ in senders]
    statuses: list[Counter] = [Counter() for _ in senders]
    errors: list[list[str]] = [[] for _ in senders]

    def loop(index: int) -> None:
        send = senders[index]
        time.sleep(max(0.0, start - time.time()))
        while (now := time.time()) < window_end:
            began = time.perf_counter()
            status, error = send()
            elapsed = time.perf_counter() - began
            # A request counts in the window it was answered in.
            if window_start <= now + elapsed < window_end:
                latencies[index].append(elapsed * 1000)
                completions[index].append(now + elapsed - window_start)
                statuses[index][status] += 1
                if error and not errors[index]:
                    errors[index].append(error)

    threads = [threading.Thread(target=loop, args=(index,)) for index in range(len(senders))]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, window_start - time.time()))
    cpu_before = time.process_time()
    time.sleep(max(0.0, window_end - time.time()))
    cpu_after = time.process_time()
    for thread in threads:
        thread.join()
    per_second = [0] * int(job["duration_s"])
    for offsets in completions:
        for offset in offsets:
            if int(offset) < len(per_second):
                per_second[int(offset)] += 1
    flat = [latency for part in latencies for latency in part]
    return {
        "requests": len(flat),
        "latencies_ms": flat,
        "per_second": per_second,
        "statuses": dict(sum(statuses, Counter())),
        "cpu_s": cpu_after - cpu_before,
        "error_sample": next((found[0] for found in errors if found), ""),
    }


def _sender(target: Target, client: str) -> Callable[[], tuple[str, str]]:
    """A function that sends one request and returns (kind of answer, error text or "")."""
    if client == "raw":
        connections = [http_client.Connection(target.host, target.port)]
        request = target.request()

        def send_raw() -> tuple[str, str]:
            try:
                status, headers, body = connections[0].exchange(request)
            except OSError as error:
                # The next request opens a new connection.
                connections[0].close()
                connections[0] = http_client.Connection(target.host, target.port)
                return NO_ANSWER, repr(error)
            if status == 200 and "x-amz-function-error" not in headers:
                return "200", ""
            return FUNCTION_ERROR if status == 200 else str(status), body[:300].decode("utf-8", "replace")

        return send_raw
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    lam = boto3.client(
        "lambda",
        endpoint_url=f"http://{target.host}:{target.port}",
        region_name="us-east-1",
        aws_access_key_id=target.credentials[0] if target.credentials else "unsigned",
        aws_secret_access_key=target.credentials[1] if target.credentials else "unsigned",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
    )

    def send_boto3() -> tuple[str, str]:
        try:
            response = lam.invoke(FunctionName=target.function, Payload=target.payload)
            payload = response["Payload"].read()
        except botocore.exceptions.ClientError as error:
            return str(error.response["ResponseMetadata"]["HTTPStatusCode"]), str(error)[:300]
        except botocore.exceptions.BotoCoreError as error:
            return NO_ANSWER, str(error)[:300]
        if response.get("FunctionError"):
            return FUNCTION_ERROR, payload[:300].decode("utf-8", "replace")
        return str(response["StatusCode"]), ""

    return send_boto3


if __name__ == "__main__":
    print(json.dumps(_client_process(json.loads(sys.argv[1]))))
