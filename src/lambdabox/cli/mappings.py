"""`lambdabox mappings [--function NAME]`: the event source mappings of an account and region, as a table.

The mappings come from ListEventSourceMappings (AWS's shape); what each did since the server started (records
processed and failed, lag) from Lambdabox's own read, GET /_lambdabox/event-source-mappings, which answers only
about the caller's own account.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse

from lambdabox.cli.client import add_endpoint_options, client, get_json


def _lag(stats: dict) -> str:
    """The lag in seconds, and the backlog where the source tells it."""
    if stats.get("LagMillis") is None:
        return "-"
    shown = f"{stats['LagMillis'] / 1000:.1f} s"
    if stats.get("Backlog") is not None:
        shown += f" ({stats['Backlog']} waiting)"
    return shown


#: (title, how a mapping and its figures show it)
_COLUMNS = (
    ("UUID", lambda mapping, stats: mapping["UUID"]),
    ("FUNCTION", lambda mapping, stats: mapping["FunctionArn"].split(":function:", 1)[-1]),
    ("SOURCE", lambda mapping, stats: mapping.get("EventSourceArn", "")),
    ("STATE", lambda mapping, stats: mapping["State"]),
    ("BATCH", lambda mapping, stats: str(mapping.get("BatchSize", ""))),
    ("WINDOW", lambda mapping, stats: f"{mapping.get('MaximumBatchingWindowInSeconds', 0)} s"),
    ("PROCESSED", lambda mapping, stats: str(stats.get("RecordsProcessed", "-"))),
    ("FAILED", lambda mapping, stats: str(stats.get("RecordsFailed", "-"))),
    ("LAG", lambda mapping, stats: _lag(stats)),
    ("LAST RESULT", lambda mapping, stats: mapping.get("LastProcessingResult", "-")),
)


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "mappings", help="list event source mappings as a table",
        description="List event source mappings with their state, the result of their last batch, the records "
        "processed and failed since the server started, and their lag: how old the oldest unprocessed record "
        "was when last read (0: caught up).",
    )
    command.add_argument("--function", metavar="NAME", help="only this function's mappings")
    command.add_argument("--json", action="store_true", help="print the mappings, each with its figures, as JSON")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def table(mappings: list[dict], figures: dict[str, dict] | None = None) -> str:
    figures = figures or {}
    rows = [[title for title, _ in _COLUMNS]]
    rows += [[shown(mapping, figures.get(mapping["UUID"], {})) for _, shown in _COLUMNS] for mapping in mappings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run(arguments: argparse.Namespace) -> int:
    lam = client("lambda", arguments)
    request = {"FunctionName": arguments.function} if arguments.function else {}
    pages = lam.get_paginator("list_event_source_mappings").paginate(**request)
    mappings = [mapping for page in pages for mapping in page["EventSourceMappings"]]
    query = urllib.parse.urlencode({"region": arguments.region})
    figures = get_json(arguments, f"/_lambdabox/event-source-mappings?{query}")["EventSourceMappings"]
    if arguments.json:
        print(json.dumps([{**mapping, "Lambdabox": figures.get(mapping["UUID"], {})} for mapping in mappings],
                         indent=2, default=str))
        return 0
    print(table(mappings, figures))
    return 0
