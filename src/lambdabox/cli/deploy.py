"""`lambdabox deploy DIR`: zip a directory and create or update the function from it."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

from lambdabox.cli.client import add_endpoint_options, client

#: The execution role `deploy` creates and uses when none is given.
DEFAULT_ROLE = "lambdabox-execution-role"

_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "deploy",
        help="zip a directory and create or update a function from it",
        description="Zip DIR and create the function, or update its code and the given settings if it exists.",
    )
    command.add_argument("directory", type=Path, metavar="DIR", help="the directory to package as the function's code")
    command.add_argument("--name", required=True, help="function name")
    command.add_argument("--runtime", required=True, help="runtime, e.g. python3.12, nodejs20.x, provided.al2023")
    command.add_argument("--handler", required=True, help="handler, e.g. app.handler")
    command.add_argument("--memory", type=int, help="memory in MB (128-10240)")
    command.add_argument("--timeout", type=int, help="timeout in seconds (1-900)")
    command.add_argument("--description", help="function description")
    command.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="an environment variable; repeatable")
    command.add_argument("--layer", action="append", default=[], metavar="ARN", help="a layer version ARN; repeatable")
    command.add_argument("--role", help=f"execution role ARN (default: the role {DEFAULT_ROLE}, created if missing)")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def package(directory: Path) -> bytes:
    """The directory as a zip, paths relative to it, executable bits kept, caches left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, folders, files in os.walk(directory):
            folders[:] = sorted(folder for folder in folders if folder != "__pycache__")
            for name in sorted(files):
                path = Path(root) / name
                entry = zipfile.ZipInfo.from_file(path, path.relative_to(directory).as_posix())
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = (stat.S_IMODE(path.stat().st_mode) | stat.S_IFREG) << 16
                archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def _environment(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise SystemExit(f"lambdabox deploy: --env takes KEY=VALUE, not {pair!r}")
        variables[key] = value
    return variables


def _default_role(arguments: argparse.Namespace) -> str:
    iam = client("iam", arguments)
    try:
        return iam.get_role(RoleName=DEFAULT_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        created = iam.create_role(RoleName=DEFAULT_ROLE, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY))
        return created["Role"]["Arn"]


def run(arguments: argparse.Namespace) -> int:
    if not arguments.directory.is_dir():
        print(f"lambdabox deploy: {arguments.directory} is not a directory", file=sys.stderr)
        return 2
    code = package(arguments.directory)
    settings: dict = {"Runtime": arguments.runtime, "Handler": arguments.handler}
    if arguments.memory is not None:
        settings["MemorySize"] = arguments.memory
    if arguments.timeout is not None:
        settings["Timeout"] = arguments.timeout
    if arguments.description is not None:
        settings["Description"] = arguments.description
    if arguments.env:
        settings["Environment"] = {"Variables": _environment(arguments.env)}
    if arguments.layer:
        settings["Layers"] = arguments.layer
    if arguments.role:
        settings["Role"] = arguments.role
    lam = client("lambda", arguments)
    try:
        try:
            lam.get_function(FunctionName=arguments.name)
            exists = True
        except lam.exceptions.ResourceNotFoundException:
            exists = False
        if exists:
            lam.update_function_code(FunctionName=arguments.name, ZipFile=code)
            lam.get_waiter("function_updated_v2").wait(FunctionName=arguments.name)
            result = lam.update_function_configuration(FunctionName=arguments.name, **settings)
            lam.get_waiter("function_updated_v2").wait(FunctionName=arguments.name)
            verb = "updated"
        else:
            settings.setdefault("Role", _default_role(arguments))
            result = lam.create_function(FunctionName=arguments.name, Code={"ZipFile": code}, **settings)
            lam.get_waiter("function_active_v2").wait(FunctionName=arguments.name)
            verb = "created"
    except lam.exceptions.ClientError as error:
        print(f"lambdabox deploy: {error}", file=sys.stderr)
        return 1
    print(f"{verb} {result['FunctionArn']} ({len(code)} bytes, CodeSha256 {result['CodeSha256']})")
    return 0
