"""Resource-based policy statements as Lambda writes them, and the policy documents they make.

Pure functions: AddPermission's and AddLayerVersionPermission's input (already checked against
the model's patterns by the API layer) becomes one statement, rendered once as compact JSON text.
A policy is kept as the list of its statements' texts, so that the document GetPolicy returns is
byte for byte the one whose size was checked, and a statement's keys keep AWS's order.

Shapes, from AWS's documentation (Lambda developer guide, "Viewing resource-based IAM policies",
"Granting function access to other accounts", "... to an organization", "Control access to
Lambda function URLs"):
    {"Sid": ..., "Effect": "Allow", "Principal": "*" | {"AWS": ARN} | {"Service": NAME},
     "Action": ..., "Resource": ARN,
     "Condition": {"ArnLike": {"AWS:SourceArn": ...},
                   "StringEquals": {"AWS:SourceAccount": ..., "aws:PrincipalOrgID": ...,
                                    "lambda:EventSourceToken": ..., "lambda:FunctionUrlAuthType": ...},
                   "Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}
A principal given as an account id is written as that account's root ARN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lambdabox.model.errors import InvalidParameterValue, PolicyLengthExceeded

#: A function's or layer version's whole policy document may hold at most this many characters
#: (GetPolicy's Policy member has "Maximum length of 20480"; the API reference calls it 20 KB).
MAX_POLICY_CHARS = 20480

POLICY_VERSION = "2012-10-17"
POLICY_ID = "default"

_ACCOUNT = re.compile(r"\d{12}")
#: IAM principals a statement may name by ARN: an account root, a user, a role, an assumed-role session.
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam::\d{12}:(root|user/\S+|role/\S+)|sts::\d{12}:assumed-role/\S+)")
#: A service principal is an AWS service's domain-style name (s3.amazonaws.com, alexa-appkit.amazon.com,
#: and the China partition's .amazonaws.com.cn); AWS refuses other domains (invalid.nonaws.com, as recorded).
_SERVICE = re.compile(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+(amazonaws\.com(\.cn)?|amazon\.com)")

#: AWS's words (quoted by CloudFormation, which relays Lambda's message).
BAD_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."


def principal_element(principal: str) -> str | dict[str, str]:
    """The Principal element for AddPermission's Principal, or InvalidParameterValueException."""
    if principal == "*":
        return "*"
    if _ACCOUNT.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE.fullmatch(principal):
        return {"Service": principal}
    raise InvalidParameterValue(BAD_PRINCIPAL)


def function_statement(request: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The statement AddPermission adds for `request` on `resource` (the function's ARN as qualified)."""
    statement: dict[str, Any] = {
        "Sid": request["StatementId"],
        "Effect": "Allow",
        "Principal": principal_element(request["Principal"]),
        "Action": request["Action"],
        "Resource": resource,
    }
    # Keys in the order Lambda writes them (recorded): StringEquals before ArnLike, and within it the
    # source account, the URL auth type, the organization.
    condition: dict[str, dict[str, str]] = {}
    equals = {
        "AWS:SourceAccount": request.get("SourceAccount"),
        "lambda:FunctionUrlAuthType": request.get("FunctionUrlAuthType"),
        "aws:PrincipalOrgID": request.get("PrincipalOrgID"),
        "lambda:EventSourceToken": request.get("EventSourceToken"),
    }
    equals = {key: value for key, value in equals.items() if value}
    if equals:
        condition["StringEquals"] = equals
    if request.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": request["SourceArn"]}
    if request.get("InvokedViaFunctionUrl"):
        # A Bool condition key: IAM writes boolean values as strings.
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if condition:
        statement["Condition"] = condition
    return statement


def layer_statement(request: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """The statement AddLayerVersionPermission adds on `resource` (the layer version's ARN).

    The model already holds Principal to an account id, `*` or an account's root ARN, and
    Action to lambda:GetLayerVersion.
    """
    principal = request["Principal"]
    if principal != "*" and not principal.startswith("arn:"):
        principal = f"arn:aws:iam::{principal}:root"
    statement: dict[str, Any] = {
        "Sid": request["StatementId"],
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": principal},
        "Action": request["Action"],
        "Resource": resource,
    }
    if request.get("OrganizationId"):
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": request["OrganizationId"]}}
    return statement


def render(statement: Mapping[str, Any]) -> str:
    """A statement as compact JSON text, as Lambda returns it in AddPermission's Statement."""
    return json.dumps(statement, separators=(",", ":"), ensure_ascii=False)


def document(texts: Iterable[str]) -> str:
    """The policy document made of rendered statements, as GetPolicy returns it."""
    return f'{{"Version":"{POLICY_VERSION}","Id":"{POLICY_ID}","Statement":[' + ",".join(texts) + "]}"


def check_size(text: str) -> None:
    """PolicyLengthExceededException when a policy document would be larger than Lambda allows.

    The message is the one Lambda is reported to send; AWS's documentation does not quote it.
    """
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyLengthExceeded(
            f"The final policy size ({len(text)}) is bigger than the limit ({MAX_POLICY_CHARS})."
        )

