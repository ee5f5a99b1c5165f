"""Values in and out of SQLite: Decimals as their exact text (never REAL), datetimes as
ISO 8601 text in UTC (naive ones refused), dates ISO, and JSON records whose Decimals
are strings."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
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


def _any_value(value: object) -> str:
    """One value as ``json_text`` writes it: the general path, for whatever the typed
    fast paths below do not expect."""
    return _ENCODER.encode(value)


def _int_value(value: object) -> str:
    return int.__repr__(value) if value.__class__ is int else _any_value(value)


def _text_value(value: object) -> str:
    """A string or a ``StrEnum`` (written as its value, as ``json`` does), or None."""
    if isinstance(value, str):
        return _quoted(value)
    return "null" if value is None else _any_value(value)


def _decimal_value(value: object) -> str:
    if value.__class__ is Decimal and value.is_finite():
        return '"' + str(value) + '"'  # digits, sign, point, exponent: no escapes
    return "null" if value is None else _any_value(value)  # NaN: decimal_text raises


def _date_value(value: object) -> str:
    if value.__class__ is date:
        return f'"{value.isoformat()}"'
    return "null" if value is None else _any_value(value)


def _bool_value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "null" if value is None else _any_value(value)


def _texts_value(value: object) -> str:
    if value.__class__ is tuple and all(v.__class__ is str for v in value):
        return "[" + ",".join(map(_quoted, value)) + "]"
    return _any_value(value)


_quoted: Callable[[str], str] = json.encoder.encode_basestring_ascii

# The encoder of each PlanRow field by its annotation; a field whose annotation is not
# here (one added later) takes the general path, so it is written all the same.
_BY_ANNOTATION: dict[str, Callable[[object], str]] = {
    "int": _int_value,
    "str": _text_value,
    "str | None": _text_value,
    "Right | None": _text_value,
    "PlanAction": _text_value,
    "Outcome": _text_value,
    "Decimal": _decimal_value,
    "Decimal | None": _decimal_value,
    "date | None": _date_value,
    "bool | None": _bool_value,
    "tuple[str, ...]": _texts_value,
}
_PLAN_KEYS = sorted(_PLAN_FIELDS)  # json_text sorts keys: the same order, once
_PLAN_VALUES = operator.attrgetter(*_PLAN_KEYS)
_PLAN_ENCODERS = tuple(
    (_quoted(f.name) + ":", _BY_ANNOTATION.get(str(f.type), _any_value))
    for f in sorted(fields(PlanRow), key=lambda f: f.name)
)


def plan_record(row: PlanRow) -> str:
    """The whole plan row, reasons included, as a JSON object: exactly the text
    ``json_text`` makes of the row's fields as a dict (the hot path of a large plan, so
    each field is written by an encoder for its type rather than by ``json``)."""
    values = _PLAN_VALUES(row)
    return (
        "{"
        + ",".join(
            [key + encode(v) for (key, encode), v in zip(_PLAN_ENCODERS, values, strict=True)]
        )
        + "}"
    )
