"""Values in and out of SQLite: Decimals as their exact text (never REAL), datetimes as
ISO 8601 text in UTC (naive ones refused), dates ISO, and JSON records whose Decimals
are strings."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from exerciser.domain.plan import PlanRow

_PLAN_FIELDS = tuple(f.name for f in fields(PlanRow))


def decimal_text(value: Decimal) -> str:
    """The exact text of a finite Decimal: ``Decimal(decimal_text(d))`` has the same
    value, sign and exponent as ``d``."""
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}: {value!r}")
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    return str(value)


def optional_decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def read_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def utc_text(value: datetime) -> str:
    """``2026-11-20T21:30:00.000000+00:00``: fixed width, so text order is time order."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the journal needs aware times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def optional_utc_text(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def read_datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def date_text(value: date) -> str:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}: {value!r}")
    return value.isoformat()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot journal a {type(value).__name__}: {value!r}")


_ENCODER = json.JSONEncoder(
    default=_json_default, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def json_text(value: object) -> str:
    """Compact, key-sorted JSON; Decimals as strings, datetimes as UTC ISO text, enums
    by value. Anything else unknown is a TypeError, raised before any write."""
    return _ENCODER.encode(value)


def read_json(text: str) -> Any:
    return json.loads(text)


def plan_record(row: PlanRow) -> str:
    """The whole plan row, reasons included, as a JSON object (the hot path of a large
    plan: Decimals and dates are converted inline rather than through ``default``)."""
    record: dict[str, object] = {}
    for name in _PLAN_FIELDS:
        value = getattr(row, name)
        if value.__class__ is Decimal:
            value = decimal_text(value)
        elif value.__class__ is date:
            value = value.isoformat()
        record[name] = value
    return _ENCODER.encode(record)
