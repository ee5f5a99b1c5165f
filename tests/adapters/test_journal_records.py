"""Ledger rows read back from the journal: ``ledger_row`` builds each ``LedgerRow`` slot
by slot (the hot path of ``rows`` and ``open_rows``), and must make exactly the value
the dataclass's own constructor makes."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from exerciser.adapters.journal import _records as rec
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import LedgerRow, RowState

STORED = (
    "exr-20261120-1042-0001",
    "2026-11-20",
    1042,
    "0195f6d0-a1b2-7c3d-8e4f-000000000001",
    "AAPL  261120C00190000",
    "EXERCISE",
    "5",
    "ACCEPTED",
    "0195f6d0-a1b2-7c3d-8e4f-00000000aaaa",
    "4",
    "partly accepted",
    None,
    "ACCEPTED",
    2,
    1,
)
EXPECTED = LedgerRow(
    instruction_id="exr-20261120-1042-0001",
    business_date=date(2026, 11, 20),
    account_id=1042,
    instrument_id="0195f6d0-a1b2-7c3d-8e4f-000000000001",
    symbol="AAPL  261120C00190000",
    instruction_type=InstructionType.EXERCISE,
    quantity=Decimal(5),
    state=RowState.ACCEPTED,
    server_id="0195f6d0-a1b2-7c3d-8e4f-00000000aaaa",
    accepted_quantity=Decimal(4),
    reason="partly accepted",
    reason_code=None,
    raw_status="ACCEPTED",
    attempts=2,
    superseded=True,
)


def test_the_slot_by_slot_build_is_in_use_for_the_ledger_row_of_today() -> None:
    """Should ``LedgerRow`` change (a field, a ``__post_init__``), the journal falls back
    to the constructor: update ``SLOTS_FOR`` and ``_by_slots`` with it."""
    assert rec.BY_SLOTS
    assert rec.SLOTS_FOR == rec.LEDGER_FIELDS
    assert rec.LEDGER_COLUMNS.split(", ") == list(rec.SLOTS_FOR)


def test_a_stored_row_reads_as_the_constructor_makes_it() -> None:
    row = rec.ledger_row(STORED)
    assert row == EXPECTED
    assert hash(row) == hash(EXPECTED)
    assert repr(row) == repr(EXPECTED)
    assert type(row.superseded) is bool
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.state = RowState.SENT  # type: ignore[misc]


def test_a_new_row_has_every_other_field_at_its_default() -> None:
    fields = {f.name: getattr(EXPECTED, f.name) for f in dataclasses.fields(LedgerRow)[:7]}
    row = rec.pending_ledger_row(**fields)
    assert row == LedgerRow(**fields)
    assert repr(row) == repr(LedgerRow(**fields))
    assert row.state is RowState.PENDING


def test_the_constructor_fallback_makes_the_same_row() -> None:
    values = [getattr(EXPECTED, name) for name in rec.SLOTS_FOR]
    assert rec._by_keywords(values) == rec._by_slots(values) == EXPECTED


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (5, "EXERCISE_ALL", "unknown value 'EXERCISE_ALL'"),
        (7, "LOST", "unknown value 'LOST'"),
        (1, "20261120x", "Invalid isoformat string"),
    ],
)
def test_a_value_this_code_cannot_read_is_a_value_error(
    column: int, value: str, message: str
) -> None:
    stored = list(STORED)
    stored[column] = value
    with pytest.raises(ValueError, match=message):
        rec.ledger_row(stored)
