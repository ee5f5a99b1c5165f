"""The outcome report: plan rows joined with their ledger rows, who needs a person and
why, superseded instructions apart, as records, JSON, CSV and a terminal table."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from exerciser.domain.book import Right
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Outcome, Plan, PlanAction, PlanRow
from exerciser.reports.outcome import (
    CSV_FIELDS,
    FIELDS,
    outcome_csv,
    outcome_json,
    outcome_records,
    outcome_table,
    superseded_records,
)
from exerciser.services.reconcile import ReconcileReport
from exerciser.services.run import RunOutcome

DAY = date(2026, 11, 20)
AS_OF = datetime(2026, 11, 20, 21, 1, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


def plan_row(n: int, action: PlanAction = PlanAction.EXERCISE, **changes: Any) -> PlanRow:
    row = PlanRow(
        account_id=100_000 + n,
        instrument_id=f"inst-{n}",
        symbol=f"AAPL  261120C00{100 + n:03d}000",
        root="AAPL",
        underlying_symbol="AAPL",
        expiry=DAY,
        right=Right.CALL,
        strike=Decimal(100 + n),
        multiplier=Decimal(100),
        position_quantity=Decimal(5),
        available_quantity=Decimal(5),
        quantity=Decimal(5),
        occ_reference_price=Decimal("190.005"),
        decision_price=Decimal("190.01"),
        price_source="broker",
        itm_amount=Decimal("0.01"),
        occ_would_exercise=True,
        want_exercise=action is not PlanAction.DO_NOT_EXERCISE,
        action=action,
        expected_outcome=Outcome.EXERCISED,
        instruction_id=f"xr-{n}" if action.instruction_type is not None else None,
        reasons=(f"reason {n}",),
    )
    return replace(row, **changes)


def ledger(row: PlanRow, state: RowState = RowState.ACCEPTED, **changes: Any) -> LedgerRow:
    assert row.instruction_id is not None
    assert row.instruction_type is not None
    entry = LedgerRow(
        instruction_id=row.instruction_id,
        business_date=DAY,
        account_id=row.account_id,
        instrument_id=row.instrument_id,
        symbol=row.symbol,
        instruction_type=row.instruction_type,
        quantity=row.quantity,
        state=state,
        server_id="srv-" + row.instruction_id if state is not RowState.PENDING else None,
        accepted_quantity=row.quantity if state is RowState.ACCEPTED else None,
    )
    return replace(entry, **changes)


def run_outcome(
    rows: list[PlanRow],
    entries: list[LedgerRow] | None = None,
    *,
    dry_run: bool = False,
    superseded: list[LedgerRow] | None = None,
    warnings: tuple[str, ...] = (),
    missing: set[str] | None = None,
) -> RunOutcome:
    plan = Plan(business_date=DAY, as_of=AS_OF, rows=tuple(rows), warnings=warnings)
    return RunOutcome(
        run_id="run-1",
        plan=plan,
        internal_cutoff=CUTOFF,
        dry_run=dry_run,
        rows=entries or [],
        superseded=superseded or [],
        reconcile=ReconcileReport(missing=missing or set()),
    )


def test_records_join_each_plan_row_with_the_ledger_row_of_its_instruction() -> None:
    a, b = plan_row(1), plan_row(2, PlanAction.DO_NOT_EXERCISE)
    none = plan_row(3, PlanAction.NONE)
    entries = [  # the ledger's order is not the plan's
        ledger(b, RowState.REJECTED, reason="no position", reason_code="E42"),
        ledger(a, accepted_quantity=Decimal(5)),
    ]
    records = outcome_records(run_outcome([a, b, none], entries))

    assert [r["instruction_id"] for r in records] == ["xr-1", "xr-2", None]
    assert list(records[0]) == list(FIELDS)
    assert (records[0]["state"], records[0]["accepted_quantity"]) == ("ACCEPTED", "5")
    assert records[0]["broker_reason"] is None
    assert records[1]["state"] == "REJECTED"
    assert records[1]["broker_reason"] == "no position (E42)"
    assert records[2]["state"] is None
    assert records[2]["attention"] is False
    assert records[0]["strike"] == "101"
    assert records[0]["reasons"] == ["reason 1"]


@pytest.mark.parametrize(
    ("state", "changes", "expected"),
    [
        pytest.param(RowState.ACCEPTED, {}, None, id="accepted-in-full-is-fine"),
        pytest.param(
            RowState.REJECTED,
            {"reason": "too late"},
            "rejected by the broker: too late",
            id="rejected",
        ),
        pytest.param(RowState.FAILED, {}, "failed: never reached the broker", id="failed"),
        pytest.param(
            RowState.FAILED,
            {"reason": "not sent: the earlier instruction could not be cancelled"},
            "failed: not sent: the earlier instruction could not be cancelled",
            id="failed-with-reason",
        ),
        pytest.param(RowState.CONFLICT, {}, "conflict: the broker holds", id="conflict"),
        pytest.param(
            RowState.ACCEPTED,
            {"accepted_quantity": Decimal(2)},
            "partly accepted: 2 of 5",
            id="partly-accepted",
        ),
        pytest.param(RowState.SENT, {}, "unresolved: still SENT", id="unresolved-sent"),
        pytest.param(RowState.PENDING, {}, "unresolved: still PENDING", id="unresolved-pending"),
        pytest.param(RowState.UNKNOWN, {}, "unresolved: still UNKNOWN", id="unresolved-unknown"),
        pytest.param(
            RowState.CANCELLED, {}, "cancelled: the instruction no longer", id="cancelled-by-hand"
        ),
        pytest.param(RowState.CANCEL_FAILED, {}, "cancel failed", id="cancel-failed"),
    ],
)
def test_attention_flags_each_way_an_instruction_can_go_wrong(
    state: RowState, changes: dict[str, Any], expected: str | None
) -> None:
    row = plan_row(1)
    (record,) = outcome_records(run_outcome([row], [ledger(row, state, **changes)]))
    assert record["attention"] is (expected is not None)
    if expected is None:
        assert record["attention_reason"] is None
    else:
        assert record["attention_reason"].startswith(expected)


def test_manual_review_needs_a_person_although_nothing_was_sent() -> None:
    (record,) = outcome_records(run_outcome([plan_row(1, PlanAction.MANUAL_REVIEW)]))
    assert record["attention"] is True
    assert record["attention_reason"].startswith("manual review")
    assert record["state"] is None


def test_an_instruction_missing_from_the_ledger_of_a_live_run_needs_a_person() -> None:
    (record,) = outcome_records(run_outcome([plan_row(1)], []))
    assert record["attention"] is True
    assert record["attention_reason"].startswith("not in the ledger")


def test_an_open_row_the_broker_does_not_list_says_so() -> None:
    row = plan_row(1)
    (record,) = outcome_records(run_outcome([row], [ledger(row, RowState.SENT)], missing={"xr-1"}))
    assert record["attention_reason"] == (
        "unresolved: still SENT at the end of the run; the broker does not list it"
    )


def test_a_dry_run_flags_only_manual_review_and_journals_nothing() -> None:
    rows = [plan_row(1), plan_row(2, PlanAction.MANUAL_REVIEW), plan_row(3, PlanAction.NONE)]
    outcome = run_outcome(rows, dry_run=True)
    records = outcome_records(outcome)
    assert [r["attention"] for r in records] == [False, True, False]
    assert all(r["state"] is None for r in records)

    document = json.loads(outcome_json(outcome))
    assert document["dry_run"] is True
    assert set(document["summary"]["by_state"].values()) == {0}
    assert document["summary"]["attention"] == 1
    assert document["summary"]["ok"] is True
    assert "Dry run: nothing was sent." in outcome_table(outcome)


def test_json_round_trips_with_money_as_strings_and_counts_in_the_summary() -> None:
    a, b = plan_row(1), plan_row(2, PlanAction.DO_NOT_EXERCISE)
    review, none = plan_row(3, PlanAction.MANUAL_REVIEW), plan_row(4, PlanAction.NONE)
    old = replace(ledger(plan_row(9)), instruction_id="xr-old", superseded=True)
    outcome = run_outcome(
        [a, b, review, none],
        [ledger(a), ledger(b, RowState.REJECTED, reason="no")],
        superseded=[replace(old, state=RowState.CANCELLED)],
        warnings=("pin risk on short X",),
    )
    document = json.loads(outcome_json(outcome))

    assert list(document) == [
        "run_id",
        "business_date",
        "as_of",
        "internal_cutoff",
        "dry_run",
        "rows",
        "superseded",
        "warnings",
        "summary",
    ]
    assert document["run_id"] == "run-1"
    assert document["business_date"] == "2026-11-20"
    assert datetime.fromisoformat(document["as_of"]) == AS_OF
    assert datetime.fromisoformat(document["internal_cutoff"]) == CUTOFF
    assert document["rows"][0]["occ_reference_price"] == "190.005"
    assert document["rows"][0]["accepted_quantity"] == "5"
    assert document["warnings"] == ["pin risk on short X"]
    summary = document["summary"]
    assert summary["by_action"] == {
        "EXERCISE": 1,
        "DO_NOT_EXERCISE": 1,
        "CONTRARY_EXERCISE": 0,
        "NONE": 1,
        "MANUAL_REVIEW": 1,
    }
    assert {k: v for k, v in summary["by_state"].items() if v} == {"ACCEPTED": 1, "REJECTED": 1}
    assert (summary["rows"], summary["instructions"], summary["superseded"]) == (4, 2, 1)
    assert summary["attention"] == 2  # the rejected row and the manual review
    assert summary["ok"] is False


def test_superseded_instructions_are_listed_apart_and_flagged_unless_cancelled() -> None:
    row = plan_row(1)
    cancelled = replace(
        ledger(plan_row(8)), instruction_id="xr-8", state=RowState.CANCELLED, superseded=True
    )
    standing = replace(
        ledger(plan_row(9)), instruction_id="xr-9", state=RowState.CANCEL_FAILED, superseded=True
    )
    still_accepted = replace(ledger(plan_row(7)), instruction_id="xr-7", superseded=True)
    outcome = run_outcome([row], [ledger(row)], superseded=[cancelled, standing, still_accepted])

    assert [r["instruction_id"] for r in outcome_records(outcome)] == ["xr-1"]
    records = superseded_records(outcome)
    assert [(r["instruction_id"], r["state"], r["attention"]) for r in records] == [
        ("xr-8", "CANCELLED", False),
        ("xr-9", "CANCEL_FAILED", True),
        ("xr-7", "ACCEPTED", True),
    ]
    assert records[1]["attention_reason"].startswith("not cancelled: the replaced instruction")
    assert records[0]["instruction_type"] == "EXERCISE"
    table = outcome_table(outcome)
    assert "Superseded (replaced by a later plan, to be cancelled):" in table
    assert "2 need a person" in table


def test_csv_has_the_header_and_one_line_per_plan_row_then_per_superseded() -> None:
    a, b = plan_row(1), plan_row(2, PlanAction.NONE)
    old = replace(ledger(plan_row(9)), instruction_id="xr-old", superseded=True)
    outcome = run_outcome(
        [a, replace(b, reasons=("one", "two"))],
        [ledger(a)],
        superseded=[replace(old, state=RowState.CANCELLED)],
    )
    lines = list(csv.DictReader(io.StringIO(outcome_csv(outcome))))

    assert outcome_csv(outcome).splitlines()[0].split(",") == list(CSV_FIELDS)
    assert len(lines) == 3
    assert [line["superseded"] for line in lines] == ["False", "False", "True"]
    assert lines[1]["reasons"] == "one | two"
    assert lines[1]["state"] == ""
    assert (lines[2]["instruction_id"], lines[2]["action"]) == ("xr-old", "EXERCISE")
    assert lines[2]["strike"] == ""


def test_table_lists_every_row_and_who_needs_a_person_with_why() -> None:
    a, b = plan_row(1), plan_row(2, PlanAction.MANUAL_REVIEW)
    outcome = run_outcome(
        [a, b], [ledger(a, RowState.REJECTED, reason="no position")], warnings=("pin risk",)
    )
    table = outcome_table(outcome)

    assert table.startswith("Run run-1 for 2026-11-20 as of 2026-11-20T21:01:00+00:00")
    assert "Needs a person:" in table
    assert f"#1 account 100001 {a.symbol}: rejected by the broker: no position" in table
    assert f"#2 account 100002 {b.symbol}: manual review" in table
    assert "  - pin risk" in table
    assert table.rstrip().endswith("0 superseded; 2 need a person")
