"""Where functions, versions and aliases are filed, and finding them with AWS's errors.

Record kinds and keys, within the namespace "ACCOUNT:REGION":
- ``function``  NAME                 tags, reserved concurrency, last version number
- ``version``   NAME/$LATEST         the $LATEST configuration and its code
- ``version``   NAME/0000000007      published version 7 (zero-padded so keys sort)
- ``alias``     NAME/ALIAS           the AliasConfiguration
- ``policy``    NAME/, NAME/7, NAME/ALIAS   the resource-based policy of the function (unqualified),
                                     a version or an alias (see control/permissions.py)
"""

from __future__ import annotations

import re
from typing import Any

from lambdabox.model.arns import LATEST, FunctionRef, Scope, function_arn
from lambdabox.model.errors import ResourceNotFound
from lambdabox.store.records import Records

FUNCTION, VERSION, ALIAS, POLICY = "function", "version", "alias", "policy"

_NUMBER = re.compile(r"[0-9]+")


def namespace(scope: Scope) -> str:
    return f"{scope.account}:{scope.region}"


def version_key(name: str, version: str) -> str:
    return f"{name}/{version}" if version == LATEST else f"{name}/{int(version):010d}"


def policy_key(name: str, qualifier: str | None) -> str:
    """Where the policy of a function (no qualifier or $LATEST), a version or an alias is filed."""
    if qualifier is None or qualifier == LATEST:
        return f"{name}/"
    return f"{name}/{qualifier.lstrip('0') or '0'}" if is_version_number(qualifier) else f"{name}/{qualifier}"


def is_version_number(qualifier: str) -> bool:
    return bool(_NUMBER.fullmatch(qualifier))


def not_found(ref: FunctionRef, qualifier: str | None = None) -> ResourceNotFound:
    return ResourceNotFound(f"Function not found: {function_arn(ref.scope, ref.name, qualifier)}")


def function(records: Records, ref: FunctionRef) -> dict[str, Any]:
    """The function's own record, or ResourceNotFoundException."""
    found = records.get(FUNCTION, namespace(ref.scope), ref.name)
    if found is None:
        raise not_found(ref, ref.qualifier)
    return found


def version(records: Records, ref: FunctionRef, number: str) -> dict[str, Any]:
    """A version record ($LATEST or a number), or ResourceNotFoundException."""
    found = records.get(VERSION, namespace(ref.scope), version_key(ref.name, number))
    if found is None:
        raise not_found(ref, number)
    return found


def alias(records: Records, ref: FunctionRef, name: str) -> dict[str, Any]:
    found = records.get(ALIAS, namespace(ref.scope), f"{ref.name}/{name}")
    if found is None:
        raise ResourceNotFound(f"Cannot find alias arn: {function_arn(ref.scope, ref.name, name)}")
    return found


def resolve(records: Records, ref: FunctionRef) -> tuple[dict[str, Any], str | None]:
    """The version record a (maybe qualified) reference means, and the alias it went through, if any."""
    function(records, ref)
    qualifier = ref.qualifier or LATEST
    if qualifier == LATEST or is_version_number(qualifier):
        return version(records, ref, qualifier), None
    if records.get(ALIAS, namespace(ref.scope), f"{ref.name}/{qualifier}") is None:
        raise not_found(ref, qualifier)
    target = alias(records, ref, qualifier)
    return version(records, ref, target["FunctionVersion"]), qualifier


def versions(records: Records, ref: FunctionRef) -> list[dict[str, Any]]:
    """$LATEST then the published versions in ascending order."""
    return [body for _, body in records.scan(VERSION, namespace(ref.scope), prefix=f"{ref.name}/")]


def aliases(records: Records, ref: FunctionRef) -> list[dict[str, Any]]:
    return [body for _, body in records.scan(ALIAS, namespace(ref.scope), prefix=f"{ref.name}/")]
