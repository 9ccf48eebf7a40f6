"""`lambdabox`: run the platform and manage functions from a shell.

Every failure ends in one line on stderr and an exit code, never a traceback:

1. the server answered with an error (an unknown name, a refused setting), or a function failed;
2. an argument is invalid (argparse's own code);
3. the server could not be reached at --endpoint-url.
"""

from __future__ import annotations

import argparse
import json
import sys

from lambdabox.cli import accounts, deploy, function_urls, functions, invocations, invoke, layers, logs, mappings, server

#: Exit codes, by cause (see the module docstring).
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at --help."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="lambdabox", description="A self-hosted AWS Lambda.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register(commands)
    deploy.register(commands)
    function_urls.register(commands)
    invoke.register(commands)
    functions.register(commands)
    functions.register_delete(commands)
    layers.register(commands)
    logs.register(commands)
    invocations.register(commands)
    mappings.register(commands)
    accounts.register(commands)
    return top


def _http_message(error) -> str:
    """The message of one of the server's own JSON error answers, else the HTTP reason."""
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    return body.get("message") or body.get("Message") or f"HTTP {error.code} {error.reason}"


def _failure(error: Exception, endpoint: str) -> tuple[int, str] | None:
    """The exit code and line for an error of talking to the server; None for anything else."""
    import urllib.error

    import botocore.exceptions as aws

    if isinstance(error, aws.ClientError):
        details = error.response.get("Error", {})
        return EXIT_REFUSED, f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    if isinstance(error, (aws.EndpointConnectionError, aws.ConnectionClosedError, aws.ReadTimeoutError)):
        return EXIT_UNREACHABLE, f"cannot reach the server at {endpoint} ({type(error).__name__})"
    if isinstance(error, urllib.error.HTTPError):
        return EXIT_REFUSED, _http_message(error)
    if isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError)):
        reason = getattr(error, "reason", error)
        return EXIT_UNREACHABLE, f"cannot reach the server at {endpoint} ({reason})"
    if isinstance(error, aws.NoCredentialsError):
        return EXIT_REFUSED, "no credentials: see --profile and AWS_SHARED_CREDENTIALS_FILE"
    if isinstance(error, aws.BotoCoreError):
        return EXIT_REFUSED, str(error)
    return None


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:
        failure = _failure(error, getattr(arguments, "endpoint_url", ""))
        if failure is None:
            raise
        code, line = failure
        print(f"lambdabox {arguments.command}: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
