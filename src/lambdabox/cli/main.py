"""`lambdabox`: run the platform and manage functions from a shell."""

from __future__ import annotations

import argparse
import sys

from lambdabox.cli import accounts, deploy, functions, invocations, logs, server


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lambdabox", description="A self-hosted AWS Lambda.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server.register(commands)
    deploy.register(commands)
    functions.register(commands)
    logs.register(commands)
    invocations.register(commands)
    accounts.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
