"""Tags on functions: TagResource, UntagResource, ListTags (and CreateFunction's Tags)."""

from __future__ import annotations

import uuid
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import FUNCTION, VERSION, namespace, version_key
from lambdabox.control.versions import blobs_of
from lambdabox.model.arns import LATEST, FunctionRef, Scope, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue
from lambdabox.model.limits import MAX_TAGS
from lambdabox.store.records import RecordStore, Records


def check_tag_count(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue("Number of tags exceeds resource tag limit.")


class Tags:
    def __init__(self, store: RecordStore) -> None:
        self._store = store

    def _ref(self, scope: Scope, resource: str):
        ref = parse_function_ref(resource, scope)
        if ref.qualifier:
            raise InvalidParameterValue("Tags on function aliases and versions are not supported. Please specify a function ARN.")
        return ref

    def tag(self, scope: Scope, resource: str, tags: dict[str, str]) -> None:
        ref = self._ref(scope, resource)
        if not tags:
            raise InvalidParameterValue("An error occurred and the request cannot be processed.")
        with self._store.transaction() as records:
            function = catalog.function(records, ref)
            merged = {**function.get("Tags", {}), **tags}
            check_tag_count(merged)
            function["Tags"] = merged
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)
            _new_revision(records, ref)

    def untag(self, scope: Scope, resource: str, keys: list[str]) -> None:
        ref = self._ref(scope, resource)
        with self._store.transaction() as records:
            function = catalog.function(records, ref)
            function["Tags"] = {k: v for k, v in function.get("Tags", {}).items() if k not in keys}
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)
            _new_revision(records, ref)

    def list(self, scope: Scope, resource: str) -> dict[str, Any]:
        ref = self._ref(scope, resource)
        with self._store.reading() as records:
            function = catalog.function(records, ref)
        return {"Tags": function.get("Tags", {})}


def _new_revision(records: Records, ref: FunctionRef) -> None:
    """Tagging gives $LATEST a new RevisionId (and nothing else), as recorded on AWS."""
    latest = catalog.version(records, ref, LATEST)
    latest["config"]["RevisionId"] = str(uuid.uuid4())
    records.put(VERSION, namespace(ref.scope), version_key(ref.name, LATEST), latest, blobs=blobs_of(latest))
