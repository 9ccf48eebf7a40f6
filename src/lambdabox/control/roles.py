"""The one question the Lambda control plane asks of IAM: may Lambda assume this role?

It may when the role exists in the function's account and its trust policy allows the service
principal lambda.amazonaws.com to sts:AssumeRole, judged by the same policy engine as every request.

IAM records live in the namespace of the account alone (IAM is global): kind ``role``,
keyed by RoleName, whose body is IAM's Role document (with ``Arn``).
"""

from __future__ import annotations

import json

from lambdabox.access.policy import Caller, Effect, Request, resource_effect
from lambdabox.model.errors import InvalidParameterValue
from lambdabox.store.records import Records, RecordStore

ROLE = "role"
#: Lambda's service principal, as a trust policy names it.
LAMBDA_SERVICE = "lambda.amazonaws.com"


def require_assumable(records: Records, account: str, arn: str) -> None:
    """Raise InvalidParameterValueException unless `arn` names a role that exists in `account`."""
    parts = arn.split(":", 5)
    name = parts[5].rsplit("/", 1)[-1] if len(parts) == 6 else ""
    role = records.get(ROLE, account, name) if parts[4:5] == [account] else None
    if role is None or role.get("Arn") != arn or not trusts_lambda(role.get("AssumeRolePolicyDocument"), arn):
        raise InvalidParameterValue("The role defined for the function cannot be assumed by Lambda.")


def trusts_lambda(trust_policy: str | None, role_arn: str) -> bool:
    """Whether a role's trust policy lets Lambda (the service principal) assume it."""
    try:
        document = json.loads(trust_policy or "")
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    lambda_service = Caller(account="", arn="", service=LAMBDA_SERVICE)
    return resource_effect([document], lambda_service, Request("sts:AssumeRole", role_arn)) is Effect.ALLOW


def trust_policy(store: RecordStore, account: str, name: str) -> str | None:
    """The trust policy (AssumeRolePolicyDocument) of a role, or None if there is no such role."""
    with store.reading() as records:
        role = records.get(ROLE, account, name)
    return None if role is None else role.get("AssumeRolePolicyDocument")
