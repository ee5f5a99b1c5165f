"""The plan as a terminal table, JSON or CSV. Money and quantities are strings."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from exerciser.domain.plan import Plan, PlanAction, PlanRow
from exerciser.reports.table import render_table

FIELDS = (
    "account_id",
    "instrument_id",
    "symbol",
    "root",
    "underlying_symbol",
    "expiry",
    "right",
    "strike",
    "multiplier",
    "position_quantity",
    "available_quantity",
    "quantity",
    "occ_reference_price",
    "decision_price",
    "price_source",
    "itm_amount",
    "occ_would_exercise",
    "want_exercise",
    "action",
    "expected_outcome",
    "instruction_id",
    "reasons",
)


def row_record(row: PlanRow) -> dict[str, Any]:
    """One row as JSON-ready values: decimals and dates as strings, reasons as a list."""
    record: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(row, name)
        if isinstance(value, Decimal):
            value = _decimal(value)
        elif name == "reasons":
            value = list(value)
        elif value is not None and not isinstance(value, bool | int):
            value = str(value)
        record[name] = value
    return record


def plan_json(plan: Plan) -> str:
    document = {
        "business_date": plan.business_date.isoformat(),
        "as_of": plan.as_of.isoformat(),
        "rows": [row_record(r) for r in plan.rows],
        "warnings": list(plan.warnings),
    }
    return json.dumps(document, indent=2) + "\n"


def plan_csv(plan: Plan) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in plan.rows:
        record = row_record(row)
        record["reasons"] = " | ".join(record["reasons"])
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue()


def plan_table(plan: Plan) -> str:
    headers = [
        "#",
        "account",
        "contract",
        "qty",
        "ref",
        "dec",
        "itm",
        "occ",
        "want",
        "action",
        "outcome",
    ]
    rows = [
        [
            n,
            r.account_id,
            r.symbol,
            r.quantity,
            r.occ_reference_price,
            r.decision_price,
            r.itm_amount,
            _yes_no(r.occ_would_exercise),
            _yes_no(r.want_exercise),
            r.action.value if r.action is not PlanAction.NONE else "-",
            r.expected_outcome.value,
        ]
        for n, r in enumerate(plan.rows, 1)
    ]
    lines = [
        f"Plan for {plan.business_date.isoformat()} as of {plan.as_of.isoformat()}",
        render_table(headers, rows),
        "",
        "Why:",
    ]
    for n, row in enumerate(plan.rows, 1):
        key = f" [{row.instruction_id}]" if row.instruction_id else ""
        lines.append(f"  #{n}{key} " + "; ".join(row.reasons))
    if plan.warnings:
        lines += ["", "Warnings:", *(f"  - {w}" for w in plan.warnings)]
    review = sum(1 for r in plan.rows if r.needs_review)
    lines += [
        "",
        f"{len(plan.rows)} rows, {len(plan.instructions)} instructions to send, "
        f"{review} for manual review, {len(plan.warnings)} warnings",
    ]
    return "\n".join(lines) + "\n"


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _decimal(value: Decimal) -> str:
    return format(value, "f")
