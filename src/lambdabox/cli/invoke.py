"""`lambdabox invoke NAME [PAYLOAD]`: call a function and print what it returned.

The result goes to stdout as the function returned it, so it can be piped; with --logs the
log tail (START, the function's output, END, REPORT) goes to stderr. A function error prints
its error payload too, and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from lambdabox.cli.client import add_endpoint_options, client

#: How long to wait for a synchronous answer, in seconds: Lambda's longest timeout (900 s) and a margin.
INVOKE_READ_TIMEOUT_S = 910


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "invoke",
        help="invoke a function and print its result",
        description="Invoke a function synchronously and print its result. The payload is PAYLOAD, or the contents "
        "of --file FILE (- for stdin), or nothing.",
    )
    command.add_argument("name", metavar="NAME", help="function name or ARN")
    command.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the event, as JSON text")
    command.add_argument("--file", metavar="FILE", help="read the event from FILE; - reads stdin")
    command.add_argument("--qualifier", "-q", help="a version or alias (default: $LATEST)")
    command.add_argument("--logs", action="store_true", help="print the log tail (the last 4 KB) to stderr")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def _payload(arguments: argparse.Namespace) -> bytes | None:
    """The event's bytes, checked to be JSON; exits 2 if not, or if given twice."""
    if arguments.payload is not None and arguments.file is not None:
        _usage("give the payload as PAYLOAD or --file, not both")
    if arguments.file == "-":
        text = sys.stdin.buffer.read()
    elif arguments.file is not None:
        try:
            with open(arguments.file, "rb") as source:
                text = source.read()
        except OSError as error:
            _usage(f"cannot read {arguments.file}: {error.strerror}")
    elif arguments.payload is not None:
        text = arguments.payload.encode()
    else:
        return None
    try:
        json.loads(text)
    except ValueError as error:
        _usage(f"the payload is not JSON ({error})")
    return text


def _usage(message: str):
    print(f"lambdabox invoke: {message}", file=sys.stderr)
    raise SystemExit(2)


def run(arguments: argparse.Namespace) -> int:
    request: dict = {"FunctionName": arguments.name, "LogType": "Tail" if arguments.logs else "None"}
    payload = _payload(arguments)
    if payload is not None:
        request["Payload"] = payload
    if arguments.qualifier:
        request["Qualifier"] = arguments.qualifier
    # One attempt, waiting as long as the longest function may run: a retry would run it twice.
    lam = client("lambda", arguments, read_timeout_s=INVOKE_READ_TIMEOUT_S, attempts=1)
    answer = lam.invoke(**request)
    if arguments.logs and answer.get("LogResult"):
        sys.stderr.write(base64.b64decode(answer["LogResult"]).decode(errors="replace"))
        sys.stderr.flush()
    result = answer["Payload"].read()
    sys.stdout.buffer.write(result + (b"\n" if result and not result.endswith(b"\n") else b""))
    sys.stdout.flush()
    if answer.get("FunctionError"):
        print(f"lambdabox invoke: the function failed ({answer['FunctionError']})", file=sys.stderr)
        return 1
    return 0
