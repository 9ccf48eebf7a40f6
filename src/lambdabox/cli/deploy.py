"""`lambdabox deploy DIR`: zip a directory and create or update the function from it.

It prints to stderr what it zipped and left out (see lambdabox.cli.package) and a warning if the
handler's module or function is not in the package, then uploads. On a terminal, bars show the
zipping and the upload as they go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lambdabox.cli.client import add_endpoint_options, client
from lambdabox.cli.package import DEFAULT_IGNORE, IGNORE_FILE, handler_problem, package
from lambdabox.cli.progress import bars

#: The execution role `deploy` creates and uses when none is given.
DEFAULT_ROLE = "lambdabox-execution-role"
#: The AuthTypes of a function URL (AWS's).
URL_AUTH_TYPES = ("NONE", "AWS_IAM")

_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "deploy",
        help="zip a directory and create or update a function from it",
        description="Zip DIR and create the function, or update its code and the given settings if it exists. "
        f"Left out: {', '.join(DEFAULT_IGNORE)}, and the patterns listed in DIR/{IGNORE_FILE} (one a line, "
        "fnmatch; with a slash, matched against the path from DIR; a trailing slash for folders only).",
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
    command.add_argument(
        "--url", choices=URL_AUTH_TYPES, metavar="AUTH_TYPE",
        help="give the function a URL with this AuthType (NONE or AWS_IAM): create it, or change its AuthType; "
        "the URL is printed alone on the last line (a NONE URL answers only once `lambdabox public-url NAME` "
        "has added its permissions)",
    )
    add_endpoint_options(command)
    command.set_defaults(run=run)


def _environment(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            print(f"lambdabox deploy: --env takes KEY=VALUE, not {pair!r}", file=sys.stderr)
            raise SystemExit(2)
        variables[key] = value
    return variables


def _size(count: int) -> str:
    if count < 10_000:
        return f"{count} bytes"
    return f"{count // 1000} KB" if count < 1_000_000 else f"{count / 1_000_000:.1f} MB"


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
    with bars() as shown:
        packaged = package(arguments.directory, shown.step("zipping"))
        code = packaged.zip
        left_out = f", left out {len(packaged.skipped)}: {', '.join(packaged.skipped[:5])}" if packaged.skipped else ""
        more = f" and {len(packaged.skipped) - 5} more" if len(packaged.skipped) > 5 else ""
        files = f"{packaged.files} file{'' if packaged.files == 1 else 's'}"
        print(f"zipped {files} ({_size(len(code))}){left_out}{more}; uploading", file=sys.stderr, flush=True)
        problem = handler_problem(code, arguments.runtime, arguments.handler)
        if problem:
            print(f"lambdabox deploy: warning: {problem}", file=sys.stderr, flush=True)
        lam = client("lambda", arguments)
        shown.follow_uploads(lam)
        result, verb = _create_or_update(lam, arguments, code, settings)
    print(f"{verb} {result['FunctionArn']} ({len(code)} bytes, CodeSha256 {result['CodeSha256']})")
    if arguments.url:
        print(_url(lam, arguments.name, arguments.url))
    return 0


def _url(lam, name: str, auth_type: str) -> str:
    """The function's URL, with `auth_type`: created if it has none, its AuthType changed if it differs."""
    try:
        found = lam.get_function_url_config(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return lam.create_function_url_config(FunctionName=name, AuthType=auth_type)["FunctionUrl"]
    if found["AuthType"] != auth_type:
        found = lam.update_function_url_config(FunctionName=name, AuthType=auth_type)
    return found["FunctionUrl"]


def _create_or_update(lam, arguments: argparse.Namespace, code: bytes, settings: dict) -> tuple[dict, str]:
    """Update the function's code and settings if it exists, else create it; the answer and what was done."""
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
        return result, "updated"
    settings.setdefault("Role", _default_role(arguments))
    result = lam.create_function(FunctionName=arguments.name, Code={"ZipFile": code}, **settings)
    lam.get_waiter("function_active_v2").wait(FunctionName=arguments.name)
    return result, "created"
