"""Reply data straight to domain values, for the replies the daemon reads by the thousand.

The pydantic models in ``models`` define what a valid reply is and word every complaint
about one. Reading a page through them and then copying each model into a domain value
costs about 4.5 us a position row (validate, then copy), most of a reply's parsing. The
*lean* readers here build the domain values directly from the parsed JSON, but only for
the plain shape the API documents and sends: every field of the expected JSON type,
money and quantities as plain decimal strings (``-12.50``; JSON numbers, which the client
parses with ``parse_float=Decimal``, are taken as they are), dates and times in the
one ISO form. Anything else (a missing or retyped field, a blank or padded number, an
odd date) raises ``Unusual`` and the reply is read again the exact way, through the
models and the ``to_*`` copies below, which then either accept it (the models are more
lenient than the lean readers) or raise the ``ValidationError`` that becomes the
client's protocol error. So what is accepted, the values it reads as, and every error
message are the models' by construction; ``tests/adapters/test_readers.py`` checks the
two ways against each other on every API revision and on fuzzed replies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter

from exerciser.adapters.clearstreet import models
from exerciser.domain.book import Contract, Position, Quote, Right
from exerciser.domain.instructions import InstructionStatus
from exerciser.domain.ledger import BrokerInstruction
from exerciser.domain.positional import require_fields

T = TypeVar("T")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_plain_date = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_plain_time = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
).fullmatch
# Quantities, prices and times recur (1, 10, a contract's close in every account that
# holds it, the second a batch was stored): the Decimals read from text, and the times
# already checked, are kept, up to a bound. Decimals are immutable: sharing them is safe.
_KEPT = 8192
_decimals: dict[str, Decimal] = {}
_times: set[str] = set()
_STATUSES = {str(s): s for s in InstructionStatus}  # as sent; parse() for anything else
_RIGHTS = {"CALL": Right.CALL, "PUT": Right.PUT}


# _position and _instruction build these positionally (a keyword call costs a dict of
# the arguments and a match of every name): the fields, in order, that they pass.
_POSITIONAL = {
    Position: (
        "account_id", "instrument_id", "symbol", "is_option", "quantity",
        "available_quantity", "is_short", "underlying_id",
    ),
    BrokerInstruction: (
        "server_id", "instruction_id", "account_id", "instrument_id", "instruction_type",
        "quantity", "status", "raw_status", "accepted_quantity", "reason", "reason_code",
    ),
}  # fmt: skip
for _kind, _names in _POSITIONAL.items():
    require_fields(_kind, _names, update="the reader that builds it")


class Unusual(Exception):
    """The data is not in the plain shape the lean reader handles."""


# ------------------------------------------------------------- the exact way


def to_position(p: models.Position) -> Position:
    return Position(
        account_id=p.account_id,
        instrument_id=p.instrument_id,
        symbol=p.symbol,
        is_option=p.is_option,
        quantity=p.quantity,
        available_quantity=p.available_quantity,
        is_short=p.is_short,
        underlying_id=p.underlying_instrument_id,
    )


def to_contract(c: models.OptionContract) -> Contract:
    return Contract(
        id=c.id,
        symbol=c.symbol,
        right=Right(c.contract_type.upper()),
        strike=c.strike_price,
        expiry=c.expiry,
        multiplier=c.multiplier,
        exercise_style=c.exercise_style,
        settle_on_open=bool(c.is_settle_on_open),
        underlying_id=c.underlying_instrument_id,
    )


def to_quote(s: models.Snapshot) -> Quote | None:
    if s.last_trade is None:
        return None
    return Quote(
        instrument_id=s.instrument_id,
        symbol=s.symbol,
        price=s.last_trade.price,
        traded_at=s.last_trade.timestamp,
    )


def to_broker_instruction(row: models.Instruction) -> BrokerInstruction:
    return BrokerInstruction(
        server_id=row.id,
        instruction_id=row.instruction_id,
        account_id=row.account_id,
        instrument_id=row.instrument_id,
        instruction_type=str(row.instruction_type),
        quantity=row.quantity,
        status=row.status,
        raw_status=row.raw_status,
        accepted_quantity=row.accepted_quantity,
        reason=row.reason,
        reason_code=row.reason_code,
    )


_POSITIONS = TypeAdapter(list[models.Position])
_CONTRACTS = TypeAdapter(list[models.OptionContract])
_INSTRUCTIONS = TypeAdapter(list[models.Instruction])


def exact_positions(data: Any) -> list[Position]:
    return [to_position(p) for p in _POSITIONS.validate_python(data)]


def exact_contracts(data: Any) -> list[Contract]:
    return [to_contract(c) for c in _CONTRACTS.validate_python(data)]


def exact_instructions(data: Any) -> list[BrokerInstruction]:
    return [to_broker_instruction(r) for r in _INSTRUCTIONS.validate_python(data)]


# -------------------------------------------------------------- the lean way


def _text(value: Any) -> str:
    if type(value) is not str:
        raise Unusual
    return value


def _optional_text(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise Unusual
    return value


def _int64(value: Any) -> int:
    if type(value) is not int or not _INT64_MIN <= value <= _INT64_MAX:
        raise Unusual
    return value


def _decimal(value: Any) -> Decimal:
    kind = type(value)
    if kind is str:
        number = _decimals.get(value)
        if number is not None:
            return number
        # What the models make of any text: Decimal(text), refused when not finite.
        number = Decimal(value)  # InvalidOperation: Unusual, in _rows
        if not number.is_finite():
            raise Unusual
        if len(_decimals) < _KEPT:
            _decimals[value] = number
        return number
    if kind is Decimal:
        number = value  # a JSON number, parsed exactly (parse_float=Decimal)
    elif kind is int:
        number = Decimal(value)
    else:
        raise Unusual
    if not number.is_finite():
        raise Unusual
    return cast(Decimal, number)


def _optional_decimal(value: Any) -> Decimal | None:
    if value is None or (type(value) is str and not value.strip()):
        return None
    return _decimal(value)


def _optional_time(value: Any) -> None:
    """Checked as the models check it; the domain does not keep it."""
    if value is None or value in _times:
        return
    if type(value) is not str or not _plain_time(value):
        raise Unusual
    datetime.fromisoformat(value)  # ValueError (e.g. month 13): Unusual, in _rows
    if len(_times) < _KEPT:
        _times.add(value)


def _day(value: Any) -> date:
    if type(value) is not str or not _plain_date(value):
        raise Unusual
    return date.fromisoformat(value)


def _rows(data: Any, read: Callable[[dict[str, Any]], T]) -> list[T]:
    if type(data) is not list:
        raise Unusual
    out = []
    try:
        for row in data:
            if type(row) is not dict:
                raise Unusual
            out.append(read(row))
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise Unusual from exc
    return out


def _position(row: dict[str, Any]) -> Position:
    get = row.get
    quantity = _decimal(row["quantity"])
    position_type = _text(get("position_type", ""))
    _optional_decimal(get("closing_price"))
    _optional_decimal(get("instrument_price"))
    return Position(  # positionally, in the order of its fields
        _int64(row["account_id"]),
        _text(row["instrument_id"]),
        _text(row["symbol"]),
        _text(row["instrument_type"]).upper() == "OPTION",  # is_option
        quantity,
        _decimal(row["available_quantity"]),
        quantity < 0 or position_type.upper().startswith("SHORT"),  # is_short
        _optional_text(get("underlying_instrument_id")),
    )


def _contract(row: dict[str, Any]) -> Contract:
    get = row.get
    settle_on_open = get("is_settle_on_open")
    if settle_on_open is not None and type(settle_on_open) is not bool:
        raise Unusual
    _optional_text(get("listing_type"))
    return Contract(
        id=_text(row["id"]),
        symbol=_text(row["symbol"]),
        right=_RIGHTS[_text(row["contract_type"]).strip().upper()],
        strike=_decimal(row["strike_price"]),
        expiry=_day(row["expiry"]),
        multiplier=_decimal(row["multiplier"]),
        exercise_style=_text(get("exercise_style", "")),
        settle_on_open=bool(settle_on_open),
        underlying_id=_optional_text(get("underlying_instrument_id")),
    )


def _instruction(row: dict[str, Any]) -> BrokerInstruction:
    get = row.get
    # Either revision's idempotency key, in the models' order of preference.
    key = row["instruction_id"] if "instruction_id" in row else row["client_instruction_id"]
    raw_status = _text(row["status"])
    _text(get("symbol", ""))
    _optional_time(get("created_at"))
    _optional_time(get("updated_at"))
    reason = _optional_text(get("rejection_reason"))
    code: str | None = None
    rejection = get("rejection")
    if rejection is None:
        reason = reason or None  # as models.Instruction.reason reads it
    else:
        if type(rejection) is not dict:
            raise Unusual
        code = _optional_text(rejection.get("reason"))
        description = _optional_text(rejection.get("description"))
        _optional_text(rejection.get("domain"))
        metadata = rejection.get("metadata", {})
        if type(metadata) is not dict:
            raise Unusual
        for value in metadata.values():
            str(value)  # what the model keeps; it only fails on absurd values
        reason = reason or description or code
    return BrokerInstruction(  # positionally, in the order of its fields
        _optional_text(get("id")),  # server_id
        _text(key),
        _int64(row["account_id"]),
        _text(row["instrument_id"]),
        _text(row["instruction_type"]),
        _decimal(row["quantity"]),
        _STATUSES.get(raw_status) or InstructionStatus.parse(raw_status),
        raw_status,
        _optional_decimal(get("accepted_quantity")),
        reason,
        code,  # reason_code
    )


def lean_positions(data: Any) -> list[Position]:
    return _rows(data, _position)


def lean_contracts(data: Any) -> list[Contract]:
    return _rows(data, _contract)


def lean_instructions(data: Any) -> list[BrokerInstruction]:
    return _rows(data, _instruction)


# -------------------------------------------------------------------- both


def lean_or_exact(
    lean: Callable[[Any], list[T]], exact: Callable[[Any], list[T]]
) -> Callable[[Any], list[T]]:
    """A reader that takes the lean way and, for data it does not handle, the exact one."""

    def read(data: Any) -> list[T]:
        try:
            return lean(data)
        except Unusual:
            return exact(data)

    return read


positions = lean_or_exact(lean_positions, exact_positions)
contracts = lean_or_exact(lean_contracts, exact_contracts)
instructions = lean_or_exact(lean_instructions, exact_instructions)
