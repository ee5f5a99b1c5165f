"""Ledger rows read back from the journal: ``ledger_row`` decodes the stored columns
(the hot path of ``rows`` and ``open_rows``) into the ``LedgerRow`` they stand for, and
refuses a value it cannot read."""

from __future__ import annotations

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


def test_a_stored_row_reads_as_the_row_it_stands_for() -> None:
    row = rec.ledger_row(STORED)
    assert row == EXPECTED
    assert repr(row) == repr(EXPECTED)
    assert type(row.superseded) is bool
    assert type(row.quantity) is Decimal


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
