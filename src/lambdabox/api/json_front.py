"""AWS's JSON 1.1 protocol, as CloudWatch Logs speaks it: POST /, the operation in
`X-Amz-Target: <targetPrefix>.<Operation>`, input and output as JSON, errors as
`{"__type": code, "message": text}` with the status the service gives them.

Order, for every request:
1. the body is read, bounded (a larger one is refused before it is buffered);
2. the signature is checked (it covers the body); a refused one is answered in this protocol;
3. the target names an operation of the service's botocore model that Lambdabox serves, or
   UnknownOperationException;
4. the body is decoded and checked against the operation's input shape (api/shapes.py):
   SerializationException for what is not JSON of that shape, InvalidParameterException
   ("1 validation error detected: …", as CloudWatch Logs words it) for constraint failures;
5. the caller is authorized for the operation's IAM action on its resource (AccessDeniedException);
6. the handler runs (a plain one in a worker thread); its dict is the output.
Any AwsError at any step is the answer, and nothing was changed.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from botocore.model import ServiceModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lambdabox.access.actions import Target
from lambdabox.access.gate import Denied, Gate
from lambdabox.access.signatures import Refused
from lambdabox.api import shapes
from lambdabox.api.bodies import read_bounded
from lambdabox.api.refusals import lambda_error
from lambdabox.api.rest import Authenticate, incoming, origin
from lambdabox.model import json_text
from lambdabox.model.arns import Scope
from lambdabox.model.errors import AwsError, InvalidRequestContent, ServiceError, ValidationError
from lambdabox.model.log_errors import InvalidParameter, LogsAccessDenied, SerializationError, UnknownLogsOperation

log = logging.getLogger(__name__)

#: Largest body read, in bytes: PutLogEvents' largest batch is 1,048,576 bytes of events, which JSON
#: escaping can make up to six times longer.
MAX_BODY_BYTES = 6 * 1024 * 1024
CONTENT_TYPE = "application/x-amz-json-1.1"

#: One operation: (caller's scope, checked input) -> output; a plain function (run in a worker thread)
#: or a coroutine function (run on the loop).
JsonHandler = Callable[[Scope, dict[str, Any]], dict[str, Any]]
#: The IAM action and resource of one operation: (operation, input, caller's scope) -> Target; KeyError if unknown.
Targets = Callable[[str, dict[str, Any], Scope], Target]


class JsonApi:
    def __init__(
        self, model: ServiceModel, handlers: dict[str, JsonHandler], targets: Targets, authenticate: Authenticate,
        default_region: str, gate: Gate | None,
    ) -> None:
        self._model = model
        self._prefix = model.metadata["targetPrefix"] + "."
        self._handlers = handlers
        self._targets = targets
        self._authenticate = authenticate
        self._default_region = default_region
        self._gate = gate

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return await self._handle(request, request_id)
        except AwsError as error:
            return render_error(error, request_id)
        except ClientDisconnect:
            return Response(status_code=400)  # the client left mid-body: nothing was done
        except Exception:
            log.exception("internal error in %s", request.headers.get("x-amz-target"))
            return render_error(ServiceError("Lambdabox hit an internal error; see the server log."), request_id)

    async def _handle(self, request: Request, request_id: str) -> Response:
        body = await read_bounded(request, MAX_BODY_BYTES)
        if body is None:
            raise SerializationError(f"Request must be smaller than {MAX_BODY_BYTES} bytes")
        try:
            caller = self._authenticate(incoming(request, body))
        except Refused as refused:
            error = lambda_error(refused)
            error.status = 400  # JSON 1.1 services answer a refused signature with 400
            raise error from None
        target = request.headers.get("x-amz-target", "")
        name = target.removeprefix(self._prefix) if target.startswith(self._prefix) else ""
        handler = self._handlers.get(name)
        if request.method != "POST" or handler is None:
            raise UnknownLogsOperation(f"Lambdabox does not serve the operation {target[:200]!r} of this service.")
        operation = self._model.operation_model(name)
        try:
            document = json_text.loads(body) if body.strip() else {}
            params = shapes.decode(operation.input_shape, document, "") if operation.input_shape else {}
        except (ValueError, InvalidRequestContent) as error:
            raise SerializationError(str(error)[:1000]) from None
        if operation.input_shape is not None:
            try:
                shapes.check(operation.input_shape, params)
            except ValidationError as invalid:
                # CloudWatch Logs reports the model's constraints as InvalidParameterException, in the same words.
                raise InvalidParameter(invalid.message) from None
        scope = Scope(caller.principal.account, caller.region or self._default_region)
        if self._gate is not None:
            try:
                self._gate.check(caller.principal, self._targets(name, params, scope), origin(request))
            except Denied as denied:
                raise LogsAccessDenied(denied.message) from None
        if inspect.iscoroutinefunction(handler):
            result = await handler(scope, params)
        else:
            result = await run_in_threadpool(handler, scope, params)
        return Response(
            json.dumps(result, separators=(",", ":")), 200, {"x-amzn-RequestId": request_id}, CONTENT_TYPE
        )


def render_error(error: AwsError, request_id: str) -> Response:
    return Response(
        json.dumps({"__type": error.code, "message": error.message}, separators=(",", ":")),
        error.status,
        {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
        CONTENT_TYPE,
    )
