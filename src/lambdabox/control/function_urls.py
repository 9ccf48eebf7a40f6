"""Function URL configs: Create/Get/Update/Delete/ListFunctionUrlConfigs, and finding a URL by its id.

Record kinds and keys:
- ``function_url``     "ACCOUNT:REGION"  NAME/ or NAME/ALIAS   one FunctionUrlConfig (the unqualified function's
                                                               or an alias's), with its ``UrlId``
- ``function_url_id``  ""                URL-ID                {"namespace", "key"}: where that URL's config is filed

Contract:
1. A URL belongs to the unqualified function or to one alias; a version (and `$LATEST` named
   explicitly) is refused by the model's Qualifier pattern before this code runs, as on AWS.
2. Create refuses a second config for the same function or alias (409, AWS's words); Get, Update
   and Delete of a missing one say "The resource you requested does not exist." (404), whether the
   function, the alias or only the config is missing, as recorded from AWS.
3. Writes check everything first and commit in one transaction; a refused request changes nothing.
4. Deleting a function deletes its configs and deleting an alias its config (functions.py and
   aliases.py do it in their transactions). The id index is not cleaned there: `find` checks that
   the config the index points to still carries that id, so a stale index entry finds nothing, and
   drops it.
5. A URL id is 32 random lowercase letters and digits, never reused while its config exists.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lambdabox.control.catalog import ALIAS, FUNCTION, namespace
from lambdabox.control.paging import page, with_marker
from lambdabox.model.arns import FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import ResourceConflict, ResourceNotFound
from lambdabox.store.records import RecordStore, Records

FUNCTION_URL = "function_url"
FUNCTION_URL_ID = "function_url_id"

#: What a URL's AuthType and InvokeMode default to (InvokeMode: AWS's default).
BUFFERED, RESPONSE_STREAM = "BUFFERED", "RESPONSE_STREAM"
NONE, AWS_IAM = "NONE", "AWS_IAM"

#: Characters of a URL id, and how many (AWS's: 32 lowercase letters and digits).
_ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 32

#: AWS's words (recorded).
_NO_FUNCTION = "Function does not exist"
_NO_CONFIG = "The resource you requested does not exist."

#: (url id, region) -> the URL clients reach it at, "http://ID.lambda-url.REGION.DOMAIN:PORT/".
UrlOf = Callable[[str, str], str]


@dataclass(frozen=True)
class FoundUrl:
    """A URL found by its id: the function (and alias) it serves and its stored config."""

    ref: FunctionRef
    config: dict[str, Any]


def _key(name: str, qualifier: str | None) -> str:
    return f"{name}/{qualifier or ''}"


def _now() -> str:
    """AWS's timestamp form for these configs: ISO 8601 with microseconds, in UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FunctionUrls:
    def __init__(self, store: RecordStore, url_of: UrlOf) -> None:
        self._store = store
        self._url_of = url_of

    def create(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        space, key = namespace(ref.scope), _key(ref.name, ref.qualifier)
        with self._store.transaction() as records:
            _require_target(records, ref, _NO_FUNCTION)
            arn = function_arn(ref.scope, ref.name, ref.qualifier)
            if records.get(FUNCTION_URL, space, key) is not None:
                raise ResourceConflict(
                    f"Failed to create function url config for [functionArn = {arn}]. Error message:  "
                    "FunctionUrlConfig exists for this Lambda function"
                )
            url_id = _new_id(records)
            now = _now()
            config = {
                "UrlId": url_id,
                "FunctionArn": arn,
                "AuthType": request["AuthType"],
                "CreationTime": now,
                "LastModifiedTime": now,
                "InvokeMode": request.get("InvokeMode") or BUFFERED,
            }
            if request.get("Cors") is not None:
                config["Cors"] = request["Cors"]
            records.put(FUNCTION_URL, space, key, config)
            records.put(FUNCTION_URL_ID, "", url_id, {"namespace": space, "key": key})
        # Create's answer has no LastModifiedTime, and InvokeMode only when asked for (recorded from AWS).
        return self._shown(config, drop=("LastModifiedTime",) + (() if "InvokeMode" in request else ("InvokeMode",)))

    def get(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        with self._store.reading() as records:
            config = records.get(FUNCTION_URL, namespace(ref.scope), _key(ref.name, ref.qualifier))
        if config is None:
            raise ResourceNotFound(_NO_CONFIG)
        return self._shown(config)

    def update(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        space, key = namespace(ref.scope), _key(ref.name, ref.qualifier)
        with self._store.transaction() as records:
            config = records.get(FUNCTION_URL, space, key)
            if config is None:
                raise ResourceNotFound(_NO_CONFIG)
            for member in ("AuthType", "Cors", "InvokeMode"):
                if request.get(member) is not None:
                    config[member] = request[member]
            config["LastModifiedTime"] = _now()
            records.put(FUNCTION_URL, space, key, config)
        # Update's answer has InvokeMode only when asked for (recorded from AWS).
        return self._shown(config, drop=() if "InvokeMode" in request else ("InvokeMode",))

    def delete(self, scope: Scope, request: dict[str, Any]) -> None:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        space, key = namespace(ref.scope), _key(ref.name, ref.qualifier)
        with self._store.transaction() as records:
            config = records.get(FUNCTION_URL, space, key)
            if config is None:
                raise ResourceNotFound(_NO_CONFIG)
            records.delete(FUNCTION_URL, space, key)
            records.delete(FUNCTION_URL_ID, "", config["UrlId"])

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        """The function's URL configs: the unqualified function's first, then its aliases' by name."""
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.reading() as records:
            if records.get(FUNCTION, namespace(ref.scope), ref.name) is None:
                raise ResourceNotFound(_NO_FUNCTION)
            found = [body for _, body in records.scan(FUNCTION_URL, namespace(ref.scope), prefix=f"{ref.name}/")]
        chosen, marker = page(
            found, lambda config: config["FunctionArn"], request.get("Marker"), request.get("MaxItems")
        )
        return with_marker({"FunctionUrlConfigs": [self._shown(config) for config in chosen]}, marker)

    def find(self, url_id: str) -> FoundUrl | None:
        """The URL whose id is `url_id`, or None (also for a URL whose function or alias was deleted)."""
        with self._store.reading() as records:
            where = records.get(FUNCTION_URL_ID, "", url_id)
            if where is None:
                return None
            config = records.get(FUNCTION_URL, where["namespace"], where["key"])
        if config is None or config.get("UrlId") != url_id:
            self._forget(url_id, where)
            return None
        account, region = where["namespace"].split(":", 1)
        name, _, qualifier = where["key"].partition("/")
        return FoundUrl(FunctionRef(Scope(account, region), name, qualifier or None), config)

    def _forget(self, url_id: str, where: dict[str, Any]) -> None:
        """Drop an index entry whose config went with its function or alias (if it still points there)."""
        with self._store.transaction() as records:
            current = records.get(FUNCTION_URL_ID, "", url_id)
            config = records.get(FUNCTION_URL, where["namespace"], where["key"])
            if current == where and (config is None or config.get("UrlId") != url_id):
                records.delete(FUNCTION_URL_ID, "", url_id)

    def _shown(self, config: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
        """The config as the API answers it: without our own members, and with its URL as this server serves it."""
        shown = {key: value for key, value in config.items() if key != "UrlId" and key not in drop}
        shown["FunctionUrl"] = self._url_of(config["UrlId"], config["FunctionArn"].split(":")[3])
        return shown


def _require_target(records: Records, ref: FunctionRef, message: str) -> None:
    """The function, and the alias a qualifier names, must exist."""
    space = namespace(ref.scope)
    if records.get(FUNCTION, space, ref.name) is None:
        raise ResourceNotFound(message)
    if ref.qualifier is not None and records.get(ALIAS, space, f"{ref.name}/{ref.qualifier}") is None:
        raise ResourceNotFound(message)


def _new_id(records: Records) -> str:
    while True:
        url_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))
        if records.get(FUNCTION_URL_ID, "", url_id) is None:
            return url_id

