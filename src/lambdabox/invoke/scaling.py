"""How fast a function may add execution environments: Lambda's concurrency scaling rate.

Each function (account, region, name) has a token bucket. It holds at most `environments`
tokens, starts full, and refills continuously at `environments / period_s` tokens per
second; unused rate does not accumulate beyond a full bucket (Lambda: 1,000 environments
per 10 s, refilled continuously rather than in one step every 10 s).

Contract:
1. Creating a new environment takes one token (`take`); reusing a warm one takes none.
2. With less than one token left, `take` raises TooManyRequests at once, with Reason
   FunctionInvocationRateLimitExceeded, and changes nothing: the invoke is throttled, not queued.
3. A token is spent once taken, even if the INIT it paid for fails.
4. Runs on the event loop only, so checking and taking need no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdabox.invoke.limits import throttled

#: The Reason of a throttle for scaling faster than the rate. AWS's ThrottleReason enum (botocore's
#: Lambda model) has no value named for the scaling rate; this is its function-level rate limit, and
#: AWS states the scaling rate per function, also as "10,000 requests per second every 10 seconds".
SCALE_RATE_EXCEEDED = "FunctionInvocationRateLimitExceeded"


@dataclass(frozen=True)
class ScaleRate:
    """At most `environments` new environments per `period_s` seconds, per function."""

    environments: int = 1000
    period_s: float = 10.0

    @property
    def per_second(self) -> float:
        return self.environments / self.period_s


class ScaleOutLimiter:
    def __init__(self, rate: ScaleRate, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        #: Function -> (tokens, when they were counted).
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def available(self, function: tuple[str, str, str]) -> float:
        """Tokens the function has now (fractions refill towards the next one)."""
        now = self._clock()
        tokens, counted = self._buckets.get(function, (float(self._rate.environments), now))
        return min(float(self._rate.environments), tokens + (now - counted) * self._rate.per_second)

    def take(self, function: tuple[str, str, str]) -> None:
        """Spend one token for a new environment of `function`, or raise TooManyRequests."""
        tokens = self.available(function)
        if tokens < 1.0:
            raise throttled(SCALE_RATE_EXCEEDED)
        self._buckets[function] = (tokens - 1.0, self._clock())
