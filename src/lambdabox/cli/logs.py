"""`lambdabox logs NAME [--follow]`: a function's log, as its environments wrote it, read through the
CloudWatch Logs API (FilterLogEvents) like any other client's."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from lambdabox.cli.client import add_endpoint_options, client

#: How often --follow asks for new events, in seconds.
FOLLOW_INTERVAL_S = 1.0


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("logs", help="print a function's log", description="Print a function's log events.")
    command.add_argument("name", help="function name")
    command.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they arrive")
    command.add_argument("--since", type=int, default=0, help="only events from this many minutes ago (default: all)")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def _show(event: dict) -> str:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z {event['message']}"


def run(arguments: argparse.Namespace) -> int:
    """Print the function's log group through FilterLogEvents, as `aws logs tail` reads it; with --follow, keep
    asking from the newest event printed (the server holds such requests until new events arrive)."""
    from botocore.exceptions import ClientError

    # The log of a function that does not exist is empty, not missing: ask first, to say so (exit 1).
    config = client("lambda", arguments).get_function_configuration(FunctionName=arguments.name)
    # The function's LoggingConfig names its group (/aws/lambda/NAME unless it chose another).
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{arguments.name}"
    logs = client("logs", arguments)
    asked = {"logGroupName": group,
             "startTime": int((time.time() - arguments.since * 60) * 1000) if arguments.since else 0}
    # The newest timestamp printed, and the ids of the events printed at it (asked again from it, they come back).
    newest, printed = -1, set()
    while True:
        try:
            answer = logs.filter_log_events(**asked)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            answer = {"events": []}  # never invoked: no log group yet
        for event in answer["events"]:
            if event["timestamp"] == newest and event["eventId"] in printed:
                continue
            if event["timestamp"] != newest:
                newest, printed = event["timestamp"], set()
            printed.add(event["eventId"])
            print(_show(event), flush=True)
        if answer.get("nextToken") and (answer["events"] or arguments.follow):
            asked["nextToken"] = answer["nextToken"]
            continue  # the next page, at once
        if not arguments.follow:
            return 0
        asked.pop("nextToken", None)
        if newest >= 0:
            asked["startTime"] = newest
        time.sleep(FOLLOW_INTERVAL_S)
