"""Marker/MaxItems pagination, as every Lambda List operation does it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lambdabox.model.errors import InvalidParameterValue
from lambdabox.model.limits import DEFAULT_PAGE_SIZE

T = TypeVar("T")


def encode_marker(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterValue("Invalid Marker: it must be a NextMarker returned by a previous call.") from None


def page(
    items: Sequence[T], position: Callable[[T], str], marker: str | None, max_items: int | None
) -> tuple[list[T], str | None]:
    """The items after `marker` (in the order given), at most `max_items`, and the NextMarker if more remain."""
    after = decode_marker(marker)
    if after is not None:
        items = [item for item in items if position(item) > after]
    size = max_items or DEFAULT_PAGE_SIZE
    chosen = list(items[:size])
    more = len(items) > size
    return chosen, (encode_marker(position(chosen[-1])) if more and chosen else None)


def with_marker(body: dict[str, Any], next_marker: str | None) -> dict[str, Any]:
    if next_marker:
        body["NextMarker"] = next_marker
    return body
