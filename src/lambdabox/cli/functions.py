"""`lambdabox functions` and `delete NAME`: the functions of an account and region, as a table; removing one."""

from __future__ import annotations

import argparse

from lambdabox.cli.client import add_endpoint_options, client

_COLUMNS = (
    ("NAME", "FunctionName"),
    ("RUNTIME", "Runtime"),
    ("HANDLER", "Handler"),
    ("MEMORY", "MemorySize"),
    ("TIMEOUT", "Timeout"),
    ("CODE SIZE", "CodeSize"),
    ("LAST MODIFIED", "LastModified"),
)


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("functions", help="list functions as a table", description="List functions as a table.")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def table(functions: list[dict]) -> str:
    rows = [[title for title, _ in _COLUMNS]]
    rows += [[str(function.get(key, "")) for _, key in _COLUMNS] for function in functions]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run(arguments: argparse.Namespace) -> int:
    lam = client("lambda", arguments)
    functions = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    print(table(functions))
    return 0


def register_delete(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "delete",
        help="delete a function, or one of its versions",
        description="Delete a function with all its versions and aliases, or only the version --qualifier.",
    )
    command.add_argument("name", metavar="NAME", help="function name or ARN")
    command.add_argument("--qualifier", "-q", help="delete only this version")
    add_endpoint_options(command)
    command.set_defaults(run=run_delete)


def run_delete(arguments: argparse.Namespace) -> int:
    request = {"FunctionName": arguments.name}
    if arguments.qualifier:
        request["Qualifier"] = arguments.qualifier
    client("lambda", arguments).delete_function(**request)
    print(f"deleted {arguments.name}" + (f" version {arguments.qualifier}" if arguments.qualifier else ""))
    return 0
