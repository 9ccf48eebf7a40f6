"""FilterLogEvents for followers: `aws logs tail --follow` sees new events as they are written.

The AWS CLI follows a group by calling FilterLogEvents again at once while answers carry a
nextToken, and otherwise sleeping 5 seconds and asking again from the newest event it has
(startTime = that event's timestamp, no nextToken). Lambdabox recognizes that second kind of
request, "caught up": no nextToken, no endTime, and every event of the answer is at exactly
startTime (at least one). It answers it with a follow token. A request with a follow token is
held until events newer than what the follower has arrive (then answered with them), or for
HOLD_S; either way with a fresh follow token, so the follower never sleeps and sees an event
within about POLL_S of its writing.

Contract:
1. Only caught-up requests and follow tokens are held; every other request is answered as
   LogEventsApi.filter_log_events answers it, unchanged (so paginators end as on AWS).
2. A chain of follow tokens lasts CHAIN_S from its first; after that the answer carries no token
   (a client that paginates a caught-up request by mistake stops then).
3. At most MOST_HELD requests are held at once, and HELD_PER_ACCOUNT of one account's; a caught-up
   request past either is answered without a follow token (its follower polls every 5 seconds, as
   against AWS), and so is a follow token (its chain ends).
4. Holding waits on the event loop (asyncio.sleep); each look for new events runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from lambdabox.control.log_api import BAD_TOKEN, decode_token, encode_token, token_number
from lambdabox.control.log_events import LogEventsApi
from lambdabox.model.arns import Scope
from lambdabox.model.log_errors import InvalidParameter

#: Longest one request is held waiting for new events, in seconds.
HOLD_S = 5.0
#: How often a held request looks for new events, in seconds.
POLL_S = 0.2
#: How long one chain of follow tokens lasts, in seconds.
CHAIN_S = 600.0
#: Most requests held at once.
MOST_HELD = 64
#: Most requests of one account held at once.
HELD_PER_ACCOUNT = 8


class LogFollowing:
    def __init__(self, events: LogEventsApi, hold_s: float = HOLD_S, poll_s: float = POLL_S) -> None:
        self._events = events
        self._hold_s = hold_s
        self._poll_s = poll_s
        self._held = 0
        self._held_by: Counter[str] = Counter()

    def _room(self, account: str) -> bool:
        return self._held < MOST_HELD and self._held_by[account] < HELD_PER_ACCOUNT

    async def filter_log_events(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("nextToken")
        follow = _follow_token(token) if token is not None and _is_follow(token) else None
        if follow is None:
            answer = await asyncio.to_thread(self._events.filter_log_events, scope, params)
            if self._caught_up(params, answer) and self._room(scope.account):
                answer["nextToken"] = _token(params["startTime"], len(answer["events"]), time.time() + CHAIN_S)
            return answer
        since, skip, chain_end = follow
        if not self._room(scope.account):
            chain_end = 0.0  # too many held: answer at once, and end this chain
        asked = {**params, "nextToken": encode_token({"k": "filter", "t": since, "s": skip})}
        deadline = time.monotonic() + self._hold_s
        self._held += 1
        self._held_by[scope.account] += 1
        try:
            while True:
                answer = await asyncio.to_thread(self._events.filter_log_events, scope, asked, False)
                if answer["events"] or time.monotonic() >= deadline or not chain_end:
                    break
                await asyncio.sleep(self._poll_s)
        finally:
            self._held -= 1
            self._held_by[scope.account] -= 1
            if not self._held_by[scope.account]:
                del self._held_by[scope.account]
        events = answer["events"]
        if events:
            last = events[-1]["timestamp"]
            at_last = sum(1 for event in events if event["timestamp"] == last)
            since, skip = last, at_last + (skip if last == since else 0)
        if time.time() < chain_end:
            answer["nextToken"] = _token(since, skip, chain_end)
        else:
            answer.pop("nextToken", None)
        return answer

    @staticmethod
    def _caught_up(params: dict[str, Any], answer: dict[str, Any]) -> bool:
        start = params.get("startTime")
        events = answer["events"]
        return (
            params.get("nextToken") is None and params.get("endTime") is None and start is not None
            and "nextToken" not in answer and bool(events) and all(event["timestamp"] == start for event in events)
        )


def _token(since: int, skip: int, chain_end: float) -> str:
    # A nonce, so that no two answers carry the same token (paginators refuse a token seen twice).
    return encode_token({"k": "follow", "t": since, "s": skip, "e": int(chain_end), "n": uuid.uuid4().hex[:8]})


def _is_follow(token: str) -> bool:
    try:
        decode_token(token, "follow")
    except InvalidParameter:
        return False
    return True


def _follow_token(token: str) -> tuple[int, int, float]:
    record = decode_token(token, "follow")
    if record is None:
        raise InvalidParameter(BAD_TOKEN)
    return token_number(record, "t"), token_number(record, "s"), float(token_number(record, "e"))
