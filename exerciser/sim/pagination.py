"""Paging for list endpoints: ``page_size`` / ``page_token`` in, a page and metadata out.

A token is base64url of ``{"offset": N, "limit": M}`` (the shape of the spec's example
token). When a token is given, ``page_size`` is ignored, as the spec says.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from exerciser.sim.wire import ApiFailure, JsonObject

T = TypeVar("T")


def encode_token(offset: int, limit: int) -> str:
    raw = json.dumps({"offset": offset, "limit": limit}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str) -> tuple[int, int]:
    """The (offset, limit) in ``token``; ApiFailure 400 when it is not one of ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        state: Any = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise ApiFailure(400, f"Invalid page_token: {token!r}") from None
    offset = state.get("offset") if isinstance(state, dict) else None
    limit = state.get("limit") if isinstance(state, dict) else None
    if (
        not isinstance(offset, int)
        or not isinstance(limit, int)
        or isinstance(offset, bool)
        or isinstance(limit, bool)
        or offset < 0
        or limit < 1
    ):
        raise ApiFailure(400, f"Invalid page_token: {token!r}")
    return offset, limit


def requested_size(query: Mapping[str, str], cap: int) -> int:
    raw = query.get("page_size")
    if raw is None or raw == "":
        return cap
    try:
        size = int(raw)
    except ValueError:
        raise ApiFailure(400, f"page_size must be an integer, got {raw!r}") from None
    if not 1 <= size <= 1000:
        raise ApiFailure(400, f"page_size must be between 1 and 1000, got {size}")
    return min(size, cap)


def paginate(
    items: Sequence[T], query: Mapping[str, str], *, cap: int
) -> tuple[Sequence[T], JsonObject]:
    """One page of ``items`` and the pagination fields for ``metadata``."""
    token = query.get("page_token")
    if token:
        offset, limit = decode_token(token)
        limit = min(limit, cap)
    else:
        offset, limit = 0, requested_size(query, cap)
    total = len(items)
    end = offset + limit
    page = {
        "next_page_token": encode_token(end, limit) if end < total else None,
        "previous_page_token": encode_token(max(0, offset - limit), limit) if offset else None,
        "page_number": offset // limit + 1,
        "total_items": total,
        "total_pages": -(-total // limit),
    }
    return items[offset:end], page
