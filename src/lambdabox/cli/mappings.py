"""`lambdabox mappings [--function NAME]`: the event source mappings of an account and region, as a table."""

from __future__ import annotations

import argparse

from lambdabox.cli.client import add_endpoint_options, client

#: (title, how a mapping shows it)
_COLUMNS = (
    ("UUID", lambda mapping: mapping["UUID"]),
    ("FUNCTION", lambda mapping: mapping["FunctionArn"].split(":function:", 1)[-1]),
    ("SOURCE", lambda mapping: mapping.get("EventSourceArn", "")),
    ("STATE", lambda mapping: mapping["State"]),
    ("BATCH", lambda mapping: str(mapping.get("BatchSize", ""))),
    ("WINDOW", lambda mapping: f"{mapping.get('MaximumBatchingWindowInSeconds', 0)} s"),
    ("LAST RESULT", lambda mapping: mapping.get("LastProcessingResult", "-")),
)


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "mappings", help="list event source mappings as a table",
        description="List event source mappings with their state and the result of their last batch.",
    )
    command.add_argument("--function", metavar="NAME", help="only this function's mappings")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def table(mappings: list[dict]) -> str:
    rows = [[title for title, _ in _COLUMNS]]
    rows += [[shown(mapping) for _, shown in _COLUMNS] for mapping in mappings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run(arguments: argparse.Namespace) -> int:
    lam = client("lambda", arguments)
    request = {"FunctionName": arguments.function} if arguments.function else {}
    pages = lam.get_paginator("list_event_source_mappings").paginate(**request)
    print(table([mapping for page in pages for mapping in page["EventSourceMappings"]]))
    return 0
