"""The day's outcome: each plan row joined with the ledger row of its instruction, as
records, JSON, CSV or a terminal table. Money and quantities are strings.

A row needs a person (``attention``) when it was put to manual review, or when its
instruction did not end as intended: rejected, failed, in conflict with one we did not
send, partly accepted, cancelled, or still unresolved. Instructions of earlier plans
that this plan replaced (superseded) are listed apart; one needs a person unless its
cancel went through.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Plan, PlanAction, PlanRow
from exerciser.reports.plan import FIELDS as PLAN_FIELDS
from exerciser.reports.plan import row_record
from exerciser.reports.table import render_table

if TYPE_CHECKING:
    from exerciser.services.run import RunOutcome

OUTCOME_FIELDS = (*PLAN_FIELDS, "state", "accepted_quantity", "broker_reason")
FIELDS = (*OUTCOME_FIELDS, "attention", "attention_reason")
SUPERSEDED_FIELDS = (
    "instruction_id",
    "account_id",
    "instrument_id",
    "symbol",
    "instruction_type",
    "quantity",
    "state",
    "accepted_quantity",
    "broker_reason",
    "attention",
    "attention_reason",
)
CSV_FIELDS = (*FIELDS, "superseded")
MANUAL_REVIEW = "manual review: no instruction is sent; OCC's default applies unless someone acts"


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One plan row, the ledger row of its instruction (if any) and why it needs a
    person (``None`` when it does not)."""

    row: PlanRow
    ledger: LedgerRow | None
    attention: str | None


def joined_rows(plan: Plan, outcome: RunOutcome | None = None) -> list[OutcomeRow]:
    """Join ``plan``'s rows with ``outcome``'s ledger rows by instruction id. Without an
    outcome (a preview) and in a dry run nothing was sent: only manual review needs a
    person. With a live outcome an instruction missing from the ledger needs one too."""
    live = outcome is not None and not outcome.dry_run
    ledger = {r.instruction_id: r for r in outcome.rows} if outcome is not None else {}
    missing = outcome.reconcile.missing if outcome is not None and outcome.reconcile else set()
    joined: list[OutcomeRow] = []
    for row in plan.rows:
        found = ledger.get(row.instruction_id) if row.instruction_id is not None else None
        joined.append(
            OutcomeRow(
                row=row,
                ledger=found,
                attention=row_attention(row, found, live=live, missing=missing),
            )
        )
    return joined


def row_attention(
    row: PlanRow, ledger: LedgerRow | None, *, live: bool, missing: Iterable[str] = ()
) -> str | None:
    """Why a person must look at this plan row, or ``None``."""
    if row.action is PlanAction.MANUAL_REVIEW:
        return MANUAL_REVIEW
    if not live or row.instruction_id is None:
        return None
    if ledger is None:
        return "not in the ledger: no record that this instruction was sent"
    return ledger_attention(ledger, missing=missing)


def ledger_attention(row: LedgerRow, *, missing: Iterable[str] = ()) -> str | None:
    """Why a person must look at this instruction, or ``None`` when it ended as intended."""
    if row.ended_as_intended:
        return None
    if not row.state.is_terminal:
        why = f"unresolved: still {row.state.value} at the end of the run"
        if row.instruction_id in missing:
            why += "; the broker does not list it"
        return why
    if row.superseded and row.state in (RowState.ACCEPTED, RowState.CANCEL_FAILED):
        reason = f": {row.reason}" if row.reason else ""
        return f"not cancelled: the replaced instruction still stands ({row.state.value}){reason}"
    return _why(row)


def _why(row: LedgerRow) -> str:
    if row.state is RowState.ACCEPTED:
        return f"partly accepted: {_text(row.accepted_quantity)} of {_text(row.quantity)}"
    head, default = _WHY.get(row.state, (row.state.value, None))
    detail = row.reason or default
    return f"{head}: {detail}" if detail else head


_WHY: dict[RowState, tuple[str, str | None]] = {
    RowState.REJECTED: ("rejected by the broker", None),
    RowState.FAILED: ("failed", "never reached the broker"),
    RowState.CONFLICT: (
        "conflict",
        "the broker holds an instruction on this contract we did not send",
    ),
    RowState.CANCEL_FAILED: ("cancel failed", "the instruction still stands"),
    RowState.CANCELLED: ("cancelled", "the instruction no longer stands"),
}


def outcome_records(outcome: RunOutcome) -> list[dict[str, Any]]:
    """One JSON-ready record per plan row: its plan fields, then what became of it."""
    return [_record(j) for j in joined_rows(outcome.plan, outcome)]


def superseded_records(outcome: RunOutcome) -> list[dict[str, Any]]:
    """One JSON-ready record per instruction of an earlier plan that this one replaced."""
    missing = outcome.reconcile.missing if outcome.reconcile else set()
    records = []
    for row in outcome.superseded:
        why = ledger_attention(row, missing=missing)
        records.append(
            {
                "instruction_id": row.instruction_id,
                "account_id": row.account_id,
                "instrument_id": row.instrument_id,
                "symbol": row.symbol,
                "instruction_type": row.instruction_type.value,
                "quantity": _text(row.quantity),
                "state": row.state.value,
                "accepted_quantity": _text(row.accepted_quantity),
                "broker_reason": _broker_reason(row),
                "attention": why is not None,
                "attention_reason": why,
            }
        )
    return records


