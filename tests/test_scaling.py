"""Scaling: the per-function scale-out rate, and the memory cap with least-recently-used eviction."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import pytest

from lambdabox.invoke.scaling import SCALE_RATE_EXCEEDED, ScaleOutLimiter, ScaleRate
from lambdabox.model.errors import TooManyRequests
from support import Server, sandbox_processes, wait_provisioned
from test_throttling import assert_throttled, burst, deploy_on

@pytest.fixture
def function_on(unique):
    return lambda server, **config: deploy_on(server, unique("fn"), **config)


# -- the token bucket, on a clock of our own -----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_and_refills_continuously():
    clock = Clock()
    limiter = ScaleOutLimiter(ScaleRate(environments=4, period_s=2.0), clock)
    function = ("000000000000", "us-east-1", "fn")
    for _ in range(4):
        limiter.take(function)
    with pytest.raises(TooManyRequests) as raised:
        limiter.take(function)
    assert raised.value.extra == {"Reason": SCALE_RATE_EXCEEDED}
    # 2 tokens a second, refilled as time passes rather than all at once after the period.
    clock.now += 0.4
    with pytest.raises(TooManyRequests):
        limiter.take(function)
    clock.now += 0.1
    limiter.take(function)
    assert limiter.available(function) == pytest.approx(0.0)
    # Unused rate does not pile up past a full bucket.
    clock.now += 60
    assert limiter.available(function) == 4


def test_each_function_has_its_own_bucket():
    limiter = ScaleOutLimiter(ScaleRate(environments=1, period_s=10.0), Clock())
    limiter.take(("000000000000", "us-east-1", "a"))
    limiter.take(("000000000000", "us-east-1", "b"))
    limiter.take(("111111111111", "us-east-1", "a"))
    with pytest.raises(TooManyRequests):
        limiter.take(("000000000000", "us-east-1", "a"))


@pytest.mark.parametrize(
    "option, value",
    [("--scale-rate", "fast"), ("--scale-rate", "0/10"), ("--scale-rate", "10/0"), ("--memory-cap", "lots"),
     ("--memory-cap", "64")],
)
def test_bad_scaling_options_are_refused(tmp_path, option, value):
    done = subprocess.run(
        [sys.executable, "-m", "lambdabox", "server", "--data-dir", str(tmp_path), "--port", "1", option, value],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0
    assert option in done.stderr


# -- the rate, on a real server -------------------------------------------------------------


def streams(outcomes) -> set[str]:
    return {outcome.response["Payload"]["stream"] for outcome in outcomes if outcome.status == 200}


def init_duration(outcome) -> bool:
    """Whether the invoke ran INIT (a cold start): its REPORT line has an Init Duration."""
    return "Init Duration:" in base64.b64decode(outcome.response["LogResult"]).decode()


@pytest.fixture
def slow_scaling(tmp_path):
    # Two new environments at once, then one every 6 seconds: slow enough that a busy host's delays
    # don't move a check across a refill.
    started = Server(tmp_path / "data", extra_args=["--scale-rate", "2/12"]).start()
    yield started
    started.stop()


def test_scale_out_is_limited_to_the_rate(slow_scaling, function_on):
    name = function_on(slow_scaling)

    began = time.monotonic()
    first = burst(slow_scaling, [(name, {"sleep": 1}, 0.0)] * 6)
    ran = [outcome for outcome in first if outcome.status == 200]
    assert len(ran) == 2 and len(streams(ran)) == 2 and all(init_duration(outcome) for outcome in ran)
    for outcome in first:
        if outcome.status != 200:
            assert_throttled(outcome, SCALE_RATE_EXCEEDED)
            assert outcome.seconds < 1.0

    # Warm environments take no token: two at a time still run.
    again = burst(slow_scaling, [(name, {"sleep": 0.3}, 0.0)] * 2)
    assert [outcome.status for outcome in again] == [200, 200]
    assert streams(again) == streams(ran) and not any(init_duration(outcome) for outcome in again)

    # Between 6 and 12 s after the burst one token has refilled: a third environment, not a fourth.
    time.sleep(max(0.0, began + 6.5 - time.monotonic()))
    later = burst(slow_scaling, [(name, {"sleep": 1}, 0.0)] * 4)
    assert time.monotonic() - began < 11, "the host was too slow for the window this test needs"
    assert sorted(outcome.status for outcome in later) == [200, 200, 200, 429]
    assert len(streams(later) - streams(ran)) == 1


def test_other_functions_scale_on_their_own(slow_scaling, function_on):
    first, second = function_on(slow_scaling), function_on(slow_scaling)
    outcomes = burst(slow_scaling, [(first, {"sleep": 1}, 0.0)] * 3 + [(second, {"sleep": 1}, 0.0)] * 2)
    assert sorted(outcome.status for outcome in outcomes[:3]) == [200, 200, 429]
    assert [outcome.status for outcome in outcomes[3:]] == [200, 200]


# -- the memory cap -------------------------------------------------------------------------


def _count(server: Server) -> int:
    return len(sandbox_processes(server.pid))


@pytest.fixture
def capped(tmp_path):
    started = Server(tmp_path / "data", extra_args=["--memory-cap", "512"]).start()
    yield started
    started.stop()


@pytest.mark.needs_root
def test_memory_cap_evicts_the_least_recently_used_then_throttles(capped, function_on):
    a, b = function_on(capped, MemorySize=256), function_on(capped, MemorySize=256)

    # Two environments of A, both idle; the one used last is `recent`.
    [first, second] = burst(capped, [(a, {"sleep": 1}, 0.0)] * 2)
    assert first.status == second.status == 200 and len(streams([first, second])) == 2
    [reused] = burst(capped, [(a, {}, 0.0)])
    recent = reused.response["Payload"]["stream"]
    [least_recent] = streams([first, second]) - {recent}
    assert _count(capped) == 2

    # B needs 256 MB more than the cap allows: A's least recently used environment goes.
    [of_b] = burst(capped, [(b, {}, 0.0)])
    assert of_b.status == 200 and init_duration(of_b)
    assert _count(capped) == 2
    [warm] = burst(capped, [(a, {}, 0.0)])
    assert warm.response["Payload"]["stream"] == recent and not init_duration(warm)

    # Two busy environments of A fill the cap (B's idle one makes room for the second, which
    # starts cold); a third invoke finds nothing idle to shut down and is throttled.
    outcomes = burst(capped, [(a, {"sleep": 1.5}, 0.0), (a, {"sleep": 1.5}, 0.0), (b, {}, 0.7)])
    assert [outcome.status for outcome in outcomes] == [200, 200, 429]
    assert_throttled(outcomes[2], "ConcurrentInvocationLimitExceeded")
    assert sorted(init_duration(outcome) for outcome in outcomes[:2]) == [False, True]
    assert recent in streams(outcomes[:2]) and least_recent not in streams(outcomes[:2])
    assert _count(capped) == 2

    # Once they are idle again, B runs (cold: its environment was shut down for A).
    [of_b] = burst(capped, [(b, {}, 0.0)])
    assert of_b.status == 200 and init_duration(of_b)
    assert _count(capped) == 2


def test_a_function_larger_than_the_cap_is_throttled(capped, function_on):
    name = function_on(capped, MemorySize=1024)
    [outcome] = burst(capped, [(name, {}, 0.0)])
    assert_throttled(outcome, "ConcurrentInvocationLimitExceeded")


@pytest.mark.needs_root
def test_provisioned_environments_count_against_the_memory_cap(capped, function_on):
    lam = capped.client("lambda")
    a, b = function_on(capped, MemorySize=256), function_on(capped, MemorySize=256)
    # B fills the 512 MB cap with two environments, idle afterwards.
    assert [outcome.status for outcome in burst(capped, [(b, {"sleep": 1}, 0.0)] * 2)] == [200, 200]
    assert _count(capped) == 2

    # A provisioned environment of A needs room: one of B's idle environments is shut down for it.
    version = lam.publish_version(FunctionName=a)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=a, Qualifier=version, ProvisionedConcurrentExecutions=1)
    wait_provisioned(lam, a, version)
    assert _count(capped) == 2

    # It stays counted: B has room for one environment now, and a second one at once is throttled.
    outcomes = burst(capped, [(b, {"sleep": 1.5}, 0.0), (b, {"sleep": 1.5}, 0.5)])
    assert [outcome.status for outcome in outcomes] == [200, 429]
    assert_throttled(outcomes[1], "ConcurrentInvocationLimitExceeded")
