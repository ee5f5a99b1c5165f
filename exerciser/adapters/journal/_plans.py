"""A plan as the journal stores it: its rows as JSON records, and the ledger rows its
instructions become."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from exerciser.adapters.journal._codec import decimal_text, plan_record
from exerciser.domain.ledger import LedgerRow
from exerciser.domain.plan import Plan


def plan_row_values(run_id: str, plan: Plan) -> Iterator[tuple[Any, ...]]:
    """``plan_rows`` values, in plan order, one at a time: a 100,000-row plan's JSON
    records would otherwise sit in memory all at once (~80 MB)."""
    known: dict[int, str] = {}  # reasons already written: the plan keeps them alive
    for n, r in enumerate(plan.rows):
        yield (
            run_id,
            n,
            r.account_id,
            r.instrument_id,
            r.action.value,
            r.instruction_id,
            plan_record(r, known),
        )


def intended_rows(plan: Plan, *, fail: Callable[[str], Exception]) -> dict[str, LedgerRow]:
    """The PENDING ledger row of every instruction of the plan, by id, in plan order.

    Raises ``fail(problem)`` for a plan no correct planner makes: an id given twice (one
    instruction would stand for two rows), or an id on a row that sends nothing.
    """
    intended: dict[str, LedgerRow] = {}
    for r in plan.instructions:
        assert r.instruction_id is not None
        if r.instruction_type is None:
            raise fail(f"{r.instruction_id}: action {r.action} sends nothing")
        if r.instruction_id in intended:
            raise fail(f"instruction id {r.instruction_id} is in the plan twice")
        decimal_text(r.quantity)
        intended[r.instruction_id] = LedgerRow(  # positionally: one per instruction
            r.instruction_id,
            plan.business_date,
            r.account_id,
            r.instrument_id,
            r.symbol,
            r.instruction_type,
            r.quantity,
        )
    return intended


def terms(row: LedgerRow) -> tuple[object, ...]:
    """What the instruction id stands for: a row journaled under the same id with other
    terms means two different instructions share an id. Compared as ``domain.ids``
    reads them: the instrument id without case or padding, the quantity by value."""
    return (
        row.business_date,
        row.account_id,
        row.instrument_id.strip().lower(),
        row.instruction_type,
        row.quantity,
    )


def ledger_values(row: LedgerRow, *, run_id: str, at: str) -> tuple[Any, ...]:
    """``INSERT INTO ledger`` values of a new row."""
    return (
        row.instruction_id,
        run_id,
        row.business_date.isoformat(),
        row.account_id,
        row.instrument_id,
        row.symbol,
        row.instruction_type.value,
        decimal_text(row.quantity),
        row.state.value,
        at,
        at,
    )
