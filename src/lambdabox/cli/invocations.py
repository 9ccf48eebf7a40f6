"""`lambdabox invocations get ID` / `list NAME`: what became of asynchronous invocations."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
from datetime import datetime, timezone

from lambdabox.cli.client import add_endpoint_options, get_json


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "invocations", help="look up asynchronous invocations", description="Look up asynchronous invocations."
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = actions.add_parser(
        "get", help="one invocation by the request id its 202 answered with",
        description="Show an asynchronous invocation's status, attempts and deliveries, by the request id its 202 "
        "answered with.",
    )
    get.add_argument("id", help="request id")
    get.add_argument("--json", action="store_true", help="print the record as JSON")
    add_endpoint_options(get)
    get.set_defaults(run=run_get)
    listing = actions.add_parser(
        "list", help="a function's recent invocations",
        description="List a function's recent asynchronous invocations.",
    )
    listing.add_argument("name", help="function name")
    listing.add_argument("--limit", type=int, default=20, help="how many (default: %(default)s)")
    add_endpoint_options(listing)
    listing.set_defaults(run=run_list)


def _get(arguments: argparse.Namespace, path: str) -> dict:
    return get_json(arguments, path)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def run_get(arguments: argparse.Namespace) -> int:
    try:
        record = _get(arguments, f"/_lambdabox/invocations/{urllib.parse.quote(arguments.id)}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            print(f"lambdabox invocations: no asynchronous invocation {arguments.id}", file=sys.stderr)
            return 1
        raise
    if arguments.json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"{record['id']}  {record['function']}  {record['status']}  received {_when(record['receivedAt'])}")
    for entry in record["history"]:
        detail = entry.get("errorType") or entry.get("condition") or ""
        message = entry.get("errorMessage") or ""
        print(f"  attempt {entry.get('attempt', '-')}: {entry.get('result')} at {_when(entry.get('endedAt'))} {detail} {message}".rstrip())
    for delivery in record.get("deliveries", []):
        last = delivery["history"][-1] if delivery["history"] else {}
        print(f"  record to {delivery['target']}: {delivery['status']} {last.get('note') or last.get('errorMessage') or ''}".rstrip())
    return 0


def run_list(arguments: argparse.Namespace) -> int:
    query = urllib.parse.urlencode(
        {"function": arguments.name, "limit": arguments.limit, "region": arguments.region}
    )
    found = _get(arguments, f"/_lambdabox/invocations?{query}")["invocations"]
    rows = [["REQUEST ID", "STATUS", "ATTEMPTS", "RECEIVED"]]
    rows += [[item["id"], item["status"], str(item["attempts"]), _when(item["receivedAt"])] for item in found]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0
