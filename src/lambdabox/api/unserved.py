"""The answer to a request signed for a service Lambdabox does not serve (S3, DynamoDB, CloudFormation …).

Such a request reaches us when a client's endpoint (often the global ``AWS_ENDPOINT_URL``) points every
service here. It is answered in that service's own protocol, so the client reports a readable error
instead of failing to parse ours:

- query (CloudFormation, SQS's old protocol, SNS …): ``<ErrorResponse><Error><Type/><Code/><Message/>``;
- rest-xml (S3, Route 53, CloudFront): ``<Error><Code/><Message/><RequestId/></Error>``, S3's form;
- ec2: ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``;
- json and rest-json (DynamoDB, SQS …), and any protocol not listed: ``{"__type", "message"}`` with the
  ``x-amzn-ErrorType`` header.

Order, as for every request: the body is read (bounded), the signature is verified (a refused one gets
the usual 403, named in the service's protocol), and only then is the caller told the service is not
served: status 400, code ``ServiceNotServed``. 400 because the request is the client's to redirect,
and because botocore neither retries it nor mistakes it for a missing resource; the code is our own,
as AWS has no answer for "this endpoint does not serve that service".

The protocol is botocore's for the service whose signing name the request's credential scope names
(``monitoring`` → cloudwatch, ``email`` → ses …). A signing name botocore does not know is answered in JSON.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader
from botocore.model import ServiceModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lambdabox.access import authn
from lambdabox.access.signatures import Refused
from lambdabox.api.bodies import read_bounded
from lambdabox.api.query import xml_text
from lambdabox.api.refusals import lambda_error, query_error
from lambdabox.model.limits import MAX_REQUEST_BYTES

log = logging.getLogger(__name__)

#: The status and code of "not served here": see the module's docstring for why.
NOT_SERVED_STATUS = 400
NOT_SERVED_CODE = "ServiceNotServed"

#: Protocols answered in XML; every other is answered in JSON.
_XML_PROTOCOLS = frozenset({"query", "rest-xml", "ec2"})


@dataclass(frozen=True)
class Service:
    """What a client needs to hear about a service: its name, its endpoint variable and its protocol."""

    #: botocore's serviceId, "CloudFormation".
    name: str
    #: AWS_ENDPOINT_URL_ followed by the serviceId upper-cased, spaces as underscores.
    endpoint_variable: str
    #: botocore's protocol name: query, rest-xml, ec2, json, rest-json …
    protocol: str
    #: The Query protocol's XML namespace (query services only).
    namespace: str = ""


#: Signing names a catalog remembers (botocore knows about 400 services).
MAX_REMEMBERED = 1024


class ServiceCatalog:
    """botocore's services, looked up by signing name. Thread-safe; blocking (models are read from disk).

    Most services sign with their own name; the few that do not (monitoring, email, states …) are
    found through a table of every model's metadata, built once on the first miss from the head of
    each model file (the metadata comes first in each), which takes well under a second.
    """

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._lock = threading.Lock()
        self._found: dict[str, Service] = {}
        #: signing name -> botocore service name, for services whose two names differ (built once).
        self._renamed: dict[str, str] | None = None

    def find(self, signing_name: str) -> Service:
        with self._lock:
            found = self._found.get(signing_name)
            if found is None:
                found = self._describe(signing_name)
                # The name comes from any request, signed or not: remember only so many, not one per name sent.
                if len(self._found) < MAX_REMEMBERED:
                    self._found[signing_name] = found
            return found

    @property
    def remembered(self) -> int:
        """How many signing names are remembered."""
        with self._lock:
            return len(self._found)

    def _describe(self, signing_name: str) -> Service:
        model = self._model(signing_name, signing_name)
        if model is None:
            if self._renamed is None:
                self._renamed = self._renamings()
            renamed = self._renamed.get(signing_name)
            model = self._model(renamed, signing_name) if renamed else None
        if model is None:
            return Service(signing_name, _endpoint_variable(signing_name), "json")
        name = model.metadata.get("serviceId") or signing_name
        return Service(name, _endpoint_variable(name), model.resolved_protocol, model.metadata.get("xmlNamespace", ""))

    def _model(self, service: str, signing_name: str) -> ServiceModel | None:
        """botocore's model of `service` if that service signs as `signing_name`."""
        try:
            model = self._session.get_service_model(service)
        except UnknownServiceError:
            return None
        return model if _signing_name(model.metadata, service) == signing_name else None

    def _renamings(self) -> dict[str, str]:
        loader = self._session.get_component("data_loader")
        renamed: dict[str, str] = {}
        for service in sorted(self._session.get_available_services()):
            metadata = _head_metadata(loader, service)
            signs_as = _signing_name(metadata, service)
            if signs_as != service:
                renamed.setdefault(signs_as, service)
        return renamed


