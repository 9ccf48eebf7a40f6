"""Reserved concurrency settings and the account's limits and usage.

Enforcement (throttling) belongs to invocation; here the settings are stored and checked:
reserving may never shrink the account's unreserved pool below its minimum.
"""

from __future__ import annotations

from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import FUNCTION, VERSION, namespace
from lambdabox.control.layers import LAYER_VERSION
from lambdabox.control.provisioned import provisioned_total, set_aside
from lambdabox.model import limits
from lambdabox.model.arns import LATEST, FunctionRef, Scope, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue, UntypedInvalidParameterValue
from lambdabox.store.records import RecordStore, Records

_UNQUALIFIED_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. "
    "Please specify either a function name or an unqualified function ARN."
)


class Concurrency:
    def __init__(self, store: RecordStore, account_limit: int) -> None:
        self._store = store
        self._account_limit = account_limit

    def _ref(self, scope: Scope, name: str) -> FunctionRef:
        ref = parse_function_ref(name, scope)
        if ref.qualifier:
            raise InvalidParameterValue(_UNQUALIFIED_ONLY)
        return ref

    def _reserved_elsewhere(self, records: Records, scope: Scope, name: str | None = None) -> int:
        return sum(
            body.get("ReservedConcurrentExecutions") or 0
            for key, body in records.scan(FUNCTION, namespace(scope))
            if key != name
        )

    def put(self, scope: Scope, name: str, reserved: int) -> dict[str, Any]:
        ref = self._ref(scope, name)
        with self._store.transaction() as records:
            function = records.get(FUNCTION, namespace(ref.scope), ref.name)
            if function is None:
                # AWS names $LATEST here, unlike the other concurrency operations.
                raise catalog.not_found(ref, LATEST)
            provisioned = provisioned_total(records, ref.scope, ref.name)
            if reserved < provisioned:
                # Sic: AWS's words, with the leading space and the double spaces.
                raise UntypedInvalidParameterValue(
                    f" ReservedConcurrentExecutions  {reserved} should not be lower than function's "
                    f"total provisioned concurrency [{provisioned}]."
                )
            unreserved = self._account_limit - self._reserved_elsewhere(records, ref.scope, ref.name) - reserved
            if unreserved < limits.MIN_UNRESERVED_CONCURRENCY:
                raise UntypedInvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{limits.MIN_UNRESERVED_CONCURRENCY}]."
                )
            function["ReservedConcurrentExecutions"] = reserved
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)
        return {"ReservedConcurrentExecutions": reserved}

    def get(self, scope: Scope, name: str) -> dict[str, Any]:
        ref = self._ref(scope, name)
        with self._store.reading() as records:
            function = catalog.function(records, ref)
        reserved = function.get("ReservedConcurrentExecutions")
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    def delete(self, scope: Scope, name: str) -> None:
        ref = self._ref(scope, name)
        with self._store.transaction() as records:
            function = catalog.function(records, ref)
            function.pop("ReservedConcurrentExecutions", None)
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)

    def account_settings(self, scope: Scope) -> dict[str, Any]:
        with self._store.reading() as records:
            # As on AWS, provisioned concurrency of a function without a reservation comes out of the unreserved pool.
            held = set_aside(records, scope)
            functions = records.scan(FUNCTION, namespace(scope))
            # As on AWS, every version ($LATEST included) and every layer version counts its
            # package, even when the bytes are identical to another's (stored once here).
            code_sizes = [body["config"]["CodeSize"] for _, body in records.scan(VERSION, namespace(scope))]
            code_sizes += [
                body["info"]["Content"]["CodeSize"] for _, body in records.scan(LAYER_VERSION, namespace(scope))
            ]
        return {
            "AccountLimit": {
                "TotalCodeSize": limits.MAX_TOTAL_CODE_BYTES,
                "CodeSizeUnzipped": limits.MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": limits.MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": self._account_limit,
                "UnreservedConcurrentExecutions": self._account_limit - held,
            },
            "AccountUsage": {"TotalCodeSize": sum(code_sizes), "FunctionCount": len(functions)},
        }
