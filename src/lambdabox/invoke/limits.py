"""Concurrency leases: how many invocations may be in flight, per function and per account.

A function with reserved concurrency may run at most that many at once, and 0 throttles
it entirely. Functions without a reservation share the account's unreserved pool: the
account limit less every reservation. Over either, Lambda answers 429
TooManyRequestsException with the Reason saying which limit bit, and no Retry-After
header: the model allows one (`retryAfterSeconds`), but AWS's recorded concurrency
throttles carry none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from lambdabox.model.errors import TooManyRequests

RESERVED_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_EXCEEDED = "ConcurrentInvocationLimitExceeded"


def throttled(reason: str) -> TooManyRequests:
    return TooManyRequests("Rate Exceeded.", Reason=reason)


class ConcurrencyLimits:
    def __init__(self, account_limit: int) -> None:
        self._account_limit = account_limit
        self._by_function: Counter[tuple[str, str, str]] = Counter()
        self._unreserved: Counter[str] = Counter()

    def in_flight(self, account: str) -> int:
        return sum(count for (owner, _, _), count in self._by_function.items() if owner == account)

    @contextmanager
    def lease(self, account: str, region: str, name: str, reserved: int | None, reserved_total: int) -> Iterator[None]:
        """Hold one unit of concurrency for the body of the `with`, or raise TooManyRequests at once.

        Runs on the event loop only, so checking and counting need no lock.
        """
        key = (account, region, name)
        if reserved is not None:
            if self._by_function[key] >= reserved:
                raise throttled(RESERVED_EXCEEDED)
        elif self._unreserved[account] >= self._account_limit - reserved_total:
            raise throttled(ACCOUNT_EXCEEDED)
        self._by_function[key] += 1
        if reserved is None:
            self._unreserved[account] += 1
        try:
            yield
        finally:
            self._by_function[key] -= 1
            if reserved is None:
                self._unreserved[account] -= 1
