"""`lambdabox logs NAME [--follow]`: a function's log, as its environments wrote it."""

from __future__ import annotations

import argparse
import time
import urllib.parse
from datetime import datetime, timezone

from lambdabox.cli.client import add_endpoint_options, client, get_json

#: How often --follow asks for new events, in seconds.
FOLLOW_INTERVAL_S = 1.0


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("logs", help="print a function's log", description="Print a function's log events.")
    command.add_argument("name", help="function name")
    command.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they arrive")
    command.add_argument("--since", type=int, default=0, help="only events from this many minutes ago (default: all)")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def _fetch(arguments: argparse.Namespace, group: str, since: int, skip: int) -> tuple[list[dict], bool]:
    """One page of the group's events from `since` (less the first `skip` of that millisecond), and whether more follow it."""
    query = urllib.parse.urlencode({"since": since, "skip": skip, "region": arguments.region, "group": group})
    answer = get_json(arguments, f"/_lambdabox/logs/{urllib.parse.quote(arguments.name, safe='')}?{query}")
    return answer["events"], bool(answer.get("truncated"))


def _show(event: dict) -> str:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z {event['message']}"


def run(arguments: argparse.Namespace) -> int:
    # The log of a function that does not exist is empty, not missing: ask first, to say so (exit 1).
    config = client("lambda", arguments).get_function_configuration(FunctionName=arguments.name)
    # The function's LoggingConfig names its group (/aws/lambda/NAME unless it chose another).
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{arguments.name}"
    since = int((time.time() - arguments.since * 60) * 1000) if arguments.since else 0
    # The cursor: events before `since`, and the first `skip` at `since`, have been printed.
    skip = 0
    while True:
        events, more = _fetch(arguments, group, since, skip)
        for event in events:
            print(_show(event), flush=True)
        if events:
            last = events[-1]["timestamp"]
            at_last = sum(1 for event in events if event["timestamp"] == last)
            skip = skip + at_last if last == since else at_last
            since = last
        if more and events:
            continue  # the next page, at once
        if not arguments.follow:
            return 0
        time.sleep(FOLLOW_INTERVAL_S)
