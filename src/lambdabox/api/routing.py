"""Finding the Lambda operation a request calls, from the paths in AWS's API model.

Lambda's operations live under several date prefixes (/2015-03-31/functions,
/2017-03-31/tags, /2018-10-31/layers, ...). Rather than retype them, the router
compiles every operation's `requestUri` from botocore's service model, so paths,
methods and success status codes are AWS's by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel

_LABEL = re.compile(r"\{([A-Za-z0-9]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    pattern: re.Pattern[str]
    #: Query parameters the URI fixes, e.g. ``?find=LayerVersion``.
    fixed_query: dict[str, str]

    def match(self, method: str, path: str, query: dict[str, str]) -> dict[str, str] | None:
        if method != self.operation.http["method"]:
            return None
        found = self.pattern.fullmatch(path)
        if not found:
            return None
        if any(query.get(key) != value for key, value in self.fixed_query.items()):
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def _compile(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, fixed = uri.partition("?")
    fixed_query = dict(part.split("=", 1) for part in fixed.split("&") if "=" in part)
    pieces: list[str] = []
    last = 0
    for label in _LABEL.finditer(path):
        pieces.append(re.escape(path[last : label.start()]))
        pieces.append(f"(?P<{label[1]}>.+)" if label[2] else f"(?P<{label[1]}>[^/]+)")
        last = label.end()
    pieces.append(re.escape(path[last:]))
    # AWS accepts the paths with and without a trailing slash.
    return Route(operation, re.compile("".join(pieces).rstrip("/") + "/?"), fixed_query)


class Router:
    """Maps (method, raw path, query) to an operation of the service model and its URI labels."""

    def __init__(self, model: ServiceModel) -> None:
        routes = [_compile(model.operation_model(name)) for name in model.operation_names]
        # Routes that fix query parameters must be tried before their bare siblings.
        self._routes = sorted(routes, key=lambda route: -len(route.fixed_query))

    def find(self, method: str, path: str, query: dict[str, str]) -> tuple[OperationModel, dict[str, str]] | None:
        for route in self._routes:
            labels = route.match(method, path, query)
            if labels is not None:
                return route.operation, labels
        return None