def _signing_name(metadata: dict, service: str) -> str:
    return metadata.get("signingName") or metadata.get("endpointPrefix") or service


#: Bytes of a model file read for its metadata; every model's metadata fits well within it.
_HEAD_BYTES = 8192


def _head_metadata(loader: Loader, service: str) -> dict:
    """The "metadata" member of `service`'s model, read from the head of its file (the whole model if that fails)."""
    version = loader.determine_latest_version(service, "service-2")
    for root in loader.search_paths:
        for name, opener in (("service-2.json.gz", gzip.open), ("service-2.json", open)):
            path = os.path.join(root, service, version, name)
            if not os.path.isfile(path):
                continue
            with opener(path, "rb") as model:
                head = model.read(_HEAD_BYTES).decode("utf-8", "replace")
            start = head.find('"metadata"')
            try:
                metadata, _ = json.JSONDecoder().raw_decode(head, head.index("{", start))
                return metadata
            except ValueError:
                break
    return loader.load_service_model(service, "service-2")["metadata"]


def _endpoint_variable(service_id: str) -> str:
    """botocore's rule for a service's own endpoint variable."""
    return "AWS_ENDPOINT_URL_" + service_id.upper().replace(" ", "_")


def message(service: Service) -> str:
    return (
        f"Lambdabox does not serve {service.name}; point this client at the real service or another endpoint, "
        f"e.g. with {service.endpoint_variable}."
    )


class Unserved:
    """Answers every request signed for a service Lambdabox does not serve; never raises for one."""

    def __init__(self, authenticate: Callable[[authn.Request], authn.Caller],
                 incoming: Callable[[Request, bytes], authn.Request], catalog: ServiceCatalog | None = None) -> None:
        self._authenticate = authenticate
        self._incoming = incoming
        self._catalog = catalog or ServiceCatalog()

    async def handle(self, request: Request, signing_name: str, request_id: str) -> Response:
        service = await run_in_threadpool(self._catalog.find, signing_name)
        try:
            body = await read_bounded(request, MAX_REQUEST_BYTES)
        except ClientDisconnect:
            # The client went away mid-body: there is no one to answer.
            return Response(status_code=400)
        if body is None:
            return render(service, 413, "RequestEntityTooLarge",
                          f"Request must be smaller than {MAX_REQUEST_BYTES} bytes", request_id)
        try:
            self._authenticate(self._incoming(request, body))
        except Refused as refused:
            error = query_error(refused) if service.protocol in _XML_PROTOCOLS else lambda_error(refused)
            return render(service, error.status, error.code, error.message, request_id)
        return render(service, NOT_SERVED_STATUS, NOT_SERVED_CODE, message(service), request_id)


def render(service: Service, status: int, code: str, text: str, request_id: str) -> Response:
    """An error response in `service`'s protocol."""
    headers = {"x-amzn-RequestId": request_id}
    if service.protocol == "query":
        namespace = f' xmlns="{xml_text(service.namespace)}"' if service.namespace else ""
        body = (f'<ErrorResponse{namespace}><Error><Type>Sender</Type><Code>{xml_text(code)}</Code>'
                f"<Message>{xml_text(text)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    elif service.protocol == "rest-xml":
        headers["x-amz-request-id"] = request_id
        body = f"<Error><Code>{xml_text(code)}</Code><Message>{xml_text(text)}</Message><RequestId>{request_id}</RequestId></Error>"
    elif service.protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{xml_text(code)}</Code><Message>{xml_text(text)}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
    else:
        headers["x-amzn-ErrorType"] = code
        content = "application/x-amz-json-1.1" if service.protocol == "json" else "application/json"
        return Response(json.dumps({"__type": code, "message": text}), status, headers, content)
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + body, status, headers, "text/xml")
