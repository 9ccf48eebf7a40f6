"""Runtime management controls: GetRuntimeManagementConfig and PutRuntimeManagementConfig.

Record kinds and keys, within the namespace "ACCOUNT:REGION":
- ``function``  NAME  gains ``RuntimeManagement``: {VERSION: {"UpdateRuntimeOn", "RuntimeVersionArn"?}}
                      for each version ($LATEST or a number) whose mode was set

Contract:
1. A version without a setting is in mode Auto, AWS's default.
2. The answer is AWS's shape: UpdateRuntimeOn, FunctionArn (the function's ARN for $LATEST, the
   version's for a published version) and, in mode Manual only, RuntimeVersionArn.
3. Lambdabox runs one build of each runtime, so the mode is kept and answered but changes nothing
   about what runs; a Manual RuntimeVersionArn is any the model accepts.
4. The function and the version must exist (Function not found: ARN); a bad request changes nothing.
   The settings go with the function when it is deleted.
"""

from __future__ import annotations

from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import FUNCTION, namespace
from lambdabox.model.arns import LATEST, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue
from lambdabox.store.records import RecordStore

AUTO, MANUAL = "Auto", "Manual"
#: Lambda's words are not documented for these two refusals; these are ours.
MANUAL_NEEDS_ARN = "RuntimeVersionArn is required when UpdateRuntimeOn is Manual."
ARN_ONLY_FOR_MANUAL = "RuntimeVersionArn can be given only when UpdateRuntimeOn is Manual."


class RuntimeUpdates:
    def __init__(self, store: RecordStore) -> None:
        self._store = store

    def get(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        version = ref.qualifier or LATEST
        with self._store.reading() as records:
            function = catalog.function(records, ref)
            catalog.version(records, ref, version)
        setting = function.get("RuntimeManagement", {}).get(version, {"UpdateRuntimeOn": AUTO})
        return _shown(scope, ref.name, version, setting)

    def put(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        mode, runtime_version = request["UpdateRuntimeOn"], request.get("RuntimeVersionArn")
        if mode == MANUAL and not runtime_version:
            raise InvalidParameterValue(MANUAL_NEEDS_ARN)
        if mode != MANUAL and runtime_version:
            raise InvalidParameterValue(ARN_ONLY_FOR_MANUAL)
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        version = ref.qualifier or LATEST
        setting = {"UpdateRuntimeOn": mode, **({"RuntimeVersionArn": runtime_version} if runtime_version else {})}
        with self._store.transaction() as records:
            function = catalog.function(records, ref)
            catalog.version(records, ref, version)
            function.setdefault("RuntimeManagement", {})[version] = setting
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)
        return _shown(scope, ref.name, version, setting)


def _shown(scope: Scope, name: str, version: str, setting: dict[str, str]) -> dict[str, Any]:
    answer = {"UpdateRuntimeOn": setting["UpdateRuntimeOn"],
              "FunctionArn": function_arn(scope, name, None if version == LATEST else version)}
    if setting["UpdateRuntimeOn"] == MANUAL:
        answer["RuntimeVersionArn"] = setting["RuntimeVersionArn"]
    return answer
