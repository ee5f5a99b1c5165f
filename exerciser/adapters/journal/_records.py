"""Reading journal rows back into values: ``LedgerRow``, ``RunRecord`` and the plain
dicts of the audit helpers (datetimes, Decimals and states decoded)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from exerciser.adapters.journal._codec import read_datetime, read_decimal, read_json
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.positional import require_fields
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

# ledger_row builds a LedgerRow positionally from these columns, so they must be its
# fields, in order.
require_fields(LedgerRow, LEDGER_COLUMNS.split(", "), update="LEDGER_COLUMNS and ledger_row")

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
    return LedgerRow(  # positionally: LEDGER_COLUMNS is the order of its fields
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
