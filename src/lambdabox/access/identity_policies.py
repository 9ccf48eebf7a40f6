"""The identity policies of a principal, read from IAM's records, ready for the policy engine.

What applies, by kind of principal:
- a user: its inline policies, the default versions of its attached managed policies, and
  the same of every group it is in;
- an assumed role: the role's inline policies and attached managed policies, while the role
  that issued the session still exists (a role deleted and created again under the same name
  is another role: its policies do not reach the old role's sessions);
- root: none; an account's root may do anything in its account, and the caller of this module
  decides that before asking for policies.
AWS-managed policies are evaluated with the documents model/aws_policies.py knows; one it does
not know contributes nothing. A stored document that does not parse as a JSON object is skipped
(IAM checked it on the way in, so that only happens to a record changed behind IAM's back).

This module reads the records control/iam.py, control/iam_users.py and control/iam_groups.py
write; the kind names below are theirs (a test checks that they agree).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from lambdabox.model import aws_policies, json_text
from lambdabox.model.principals import ASSUMED_ROLE, USER, Principal, root
from lambdabox.store.records import Records, RecordStore

#: Record kinds, as the IAM control modules store them.
ROLE, ROLE_POLICY, ROLE_ATTACHMENT = "role", "role-policy", "role-attachment"
USER_KIND, USER_POLICY, USER_ATTACHMENT, USER_GROUP = "user", "user-policy", "user-attachment", "user-group"
GROUP_POLICY, GROUP_ATTACHMENT = "group-policy", "group-attachment"
POLICY, POLICY_VERSION = "policy", "policy-version"

Document = dict[str, Any]


class KeyRecord(Protocol):
    """What `principal_for_key` reads of an access key (control/credentials.py's AccessKey)."""

    access_key: str
    account: str
    user_name: str | None


@contextmanager
def _reading(source: Records | RecordStore) -> Iterator[Records]:
    if isinstance(source, RecordStore):
        with source.reading() as records:
            yield records
    else:
        yield source


def principal_for_key(source: Records | RecordStore, key: KeyRecord) -> Principal | None:
    """The principal a long-term key signs as: its account's root, or its user (None if the user is gone)."""
    if key.user_name is None:
        return root(key.account, key.access_key)
    with _reading(source) as records:
        user = records.get(USER_KIND, key.account, key.user_name)
    if user is None:
        return None
    return Principal(key.account, user["Arn"], user["UserId"], USER, name=key.user_name, access_key=key.access_key)


def identity_policies(source: Records | RecordStore, principal: Principal) -> list[Document]:
    """The parsed identity policy documents that apply to `principal` (see the module's docstring)."""
    with _reading(source) as records:
        if principal.kind == USER:
            return _user_documents(records, principal)
        if principal.kind == ASSUMED_ROLE:
            return _role_documents(records, principal)
        return []


def _user_documents(records: Records, principal: Principal) -> list[Document]:
    account, name = principal.account, principal.name
    user = records.get(USER_KIND, account, name)
    if user is None or user["UserId"] != principal.user_id:
        return []
    documents = _held(records, account, USER_POLICY, USER_ATTACHMENT, name)
    for _, membership in records.scan(USER_GROUP, account, prefix=f"{name}/"):
        documents += _held(records, account, GROUP_POLICY, GROUP_ATTACHMENT, membership["GroupName"])
    return documents


def _role_documents(records: Records, principal: Principal) -> list[Document]:
    if principal.role_arn is None:
        return []
    account, name = principal.account, principal.role_arn.rsplit("/", 1)[-1]
    role = records.get(ROLE, account, name)
    if role is None or role["Arn"] != principal.role_arn or principal.user_id.split(":", 1)[0] != role["RoleId"]:
        return []
    return _held(records, account, ROLE_POLICY, ROLE_ATTACHMENT, name)


def _held(records: Records, account: str, inline: str, attachment: str, holder: str) -> list[Document]:
    """The inline documents and attached managed policies' default documents of one role, user or group."""
    documents = [_parsed(body.get("PolicyDocument")) for _, body in records.scan(inline, account, prefix=f"{holder}/")]
    for _, attached in records.scan(attachment, account, prefix=f"{holder}/"):
        documents.append(_managed(records, account, attached["PolicyArn"]))
    return [document for document in documents if document is not None]


def _managed(records: Records, account: str, arn: str) -> Document | None:
    if arn.startswith("arn:aws:iam::aws:policy/"):
        return aws_policies.document(arn.rsplit("/", 1)[-1])
    policy = records.get(POLICY, account, arn)
    if policy is None:
        return None
    version = records.get(POLICY_VERSION, account, f"{arn}#{policy['DefaultVersionId']}")
    return None if version is None else _parsed(version.get("Document"))


def _parsed(text: object) -> Document | None:
    if not isinstance(text, str):
        return None
    try:
        document = json_text.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
