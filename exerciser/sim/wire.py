"""The wire format's small pieces: the envelope, replies, and how values are written.

Success: ``{"data": ..., "error": null, "metadata": {"request_id": ...}}`` (+ pagination
fields); failure: ``{"error": {"code": N, "message": ...}, "metadata": {...}}`` (+ ``data``
rows on batch rejections). Money and quantities are strings; times are UTC with ``Z``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

JsonObject = dict[str, Any]

NO_DATA: Any = object()  # marks "no data key at all" (not null)


class Reply(NamedTuple):
    """What an endpoint answers: status, JSON body, extra headers."""

    status: int
    body: JsonObject
    headers: dict[str, str]


class ApiFailure(Exception):
    """Raised inside an endpoint to answer with an error envelope."""

    def __init__(self, status: int, message: str, *, data: Any = NO_DATA) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data

    def reply(self) -> Reply:
        return failure(self.status, self.message, data=self.data)


def metadata(**pagination: Any) -> JsonObject:
    return {"request_id": str(uuid.uuid4()), **pagination}


def success(data: Any, *, status: int = 200, page: JsonObject | None = None) -> Reply:
    return Reply(status, {"data": data, "error": None, "metadata": metadata(**(page or {}))}, {})


def failure(
    status: int,
    message: str,
    *,
    data: Any = NO_DATA,
    headers: dict[str, str] | None = None,
) -> Reply:
    body: JsonObject = {}
    if data is not NO_DATA:
        body["data"] = data
    body["error"] = {"code": status, "message": message}
    body["metadata"] = metadata()
    return Reply(status, body, dict(headers or {}))


def batch(status: int, rows: list[JsonObject], *, error: JsonObject | None) -> Reply:
    """A submit reply carrying every row, with the batch summary ``error`` (or null)."""
    return Reply(status, {"data": rows, "error": error, "metadata": metadata()}, {})


# The texts below are pure functions of their argument, and the same values recur in
# every reply (a contract's price in every account that holds it, an instruction's
# times in every listing): each is remembered, up to a bound, so that a large book
# costs the simulator's one thread less. Under the benchmark's cycle these three ran
# about 650,000 times (1.4-1.7 us each, 0.08 remembered). Equal Decimals have the same
# text here (normalized); times are remembered only in UTC, where equal is one instant.
_KEPT = 65_536


@lru_cache(maxsize=_KEPT)
def decimal_text(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 190, 412.5, 0.005."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@lru_cache(maxsize=_KEPT)
def money_text(value: Decimal) -> str:
    """Money with at least two decimal places: 250000.00, 0.005."""
    if value == 0:
        value = abs(value)
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{value:.{places}f}"


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; fractional seconds only when present."""
    # Remembered in UTC only, where equal times are one instant and so one text.
    return _utc_timestamp(moment if moment.tzinfo is UTC else moment.astimezone(UTC))


@lru_cache(maxsize=_KEPT)
def _utc_timestamp(utc: datetime) -> str:
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def day(value: date) -> str:
    return value.isoformat()
