"""IAM as AWS shapes it: errors, input checks in AWS's words, unique IDs and ARNs.

Input is checked as AWS checks it, in two rounds (see `Checks`): first the API model's
constraints (lengths, value ranges), reported together in one "N validation errors
detected" message; then IAM's own character rules, each with its own sentence. Policy
documents are checked after both (`check_policy_document`), then the caller looks at
what exists.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from lambdabox.model import json_text
from lambdabox.model.errors import AwsError, constraint

#: The partition of every ARN IAM mints here.
PARTITION = "aws"
#: MaxSessionDuration of a role, in seconds: default and AWS's range (1 to 12 hours).
DEFAULT_SESSION_S, MIN_SESSION_S, MAX_SESSION_S = 3600, 3600, 43200
#: Page size of the List operations when MaxItems is not given, and its upper bound (items).
DEFAULT_MAX_ITEMS, MAX_MAX_ITEMS = 100, 1000
#: Tags on one role, user or policy.
MAX_TAGS = 50
#: Access keys one user (or an account's root) may hold at once: AWS's AccessKeysPerUser quota.
MAX_KEYS_PER_USER = 2
#: Longest policy document the API model accepts, in characters.
MAX_DOCUMENT_CHARS = 131_072
#: Unique IDs are a 4-letter type prefix and 17 characters of this (base32) alphabet.
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ID_LENGTH = 17


class IamError(AwsError):
    """An IAM or STS error; `party` is the Query protocol's ``Type``: Sender (the caller) or Receiver (us)."""

    party: str = "Sender"


class NoSuchEntity(IamError):
    status = 404
    code = "NoSuchEntity"


class EntityAlreadyExists(IamError):
    status = 409
    code = "EntityAlreadyExists"


class DeleteConflict(IamError):
    status = 409
    code = "DeleteConflict"


class MalformedPolicyDocument(IamError):
    code = "MalformedPolicyDocument"


class InvalidInput(IamError):
    code = "InvalidInput"


class PolicyNotAttachable(IamError):
    code = "PolicyNotAttachable"


class IamValidationError(IamError):
    """A request that breaks the API model's constraints or IAM's naming rules."""

    code = "ValidationError"


class LimitExceeded(IamError):
    status = 409
    code = "LimitExceeded"


class AccessDenied(IamError):
    """STS's refusal (AssumeRole of a role the caller may not assume, or that does not exist)."""

    status = 403
    code = "AccessDenied"


class InvalidAction(IamError):
    code = "InvalidAction"


class MissingAction(IamError):
    code = "MissingAction"


class RequestEntityTooLarge(IamError):
    """A form body past what the Query front reads. AWS's code and wording here are not known."""

    status = 413
    code = "RequestEntityTooLarge"


class ServiceFailure(IamError):
    status = 500
    code = "ServiceFailure"
    fault = "Service"
    party = "Receiver"


