"""`lambdabox public-url NAME`: the two permissions that let anyone call a function's AuthType NONE URL.

AWS answers a NONE URL only when the function's (or the alias's) resource policy allows principal `*` both
`lambda:InvokeFunctionUrl` (condition `lambda:FunctionUrlAuthType` = NONE) and, for URLs made since October 2025,
`lambda:InvokeFunction` (condition `lambda:InvokedViaFunctionUrl` = true). This makes those two AddPermission
calls. Run again, it finds them there and changes nothing.
"""

from __future__ import annotations

import argparse

from lambdabox.cli.client import add_endpoint_options, client

#: (statement id, action, AddPermission's condition parameter) of each statement.
STATEMENTS = (
    ("FunctionURLAllowPublicAccess", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
    ("FunctionURLInvokeAllowPublicAccess", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True}),
)


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "public-url",
        help="let anyone call a function's AuthType NONE URL (the two AddPermission calls AWS requires)",
        description="Add the two resource-policy statements that let anyone call the function's AuthType NONE URL: "
        "lambda:InvokeFunctionUrl (with FunctionUrlAuthType NONE) and lambda:InvokeFunction (with "
        "InvokedViaFunctionUrl), for principal *. Statements already there are left as they are.",
    )
    command.add_argument("name", metavar="NAME", help="the function's name or ARN")
    command.add_argument("--qualifier", help="the alias whose URL it is (default: the function's own URL)")
    add_endpoint_options(command)
    command.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    lam = client("lambda", arguments)
    qualifier = {"Qualifier": arguments.qualifier} if arguments.qualifier else {}
    for statement_id, action, condition in STATEMENTS:
        try:
            lam.add_permission(FunctionName=arguments.name, StatementId=statement_id, Action=action, Principal="*",
                               **condition, **qualifier)
        except lam.exceptions.ResourceConflictException:
            print(f"{statement_id} ({action}) was already there")
            continue
        print(f"added {statement_id}: {action} for everyone")
    return 0
