"""Reading the ``underlyings`` and ``contracts`` sections of a scenario."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import cast

from exerciser.sim._reader import Field, Fields
from exerciser.sim.osi import parse_osi
from exerciser.sim.scenario import (
    CancelOutcome,
    Contract,
    ContractType,
    ExerciseStyle,
    Outcome,
    Underlying,
    UnderlyingType,
)

UNDERLYING_KEYS = ("symbol", "id", "type", "close", "last", "previous_close", "name")
CONTRACT_KEYS = (
    "symbol",
    "id",
    "underlying",
    "strike",
    "expiry",
    "type",
    "multiplier",
    "exercise_style",
    "settle_on_open",
    "outcome",
    "reject_reason",
    "accepted_fraction",
    "cancel_outcome",
    "cancel_failed_reason",
)


def instrument_id_for(symbol: str) -> str:
    """The deterministic default id of an instrument: uuid5 of ``sim:instrument:<symbol>``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim:instrument:{symbol}"))


def read_underlying(item: Field) -> Underlying:
    fields = item.mapping(allowed=UNDERLYING_KEYS, required=("symbol", "close"))
    symbol_field = fields.field("symbol")
    symbol = symbol_field.text().upper()
    if any(ch.isspace() for ch in symbol):
        symbol_field.fail(f"{symbol!r} is not a ticker (no spaces allowed)")
    close = positive(fields.field("close"))
    last, previous, ident, kind, name = (
        fields.get(key) for key in ("last", "previous_close", "id", "type", "name")
    )
    return Underlying(
        symbol=symbol,
        id=ident.uuid() if ident else instrument_id_for(symbol),
        type=cast(UnderlyingType, kind.choice(("COMMON_STOCK", "INDEX")))
        if kind
        else "COMMON_STOCK",
        close=close,
        last=positive(last) if last else close,
        previous_close=positive(previous) if previous else None,
        name=name.text() if name else None,
    )


def read_contract(item: Field, underlyings: dict[str, Underlying]) -> Contract:
    fields = item.mapping(allowed=CONTRACT_KEYS, required=("symbol", "underlying"))
    symbol_field = fields.field("symbol")
    try:
        osi = parse_osi(symbol_field.text())
    except ValueError as exc:
        symbol_field.fail(str(exc))
    underlying_field = fields.field("underlying")
    underlying = underlying_field.text().upper()
    if underlying not in underlyings:
        underlying_field.fail(f"{underlying!r} is not one of the scenario's underlyings")
    opt = fields.get
    outcome = opt("outcome")
    fraction_field = opt("accepted_fraction")
    fraction = fraction_field.decimal() if fraction_field else Decimal("0.5")
    if fraction_field and not Decimal(0) <= fraction <= Decimal(1):
        fraction_field.fail(f"{fraction_field.value!r} is not between 0 and 1")
    ident, strike, expiry, kind = opt("id"), opt("strike"), opt("expiry"), opt("type")
    multiplier, style, settle = opt("multiplier"), opt("exercise_style"), opt("settle_on_open")
    cancel_outcome, reason, cancel_reason = (
        opt("cancel_outcome"),
        opt("reject_reason"),
        opt("cancel_failed_reason"),
    )
    return Contract(
        symbol=osi.padded,
        id=ident.uuid() if ident else instrument_id_for(osi.padded),
        underlying=underlying,
        strike=positive(strike) if strike else osi.strike,
        expiry=expiry.day() if expiry else osi.expiry,
        contract_type=cast(ContractType, kind.choice(("CALL", "PUT")))
        if kind
        else cast(ContractType, osi.contract_type),
        multiplier=positive(multiplier) if multiplier else Decimal(100),
        exercise_style=cast(ExerciseStyle, style.choice(("AMERICAN", "EUROPEAN")))
        if style
        else "AMERICAN",
        settle_on_open=settle.boolean() if settle else False,
        outcome=cast(Outcome, outcome.choice(("accept", "reject", "partial")))
        if outcome
        else "accept",
        reject_reason=reason.text() if reason else "Rejected by clearing",
        accepted_fraction=fraction,
        cancel_outcome=cast(CancelOutcome, cancel_outcome.choice(("cancelled", "cancel_failed")))
        if cancel_outcome
        else "cancelled",
        cancel_failed_reason=cancel_reason.text()
        if cancel_reason
        else "Cancel rejected by clearing",
    )


def check_unique_instruments(
    top: Fields, underlyings: tuple[Underlying, ...], contracts: tuple[Contract, ...]
) -> None:
    seen: dict[str, str] = {}
    rows: list[tuple[str, str, str]] = [
        (f"underlyings[{i}]", u.symbol, u.id) for i, u in enumerate(underlyings)
    ] + [(f"contracts[{i}]", c.symbol, c.id) for i, c in enumerate(contracts)]
    for path, symbol, ident in rows:
        for key, value in (("symbol", symbol), ("id", ident)):
            if value in seen:
                Field(value, f"{path}.{key}", top.where.source).fail(
                    f"{value!r} is a duplicate (also {seen[value]})"
                )
            seen[value] = f"{path}.{key}"


def positive(field: Field) -> Decimal:
    number = field.decimal()
    if number <= 0:
        field.fail(f"{field.value!r} must be greater than zero")
    return number