def role_not_found(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def user_not_found(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The user with name {name} cannot be found.")


def group_not_found(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The group with name {name} cannot be found.")


def policy_not_found(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {arn} was not found.")


def not_attachable(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")


def not_null(member: str) -> IamValidationError:
    """A required parameter the request left out."""
    return IamValidationError(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    )


# Character rules, with the sentences IAM answers when a value breaks them.
_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
_NAME_RULE = "It must contain only alphanumeric characters and/or the following: +=,.@_-"
_ROLE_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_POLICY_PATH = re.compile(r"(/[A-Za-z0-9.,+@=_-]+)*/")
_PATH_RULE = "It must begin and end with / and contain only alphanumeric characters and/or / characters."
_PATH_PREFIX = re.compile(r"/[\x21-\x7f]*")
_PREFIX_RULE = "It must begin with the / character and contain only alphanumeric characters and/or / characters."
_DESCRIPTION = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")
_DOCUMENT = re.compile(r"[\t\n\r\x20-\xff]+")
_TAG_PUNCTUATION = set("_.:/=+-@")


def _is_tag_text(text: str) -> bool:
    """Whether `text` matches the model's ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``."""
    return all(char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in "LZN" for char in text)


class Checks:
    """One request's input checks, raised in AWS's order by `done()`.

    Each method notes what is wrong with one parameter; nothing raises until `done()`,
    which reports every model-constraint failure at once or else the first broken rule.
    """

    def __init__(self) -> None:
        self._constraints: list[str] = []
        self._rules: list[str] = []

    def length(self, value: str, member: str, low: int, high: int) -> bool:
        if len(value) < low:
            rule = f"Member must have length greater than or equal to {low}"
        elif len(value) > high:
            rule = f"Member must have length less than or equal to {high}"
        else:
            return True
        self._constraints.append(constraint(value, member, rule))
        return False

    def _rule(self, ok: bool, member: str, rule: str) -> None:
        if not ok:
            self._rules.append(f"The specified value for {member} is invalid. {rule}")

    def _pattern(self, ok: bool, value: str, member: str, shown: str) -> None:
        self.matches(ok, value, member, shown)

    def matches(self, ok: bool, value: str, member: str, shown: str) -> None:
        """Note a model pattern `value` breaks (`ok` False); `shown` is the pattern as AWS prints it."""
        if not ok:
            rule = f"Member must satisfy regular expression pattern: {shown}"
            self._constraints.append(constraint(value, member, rule))

    def name(self, value: str, member: str, high: int) -> None:
        """A role name (at most 64) or policy name (at most 128)."""
        if self.length(value, member, 1, high):
            self._rule(bool(_NAME.fullmatch(value)), member, _NAME_RULE)

    def role_path(self, value: str, member: str = "path") -> None:
        """A role's, user's or group's Path (`member` newPath when UpdateUser/UpdateGroup moves one)."""
        if self.length(value, member, 1, 512):
            self._rule(bool(_ROLE_PATH.fullmatch(value)), member, _PATH_RULE)

    def policy_path(self, value: str, member: str = "path") -> None:
        """A policy's Path, or (as `member` pathPrefix) a PathPrefix listing policies, which has the same form."""
        if self.length(value, member, 1, 512):
            self._rule(bool(_POLICY_PATH.fullmatch(value)), member, _PATH_RULE if member == "path" else _PREFIX_RULE)

    def path_prefix(self, value: str) -> None:
        if self.length(value, "pathPrefix", 1, 512):
            self._rule(bool(_PATH_PREFIX.fullmatch(value)), "pathPrefix", _PREFIX_RULE)

    def description(self, value: str, role: bool) -> None:
        """A role description (restricted characters) or policy description (any characters)."""
        if self.length(value, "description", 0, 1000) and role:
            shown = r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*"
            self._pattern(bool(_DESCRIPTION.fullmatch(value)), value, "description", shown)

    def document(self, value: str, member: str) -> None:
        if self.length(value, member, 1, MAX_DOCUMENT_CHARS):
            self._pattern(bool(_DOCUMENT.fullmatch(value)), value, member, r"[\u0009\u000A\u000D\u0020-\u00FF]+")

    def arn(self, value: str, member: str) -> None:
        self.length(value, member, 20, 2048)

    def number(self, value: int | None, member: str, low: int, high: int) -> None:
        if value is None:
            return
        if value < low:
            rule = f"Member must have value greater than or equal to {low}"
        elif value > high:
            rule = f"Member must have value less than or equal to {high}"
        else:
            return
        self._constraints.append(constraint(value, member, rule))

    def choice(self, value: str | None, member: str, options: Sequence[str]) -> None:
        if value is not None and value not in options:
            rule = f"Member must satisfy enum value set: [{', '.join(options)}]"
            self._constraints.append(constraint(value, member, rule))

    def paging(self, marker: str | None, max_items: int | None) -> None:
        # Markers are ours (the last key of the previous page, which may name a long policy
        # ARN), so the model's 320-character bound is not held against them.
        if marker is not None:
            self.length(marker, "marker", 1, sys.maxsize)
        self.number(max_items, "maxItems", 1, MAX_MAX_ITEMS)

    def tags(self, tags: Sequence[dict[str, str]]) -> None:
        if len(tags) > MAX_TAGS:
            shown = "[" + ", ".join(f"Tag(Key={tag['Key']}, Value={tag['Value']})" for tag in tags) + "]"
            rule = f"Member must have length less than or equal to {MAX_TAGS}"
            self._constraints.append(constraint(shown, "tags", rule))
        for number, tag in enumerate(tags, 1):
            key, value = f"tags.{number}.member.key", f"tags.{number}.member.value"
            if self.length(tag["Key"], key, 1, 128):
                self._pattern(_is_tag_text(tag["Key"]), tag["Key"], key, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
            if self.length(tag["Value"], value, 0, 256):
                self._pattern(_is_tag_text(tag["Value"]), tag["Value"], value, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")

    def done(self) -> None:
        """Raise the ValidationError the noted failures add up to, if any."""
        if self._constraints:
            noun = "error" if len(self._constraints) == 1 else "errors"
            problems = "; ".join(self._constraints)
            raise IamValidationError(f"{len(self._constraints)} validation {noun} detected: {problems}")
        if self._rules:
            raise IamValidationError(self._rules[0])


def check_names(role_name: str, policy_name: str | None = None) -> None:
    """Check a request that names a role, and maybe one of its inline policies."""
    checks = Checks()
    checks.name(role_name, "roleName", 64)
    if policy_name is not None:
        checks.name(policy_name, "policyName", 128)
    checks.done()


def check_tag_keys(tags: Sequence[dict[str, str]]) -> None:
    """Raise InvalidInput when two tags share a key, compared as IAM does: ignoring case."""
    keys = [tag["Key"].lower() for tag in tags]
    if len(set(keys)) != len(keys):
        raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")


def check_policy_document(text: str, trust: bool) -> None:
    """Raise MalformedPolicyDocument unless `text` is a JSON policy of the right kind.

    A trust policy (who may assume a role) names principals and no resources; a
    permissions policy names resources and no principals. Only the rules whose AWS
    wording is known are enforced; the rest of the policy grammar is accepted as is.
    """
    try:
        policy = json_text.loads(text)
    except json_text.TooDeep:
        # Valid JSON, but deeper than any policy grammar goes.
        raise MalformedPolicyDocument("Syntax errors in policy.") from None
    except ValueError:
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(statement, dict) for statement in statements):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    for statement in statements:
        if trust and "Resource" in statement:
            raise MalformedPolicyDocument("Has prohibited field Resource")
        if not trust and ("Principal" in statement or "NotPrincipal" in statement):
            raise MalformedPolicyDocument("Policy document should not specify a principal.")
        if not trust and "Resource" not in statement and "NotResource" not in statement:
            raise MalformedPolicyDocument("Policy statement must contain resources.")


def unique_id(prefix: str) -> str:
    """A fresh IAM unique ID: a type prefix (AROA for roles, ANPA for managed policies) and 17 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def stable_id(prefix: str, seed: str) -> str:
    """A unique ID that is always the same for the same `seed` (for things every account shares)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in digest[:_ID_LENGTH])


def iam_time(moment: datetime) -> str:
    """IAM's timestamp form: 2024-01-01T12:00:00Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_arn(account: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:user{path}{name}"


def group_arn(account: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:group{path}{name}"


def policy_arn(account: str, path: str, name: str) -> str:
    """A managed policy's ARN; `account` is ``aws`` for the policies AWS manages."""
    return f"arn:{PARTITION}:iam::{account}:policy{path}{name}"


#: Where AWS files some managed policies a Lambda role commonly uses. Naming one of them
#: under another path is a frequent mistake that AWS answers with NoSuchEntity.
KNOWN_AWS_POLICY_PATHS = {
    "AWSLambdaBasicExecutionRole": "/service-role/",
    "AWSLambdaVPCAccessExecutionRole": "/service-role/",
    "AWSLambdaKinesisExecutionRole": "/service-role/",
    "AWSLambdaDynamoDBExecutionRole": "/service-role/",
    "AWSLambdaSQSQueueExecutionRole": "/service-role/",
    "AWSLambdaRole": "/service-role/",
    "AWSLambdaExecute": "/",
    "AdministratorAccess": "/",
}
#: The date AWS-managed policies report: they predate every account here, and a fixed date keeps answers stable.
AWS_POLICY_DATE = "2015-02-06T18:39:46Z"
#: AWS's service-linked role policies live here and attach to no customer role.
SERVICE_ROLE_POLICY_PATH = "/aws-service-role/"

_POLICY_ARN = re.compile(
    r"arn:aws:iam::(?P<account>\d{12}|aws):policy(?P<path>/(?:[A-Za-z0-9.,+@=_-]+/)*)(?P<name>[\w+=,.@-]{1,128})",
    re.ASCII,
)


@dataclass(frozen=True)
class PolicyRef:
    """A managed policy as its ARN names it."""

    arn: str
    account: str
    path: str
    name: str

    @property
    def aws_managed(self) -> bool:
        return self.account == "aws"


def parse_policy_arn(arn: str) -> PolicyRef:
    """The parts of a managed policy ARN, or InvalidInput when the text is not one."""
    found = _POLICY_ARN.fullmatch(arn)
    if not found:
        raise InvalidInput(f"ARN {arn} is not valid.")
    return PolicyRef(arn, found["account"], found["path"], found["name"])


def check_policy_arn(arn: str, role_name: str | None = None) -> PolicyRef:
    """Check a request that names a managed policy (and maybe a role), and parse the ARN."""
    checks = Checks()
    if role_name is not None:
        checks.name(role_name, "roleName", 64)
    checks.arn(arn, "policyArn")
    checks.done()
    return parse_policy_arn(arn)


def aws_managed_policy(ref: PolicyRef) -> dict[str, object]:
    """The Policy document of an AWS-managed policy no role here uses yet.

    Its PolicyId is derived from the ARN, so that every answer about it agrees.
    """
    return {
        "PolicyName": ref.name,
        "PolicyId": stable_id("ANPA", ref.arn),
        "Arn": ref.arn,
        "Path": ref.path,
        "DefaultVersionId": "v1",
        "AttachmentCount": 0,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": AWS_POLICY_DATE,
        "UpdateDate": AWS_POLICY_DATE,
    }
