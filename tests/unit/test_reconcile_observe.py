"""What one look at an account's listing makes of our open rows: an update for each row
the broker reports differently, a debug line per update and an info line per account,
and the rows it does not list noted as missing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from exerciser.domain.instructions import InstructionStatus, InstructionType
from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowState, RowUpdate
from exerciser.services.reconcile import ReconcilePolicy, Reconciler, ReconcileReport

DAY = date(2026, 11, 20)


def sent(n: int) -> LedgerRow:
    return LedgerRow(
        instruction_id=f"xr-{n}",
        business_date=DAY,
        account_id=7,
        instrument_id=f"i-{n}",
        symbol=f"S{n}",
        instruction_type=InstructionType.EXERCISE,
        quantity=Decimal(3),
        state=RowState.SENT,
        server_id=f"srv-{n}",
        raw_status="SENT",
        attempts=1,
    )


def listed(row: LedgerRow, status: InstructionStatus) -> BrokerInstruction:
    return BrokerInstruction(
        server_id=row.server_id,
        instruction_id=row.instruction_id,
        account_id=row.account_id,
        instrument_id=row.instrument_id,
        instruction_type=row.instruction_type.value,
        quantity=row.quantity,
        status=status,
        raw_status=status.value,
        accepted_quantity=row.quantity if status is InstructionStatus.ACCEPTED else None,
    )


def test_changed_rows_become_updates_each_logged_and_unlisted_rows_are_missing() -> None:
    rows = [sent(n) for n in range(4)]
    held = [
        listed(rows[0], InstructionStatus.ACCEPTED),
        listed(rows[1], InstructionStatus.SENT),  # unchanged
        listed(rows[2], InstructionStatus.REJECTED),
    ]
    reconciler = Reconciler(
        broker=None,  # type: ignore[arg-type]  # _observe never calls it
        journal=None,  # type: ignore[arg-type]
        run_id="run-1",
        policy=ReconcilePolicy(until=datetime(2026, 11, 20, 22, tzinfo=UTC)),
        clock=lambda: datetime(2026, 11, 20, 21, tzinfo=UTC),
    )
    report = ReconcileReport()
    with capture_logs() as logs:
        updates = reconciler._observe(rows, held, report)
    assert updates == [RowUpdate.observed(held[0]), RowUpdate.observed(held[2])]
    assert report.missing == {"xr-3"}
    assert [(e["event"], e["log_level"], e.get("instruction_id")) for e in logs] == [
        ("instruction_updated", "debug", "xr-0"),
        ("instruction_updated", "debug", "xr-2"),
        ("instructions_updated", "info", None),
    ]
    assert logs[-1]["states"] == {"ACCEPTED": 1, "REJECTED": 1}
    assert logs[-1]["account_id"] == 7


ROW_STATE_OF = {
    InstructionStatus.SENT: RowState.SENT,
    InstructionStatus.ACCEPTED: RowState.ACCEPTED,
    InstructionStatus.REJECTED: RowState.REJECTED,
    InstructionStatus.ENGINE_REJECTED: RowState.REJECTED,  # older revisions
    InstructionStatus.CANCEL_REQUESTED: RowState.CANCEL_REQUESTED,
    InstructionStatus.CANCELLED: RowState.CANCELLED,
    InstructionStatus.CANCEL_FAILED: RowState.CANCEL_FAILED,
    InstructionStatus.UNKNOWN: RowState.UNKNOWN,
}


@pytest.mark.parametrize(("status", "state"), ROW_STATE_OF.items())
def test_each_broker_status_is_a_row_state(status: InstructionStatus, state: RowState) -> None:
    assert RowState.of(status) is state
    assert RowUpdate.observed(listed(sent(0), status)).state is state


def test_the_table_above_names_every_broker_status() -> None:
    """A status added later must be given its row state here, and in ``RowState.of``."""
    assert set(ROW_STATE_OF) == set(InstructionStatus)
