"""The one question the Lambda control plane asks of IAM: may Lambda assume this role?

IAM records live in the namespace of the account alone (IAM is global): kind ``role``,
keyed by RoleName, whose body is IAM's Role document (with ``Arn``).
"""

from __future__ import annotations

from lambdabox.model.errors import InvalidParameterValue
from lambdabox.store.records import Records, RecordStore

ROLE = "role"


def require_assumable(records: Records, account: str, arn: str) -> None:
    """Raise InvalidParameterValueException unless `arn` names a role that exists in `account`."""
    parts = arn.split(":", 5)
    name = parts[5].rsplit("/", 1)[-1] if len(parts) == 6 else ""
    role = records.get(ROLE, account, name) if parts[4:5] == [account] else None
    if role is None or role.get("Arn") != arn:
        raise InvalidParameterValue("The role defined for the function cannot be assumed by Lambda.")


def trust_policy(store: RecordStore, account: str, name: str) -> str | None:
    """The trust policy (AssumeRolePolicyDocument) of a role, or None if there is no such role."""
    with store.reading() as records:
        role = records.get(ROLE, account, name)
    return None if role is None else role.get("AssumeRolePolicyDocument")
