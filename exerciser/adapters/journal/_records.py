"""Reading journal rows back into values: ``LedgerRow``, ``RunRecord`` and the plain
dicts of the audit helpers (datetimes, Decimals and states decoded)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import MISSING, fields
from datetime import date
from decimal import Decimal
from typing import Any

from exerciser.adapters.journal._codec import read_datetime, read_decimal, read_json
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.ports import RunRecord

LEDGER_COLUMNS = (
    "instruction_id, business_date, account_id, instrument_id, symbol, instruction_type, "
    "quantity, state, server_id, accepted_quantity, reason, reason_code, raw_status, "
    "attempts, superseded"
)
RUN_COLUMNS = "run_id, business_date, as_of, started_at, command, dry_run, ended_at, outcome"
OBSERVATION_COLUMNS = (
    "id, run_id, at, source, state, applied, server_id, raw_status, accepted_quantity, "
    "reason, reason_code, attempt_id"
)
EVENT_COLUMNS = "id, at, run_id, business_date, kind, instruction_id, account_id, data"
ATTEMPT_COLUMNS = (
    "a.id, a.run_id, a.account_id, a.started_at, a.ended_at, a.outcome, a.http_status, "
    "a.request_id, (SELECT count(*) FROM attempt_rows r WHERE r.attempt_id = a.id)"
)

_STATES = {state.value: state for state in RowState}
_TYPES = {kind.value: kind for kind in InstructionType}
_CHUNK = 500  # ids per IN (...) query, well under SQLite's variable limit


def ledger_row(values: Sequence[Any]) -> LedgerRow:
    """The ``LedgerRow`` of ``LEDGER_COLUMNS`` values."""
    iid, day, account, instrument, symbol, kind, quantity, state = values[:8]
    server_id, accepted, reason, reason_code, raw_status, attempts, superseded = values[8:]
    parsed_quantity = None if quantity is None else Decimal(quantity)
    assert parsed_quantity is not None
    business_date = date.fromisoformat(day)
    try:
        kind, state = _TYPES[kind], _STATES[state]
    except KeyError as exc:
        raise ValueError(f"ledger row {iid}: unknown value {exc}") from exc
    return new_ledger_row(
        (
            iid,
            business_date,
            account,
            instrument,
            symbol,
            kind,
            parsed_quantity,
            state,
            server_id,
            None if accepted is None else Decimal(accepted),
            reason,
            reason_code,
            raw_status,
            attempts,
            bool(superseded),
        )
    )


LEDGER_FIELDS = tuple(f.name for f in fields(LedgerRow))
# The fields ``_by_slots`` sets, in order: LEDGER_COLUMNS, and LedgerRow's fields today.
SLOTS_FOR = (
    "instruction_id",
    "business_date",
    "account_id",
    "instrument_id",
    "symbol",
    "instruction_type",
    "quantity",
    "state",
    "server_id",
    "accepted_quantity",
    "reason",
    "reason_code",
    "raw_status",
    "attempts",
    "superseded",
)
_new = object.__new__


def _setter(name: str) -> Callable[[LedgerRow, Any], None]:
    """The slot descriptor's ``__set__`` of the field ``name`` (a no-op for a field
    ``LedgerRow`` no longer has: ``BY_SLOTS`` is then false and it is never called)."""
    setter: Callable[[LedgerRow, Any], None] = getattr(
        getattr(LedgerRow, name, None), "__set__", lambda _row, _value: None
    )
    return setter


_SETTERS = tuple(_setter(name) for name in SLOTS_FOR)
(_iid, _day, _account, _instrument, _symbol, _kind, _quantity, _state, _server_id) = _SETTERS[:9]
(_accepted, _reason, _reason_code, _raw_status, _attempts, _superseded) = _SETTERS[9:]


def _by_slots(v: Sequence[Any]) -> LedgerRow:
    """What ``LedgerRow(**dict(zip(SLOTS_FOR, v)))`` makes, built as the frozen
    dataclass's ``__init__`` builds it, one slot after the other, but without the
    keyword call, the defaults, and the way around the frozen ``__setattr__`` through
    ``object.__setattr__``: 0.8 us a row against 1.7 us."""
    row = _new(LedgerRow)
    _iid(row, v[0])
    _day(row, v[1])
    _account(row, v[2])
    _instrument(row, v[3])
    _symbol(row, v[4])
    _kind(row, v[5])
    _quantity(row, v[6])
    _state(row, v[7])
    _server_id(row, v[8])
    _accepted(row, v[9])
    _reason(row, v[10])
    _reason_code(row, v[11])
    _raw_status(row, v[12])
    _attempts(row, v[13])
    _superseded(row, v[14])
    return row


def _by_keywords(values: Sequence[Any]) -> LedgerRow:
    return LedgerRow(**dict(zip(SLOTS_FOR, values, strict=True)))


_DEFAULTS = tuple(f.default for f in fields(LedgerRow)[7:])  # state ... superseded
# By slots only while ``LedgerRow`` is the plain frozen, slotted dataclass of these
# fields that it is (its ``__init__`` does nothing but set them, the last eight to plain
# defaults); else the constructor.
BY_SLOTS = (
    LEDGER_FIELDS == SLOTS_FOR
    and "__slots__" in vars(LedgerRow)
    and not hasattr(LedgerRow, "__post_init__")
    and LedgerRow.__new__ is object.__new__
    and MISSING not in _DEFAULTS
)
new_ledger_row: Callable[[Sequence[Any]], LedgerRow] = _by_slots if BY_SLOTS else _by_keywords
"""A ``LedgerRow`` of the values of the fields ``SLOTS_FOR`` names, in that order."""


def pending_ledger_row(
    *,
    instruction_id: str,
    business_date: date,
    account_id: int,
    instrument_id: str,
    symbol: str,
    instruction_type: InstructionType,
    quantity: Decimal,
) -> LedgerRow:
    """``LedgerRow(...)`` of these fields, every other one at its default (PENDING)."""
    if not BY_SLOTS:
        return LedgerRow(
            instruction_id=instruction_id,
            business_date=business_date,
            account_id=account_id,
            instrument_id=instrument_id,
            symbol=symbol,
            instruction_type=instruction_type,
            quantity=quantity,
        )
    return _by_slots(
        (
            instruction_id,
            business_date,
            account_id,
            instrument_id,
            symbol,
            instruction_type,
            quantity,
            *_DEFAULTS,
        )
    )


def ledger_rows_by_id(connection: sqlite3.Connection, ids: Iterable[str]) -> dict[str, LedgerRow]:
    """The ledger rows of ``ids`` that exist, by instruction id."""
    return {values[0]: ledger_row(values) for values in _by_id(connection, LEDGER_COLUMNS, ids)}


def ledger_states(connection: sqlite3.Connection, ids: Iterable[str]) -> dict[str, RowState]:
    """The state of each of ``ids`` that is in the ledger: all ``apply`` needs to know of
    a row, without building the whole ``LedgerRow``."""
    found: dict[str, RowState] = {}
    for iid, state in _by_id(connection, "instruction_id, state", ids):
        try:
            found[iid] = _STATES[state]
        except KeyError as exc:
            raise ValueError(f"ledger row {iid}: unknown value {exc}") from exc
    return found


def ledger_accounts(connection: sqlite3.Connection, ids: Iterable[str]) -> dict[str, int]:
    """The account of each of ``ids`` that is in the ledger."""
    return dict(_by_id(connection, "instruction_id, account_id", ids))


def _by_id(connection: sqlite3.Connection, columns: str, ids: Iterable[str]) -> Iterator[Any]:
    """``columns`` (the first being ``instruction_id``) of the ledger rows of ``ids``."""
    for chunk in _chunks(sorted(set(ids))):
        marks = ", ".join("?" * len(chunk))
        # only our column lists and placeholders go into the text; the ids are bound
        sql = f"SELECT {columns} FROM ledger WHERE instruction_id IN ({marks})"  # noqa: S608
        yield from connection.execute(sql, chunk)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def run_record(values: Sequence[Any]) -> RunRecord:
    run_id, day, as_of, started_at, command, dry_run = values[:6]
    as_of_at, started = read_datetime(as_of), read_datetime(started_at)
    assert as_of_at is not None
    assert started is not None
    return RunRecord(
        run_id=run_id,
        business_date=date.fromisoformat(day),
        as_of=as_of_at,
        started_at=started,
        command=command,
        dry_run=bool(dry_run),
    )


def run_dict(values: Sequence[Any]) -> dict[str, Any]:
    run = run_record(values)
    return {
        "run_id": run.run_id,
        "business_date": run.business_date,
        "as_of": run.as_of,
        "started_at": run.started_at,
        "command": run.command,
        "dry_run": run.dry_run,
        "ended_at": read_datetime(values[6]),
        "outcome": values[7],
    }


def observation_dict(values: Sequence[Any]) -> dict[str, Any]:
    ident, run_id, at, source, state, applied, server_id, raw_status = values[:8]
    accepted, reason, reason_code, attempt_id = values[8:]
    return {
        "id": ident,
        "run_id": run_id,
        "at": read_datetime(at),
        "source": source,
        "state": RowState(state),
        "applied": bool(applied),
        "server_id": server_id,
        "raw_status": raw_status,
        "accepted_quantity": read_decimal(accepted),
        "reason": reason,
        "reason_code": reason_code,
        "attempt_id": attempt_id,
    }


def event_dict(values: Sequence[Any]) -> dict[str, Any]:
    ident, at, run_id, day, kind, instruction_id, account_id, data = values
    return {
        "id": ident,
        "at": read_datetime(at),
        "run_id": run_id,
        "business_date": None if day is None else date.fromisoformat(day),
        "kind": kind,
        "instruction_id": instruction_id,
        "account_id": account_id,
        "data": read_json(data),
    }


def attempt_dict(values: Sequence[Any]) -> dict[str, Any]:
    ident, run_id, account_id, started_at, ended_at, outcome, http_status = values[:7]
    request_id, rows = values[7:]
    return {
        "id": ident,
        "run_id": run_id,
        "account_id": account_id,
        "started_at": read_datetime(started_at),
        "ended_at": read_datetime(ended_at),
        "outcome": outcome,
        "http_status": http_status,
        "request_id": request_id,
        "rows": rows,
    }