def outcome_summary(outcome: RunOutcome) -> dict[str, Any]:
    """Counts: plan rows by action, this plan's instructions by ledger state (every key
    present), superseded instructions, and records that need a person."""
    joined = joined_rows(outcome.plan, outcome)
    by_action = dict.fromkeys((a.value for a in PlanAction), 0)
    for j in joined:
        by_action[j.row.action.value] += 1
    by_state = dict.fromkeys((s.value for s in RowState), 0)
    for r in outcome.rows:
        by_state[r.state.value] += 1
    missing = outcome.reconcile.missing if outcome.reconcile else set()
    attention = sum(1 for j in joined if j.attention) + sum(
        1 for r in outcome.superseded if ledger_attention(r, missing=missing)
    )
    return {
        "rows": len(joined),
        "instructions": len(outcome.plan.instructions),
        "by_action": by_action,
        "by_state": by_state,
        "superseded": len(outcome.superseded),
        "attention": attention,
        "ok": outcome.ok,
    }


def outcome_json(outcome: RunOutcome) -> str:
    plan = outcome.plan
    document = {
        "run_id": outcome.run_id,
        "business_date": plan.business_date.isoformat(),
        "as_of": plan.as_of.isoformat(),
        "internal_cutoff": outcome.internal_cutoff.isoformat(),
        "dry_run": outcome.dry_run,
        "rows": outcome_records(outcome),
        "superseded": superseded_records(outcome),
        "warnings": list(plan.warnings),
        "summary": outcome_summary(outcome),
    }
    return json.dumps(document, indent=2) + "\n"


def outcome_csv(outcome: RunOutcome) -> str:
    """Plan rows, then superseded instructions (``superseded`` true, their instruction
    type in ``action``, plan-only columns empty). Reasons are joined with `` | ``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in outcome_records(outcome):
        record["reasons"] = " | ".join(record["reasons"])
        record["superseded"] = False
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    for record in superseded_records(outcome):
        record["action"] = record.pop("instruction_type")
        record["superseded"] = True
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def outcome_table(outcome: RunOutcome) -> str:
    """The terminal view: one line per plan row, who needs a person and why, the
    superseded instructions, warnings and a one-line verdict."""
    plan = outcome.plan
    joined = joined_rows(plan, outcome)
    lines = [
        f"Run {outcome.run_id} for {plan.business_date.isoformat()} as of "
        f"{plan.as_of.isoformat()}; internal cutoff {outcome.internal_cutoff.isoformat()}"
    ]
    if outcome.dry_run:
        lines.append("Dry run: nothing was sent.")
    headers = ["#", "!", "account", "contract", "action", "qty", "state", "accepted", "note"]
    rows = [
        [
            n,
            "!" if j.attention else "",
            j.row.account_id,
            j.row.symbol,
            j.row.action.value if j.row.action is not PlanAction.NONE else "-",
            j.row.quantity,
            j.ledger.state.value if j.ledger else None,
            j.ledger.accepted_quantity if j.ledger else None,
            _broker_reason(j.ledger) if j.ledger else "",
        ]
        for n, j in enumerate(joined, 1)
    ]
    lines.append(render_table(headers, rows))
    flagged = [(n, j) for n, j in enumerate(joined, 1) if j.attention]
    if flagged:
        lines += ["", "Needs a person:"]
        lines += [
            f"  #{n} account {j.row.account_id} {j.row.symbol}: {j.attention}" for n, j in flagged
        ]
    superseded = superseded_records(outcome)
    if superseded:
        lines += ["", "Superseded (replaced by a later plan, to be cancelled):"]
        headers = ["!", "account", "contract", "instruction", "qty", "state", "note"]
        rows = [
            [
                "!" if s["attention"] else "",
                s["account_id"],
                s["symbol"],
                s["instruction_type"],
                s["quantity"],
                s["state"],
                s["attention_reason"] or s["broker_reason"] or "",
            ]
            for s in superseded
        ]
        lines.append(render_table(headers, rows))
    if plan.warnings:
        lines += ["", "Warnings:", *(f"  - {w}" for w in plan.warnings)]
    summary = outcome_summary(outcome)
    states = ", ".join(f"{n} {s}" for s, n in summary["by_state"].items() if n)
    lines += [
        "",
        f"{summary['rows']} rows, {summary['instructions']} instructions"
        + ("" if outcome.dry_run else f" ({states or 'none journaled'})")
        + f", {summary['superseded']} superseded; {summary['attention']} need a person",
    ]
    return "\n".join(lines) + "\n"


def _broker_reason(row: LedgerRow) -> str | None:
    if row.reason and row.reason_code:
        return f"{row.reason} ({row.reason_code})"
    return row.reason or row.reason_code


def _record(joined: OutcomeRow) -> dict[str, Any]:
    record = row_record(joined.row)
    ledger = joined.ledger
    record["state"] = ledger.state.value if ledger else None
    record["accepted_quantity"] = _text(ledger.accepted_quantity) if ledger else None
    record["broker_reason"] = _broker_reason(ledger) if ledger else None
    record["attention"] = joined.attention is not None
    record["attention_reason"] = joined.attention
    return record


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
