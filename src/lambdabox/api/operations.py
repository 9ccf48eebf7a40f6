"""The table from Lambda operation names to the control-plane calls that serve them."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from lambdabox.api import response_stream
from lambdabox.api.rest import Call, Handler, Reply
from lambdabox.control.aliases import Aliases
from lambdabox.control.concurrency import Concurrency
from lambdabox.control.event_configs import EventInvokeConfigs
from lambdabox.control.event_source_mappings import EventSourceMappings
from lambdabox.control.function_urls import FunctionUrls
from lambdabox.control.functions import Functions
from lambdabox.control.layers import Layers
from lambdabox.control.permissions import Permissions
from lambdabox.control.provisioned import ProvisionedConcurrency
from lambdabox.control.runtime_updates import RuntimeUpdates
from lambdabox.control.tags import Tags
from lambdabox.control.versions import Versions
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdabox.invoke.invoker import Invoker

_NO_CONTENT = Reply(status=204)


@dataclass(frozen=True)
class ControlPlane:
    """The control-plane services the API serves."""

    functions: Functions
    versions: Versions
    aliases: Aliases
    layers: Layers
    tags: Tags
    concurrency: Concurrency
    event_configs: EventInvokeConfigs
    provisioned: ProvisionedConcurrency
    permissions: Permissions
    runtime_updates: RuntimeUpdates
    #: None: the event source mapping operations answer 501.
    mappings: EventSourceMappings | None = None
    #: None: the function URL config operations answer 501.
    urls: FunctionUrls | None = None


def lambda_operations(control: ControlPlane, invoker: "Invoker | None" = None) -> dict[str, Handler]:
    f, v, a, l, t, c = control.functions, control.versions, control.aliases, control.layers, control.tags, control.concurrency

    def delete_function(call: Call) -> Reply:
        f.delete(call.scope, call.input)
        return _NO_CONTENT

    def delete_alias(call: Call) -> Reply:
        a.delete(call.scope, call.input["FunctionName"], call.input["Name"])
        return _NO_CONTENT

    def delete_layer_version(call: Call) -> Reply:
        l.delete(call.scope, call.input["LayerName"], call.input["VersionNumber"])
        return _NO_CONTENT

    m = control.mappings

    def tag_resource(call: Call) -> Reply:
        if m is not None and _names_mapping(call.input["Resource"]):
            m.tag(call.scope, call.input["Resource"], call.input["Tags"])
        else:
            t.tag(call.scope, call.input["Resource"], call.input["Tags"])
        return _NO_CONTENT

    def untag_resource(call: Call) -> Reply:
        if m is not None and _names_mapping(call.input["Resource"]):
            m.untag(call.scope, call.input["Resource"], call.input["TagKeys"])
        else:
            t.untag(call.scope, call.input["Resource"], call.input["TagKeys"])
        return _NO_CONTENT

    def list_tags(call: Call) -> Any:
        if m is not None and _names_mapping(call.input["Resource"]):
            return m.list_tags(call.scope, call.input["Resource"])
        return t.list(call.scope, call.input["Resource"])

    def delete_concurrency(call: Call) -> Reply:
        c.delete(call.scope, call.input["FunctionName"])
        return _NO_CONTENT

    e = control.event_configs

    def delete_event_invoke_config(call: Call) -> Reply:
        e.delete(call.scope, call.input)
        return _NO_CONTENT

    p = control.provisioned

    def delete_provisioned_config(call: Call) -> Reply:
        p.delete(call.scope, call.input)
        return _NO_CONTENT

    r = control.permissions

    def remove_permission(call: Call) -> Reply:
        r.remove(call.scope, call.input)
        return _NO_CONTENT

    def remove_layer_permission(call: Call) -> Reply:
        r.remove_layer(call.scope, call.input)
        return _NO_CONTENT

    async def invoke(call: Call) -> Reply:
        reply = await invoker.invoke(call.scope, call.input, call.headers.get("x-amzn-trace-id"))
        return Reply(reply.payload, reply.status, reply.headers)

    async def invoke_with_response_stream(call: Call) -> Response:
        return await response_stream.invoke_with_response_stream(invoker, call)

    async def invoke_async(call: Call) -> Reply:
        """The legacy InvokeAsync: an Event invocation answered {"Status": 202}."""
        request = {"FunctionName": call.input["FunctionName"], "InvocationType": "Event",
                   "Payload": call.input.get("InvokeArgs") or b"{}"}
        reply = await invoker.invoke(call.scope, request, call.headers.get("x-amzn-trace-id"))
        return Reply({"Status": 202}, 202, reply.headers)

    operations: dict[str, Handler] = {
        "CreateFunction": lambda call: f.create(call.scope, call.input),
        "GetFunction": lambda call: f.get(call.scope, call.input, call.base_url),
        "GetFunctionConfiguration": lambda call: f.get_configuration(call.scope, call.input),
        "GetFunctionCodeSigningConfig": lambda call: f.code_signing_config(call.scope, call.input),
        "UpdateFunctionCode": lambda call: f.update_code(call.scope, call.input),
        "UpdateFunctionConfiguration": lambda call: f.update_configuration(call.scope, call.input),
        "DeleteFunction": delete_function,
        "ListFunctions": lambda call: f.list(call.scope, call.input),
        "PublishVersion": lambda call: v.publish(call.scope, call.input),
        "ListVersionsByFunction": lambda call: v.list(call.scope, call.input),
        "CreateAlias": lambda call: a.create(call.scope, call.input),
        "GetAlias": lambda call: a.get(call.scope, call.input["FunctionName"], call.input["Name"]),
        "UpdateAlias": lambda call: a.update(call.scope, call.input),
        "DeleteAlias": delete_alias,
        "ListAliases": lambda call: a.list(call.scope, call.input),
        "PublishLayerVersion": lambda call: l.publish(call.scope, call.input, call.base_url),
        "GetLayerVersion": lambda call: l.get(call.scope, call.input["LayerName"], call.input["VersionNumber"], call.base_url),
        "GetLayerVersionByArn": lambda call: l.get_by_arn(call.scope, call.input["Arn"], call.base_url),
        "ListLayers": lambda call: l.list_layers(call.scope, call.input),
        "ListLayerVersions": lambda call: l.list_versions(call.scope, call.input),
        "DeleteLayerVersion": delete_layer_version,
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTags": list_tags,
        "PutFunctionConcurrency": lambda call: c.put(
            call.scope, call.input["FunctionName"], call.input["ReservedConcurrentExecutions"]
        ),
        "GetFunctionConcurrency": lambda call: c.get(call.scope, call.input["FunctionName"]),
        "DeleteFunctionConcurrency": delete_concurrency,
        "GetAccountSettings": lambda call: c.account_settings(call.scope),
        "PutFunctionEventInvokeConfig": lambda call: e.put(call.scope, call.input),
        "UpdateFunctionEventInvokeConfig": lambda call: e.update(call.scope, call.input),
        "GetFunctionEventInvokeConfig": lambda call: e.get(call.scope, call.input),
        "ListFunctionEventInvokeConfigs": lambda call: e.list(call.scope, call.input),
        "DeleteFunctionEventInvokeConfig": delete_event_invoke_config,
        "GetRuntimeManagementConfig": lambda call: control.runtime_updates.get(call.scope, call.input),
        "PutRuntimeManagementConfig": lambda call: control.runtime_updates.put(call.scope, call.input),
        "GetFunctionRecursionConfig": lambda call: e.get_recursion(call.scope, call.input["FunctionName"]),
        "PutFunctionRecursionConfig": lambda call: e.put_recursion(
            call.scope, call.input["FunctionName"], call.input["RecursiveLoop"]
        ),
        "PutProvisionedConcurrencyConfig": lambda call: p.put(call.scope, call.input),
        "GetProvisionedConcurrencyConfig": lambda call: p.get(call.scope, call.input),
        "ListProvisionedConcurrencyConfigs": lambda call: p.list(call.scope, call.input),
        "DeleteProvisionedConcurrencyConfig": delete_provisioned_config,
        "AddPermission": lambda call: r.add(call.scope, call.input),
        "RemovePermission": remove_permission,
        "GetPolicy": lambda call: r.get(call.scope, call.input),
        "AddLayerVersionPermission": lambda call: r.add_layer(call.scope, call.input),
        "RemoveLayerVersionPermission": remove_layer_permission,
        "GetLayerVersionPolicy": lambda call: r.get_layer(call.scope, call.input),
    }
    if m is not None:
        operations.update({
            "CreateEventSourceMapping": lambda call: m.create(call.scope, call.input),
            "GetEventSourceMapping": lambda call: m.get(call.scope, call.input["UUID"]),
            "UpdateEventSourceMapping": lambda call: m.update(call.scope, call.input),
            "DeleteEventSourceMapping": lambda call: m.delete(call.scope, call.input["UUID"]),
            "ListEventSourceMappings": lambda call: m.list(call.scope, call.input),
        })
    u = control.urls
    if u is not None:

        def delete_url(call: Call) -> Reply:
            u.delete(call.scope, call.input)
            return _NO_CONTENT

        operations.update({
            "CreateFunctionUrlConfig": lambda call: Reply(u.create(call.scope, call.input), 201),
            "GetFunctionUrlConfig": lambda call: u.get(call.scope, call.input),
            "UpdateFunctionUrlConfig": lambda call: u.update(call.scope, call.input),
            "DeleteFunctionUrlConfig": delete_url,
            "ListFunctionUrlConfigs": lambda call: u.list(call.scope, call.input),
        })
    if invoker is not None:
        operations["Invoke"] = invoke
        operations["InvokeAsync"] = invoke_async
        operations["InvokeWithResponseStream"] = invoke_with_response_stream
    return operations


def _names_mapping(resource: str) -> bool:
    """Whether a tag operation's Resource is an event source mapping's ARN (the model checked its form)."""
    return ":event-source-mapping:" in resource
