"""The alerts of a day, built from a plan, a run's outcome and failures: which kinds at
which severity, what they say, and keys that stay the same for the same news (a restart)
and change for new news."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from exerciser.domain.alerts import Alert, Severity
from exerciser.domain.book import Right
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Outcome, Plan, PlanAction, PlanRow
from exerciser.errors import BrokerAuthError, BrokerTransientError
from exerciser.services.alert_builders import failure_alert, outcome_alerts, preview_alert
from exerciser.services.reconcile import ReconcileReport
from exerciser.services.run import RunOutcome

DAY = date(2026, 11, 20)
AS_OF = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
PIN = (
    "account 7: pin risk on short AAPL  261120C00190000: underlying 190.10 is 0.10 from the "
    "strike 190 (pin_band 0.50); assignment is uncertain"
)


def plan_row(
    instrument_id: str = "aapl-c190",
    *,
    action: PlanAction = PlanAction.EXERCISE,
    quantity: str = "5",
    reasons: tuple[str, ...] = ("in the money by 0.40",),
) -> PlanRow:
    iid = f"xr-{instrument_id}" if action.instruction_type is not None else None
    return PlanRow(
        account_id=7,
        instrument_id=instrument_id,
        symbol=f"OSI {instrument_id}",
        root="AAPL",
        underlying_symbol="AAPL",
        expiry=DAY,
        right=Right.CALL,
        strike=Decimal(190),
        multiplier=Decimal(100),
        position_quantity=Decimal(quantity),
        available_quantity=Decimal(quantity),
        quantity=Decimal(quantity),
        occ_reference_price=Decimal("190.40"),
        decision_price=Decimal("190.40"),
        price_source="close",
        itm_amount=Decimal("0.40"),
        occ_would_exercise=True,
        want_exercise=True,
        action=action,
        expected_outcome=Outcome.EXERCISED,
        instruction_id=iid,
        reasons=reasons,
    )


def ledger(
    instrument_id: str = "aapl-c190",
    state: RowState = RowState.ACCEPTED,
    *,
    quantity: str = "5",
    accepted: str | None = None,
    reason: str | None = None,
    reason_code: str | None = None,
    superseded: bool = False,
) -> LedgerRow:
    return LedgerRow(
        instruction_id=f"xr-{instrument_id}",
        business_date=DAY,
        account_id=7,
        instrument_id=instrument_id,
        symbol=f"OSI {instrument_id}",
        instruction_type=InstructionType.EXERCISE,
        quantity=Decimal(quantity),
        state=state,
        accepted_quantity=None if accepted is None else Decimal(accepted),
        reason=reason,
        reason_code=reason_code,
        superseded=superseded,
    )


def make_plan(*rows: PlanRow, warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(business_date=DAY, as_of=AS_OF, rows=rows, warnings=warnings)


def outcome(
    *rows: LedgerRow,
    plan: Plan | None = None,
    open_rows: tuple[LedgerRow, ...] = (),
    superseded: tuple[LedgerRow, ...] = (),
    run_id: str = "run-1",
) -> RunOutcome:
    return RunOutcome(
        run_id=run_id,
        plan=plan or make_plan(plan_row()),
        internal_cutoff=AS_OF + timedelta(hours=1),
        dry_run=False,
        rows=list(rows),
        superseded=list(superseded),
        reconcile=ReconcileReport(open=list(open_rows)),
    )


def by_kind(alerts: list[Alert]) -> dict[str, Alert]:
    kinds = [a.kind for a in alerts]
    assert len(set(kinds)) == len(kinds)
    return {a.kind: a for a in alerts}


# ---------------------------------------------------------------------- preview


def test_the_preview_carries_the_plan_table_and_the_html_report() -> None:
    plan = make_plan(plan_row(), plan_row("msft-c420", action=PlanAction.DO_NOT_EXERCISE))
    preview = preview_alert(plan, html=b"<html>plan</html>")
    assert preview.kind == "preview_ready"
    assert preview.severity is Severity.INFO
    assert preview.key.startswith("preview_ready:2026-11-20:")
    assert (
        preview.title
        == "Exercise preview for 2026-11-20: 2 instructions to send, 0 for manual review"
    )
    assert "Plan for 2026-11-20" in preview.text
    assert "OSI msft-c420" in preview.text
    [html] = preview.attachments
    assert (html.filename, html.content_type, html.data) == (
        "exerciser-plan-2026-11-20.html",
        "text/html",
        b"<html>plan</html>",
    )
    assert preview_alert(plan, html=None).attachments == ()


def test_a_preview_with_rows_for_manual_review_is_a_warning() -> None:
    plan = make_plan(plan_row(), plan_row("x-c1", action=PlanAction.MANUAL_REVIEW))
    preview = preview_alert(plan, html=None)
    assert preview.severity is Severity.WARNING
    assert preview.title.endswith("1 instruction to send, 1 for manual review")


def test_the_preview_key_follows_the_decisions_not_the_prices_or_the_time() -> None:
    plan = make_plan(plan_row(), plan_row("msft-c420"))
    later = replace(
        make_plan(plan_row("msft-c420"), plan_row()),
        as_of=AS_OF + timedelta(minutes=7),
        rows=tuple(replace(r, decision_price=Decimal("191.02")) for r in plan.rows),
    )
    assert preview_alert(later, html=b"x").key == preview_alert(plan, html=None).key
    changed = make_plan(plan_row(), plan_row("msft-c420", action=PlanAction.DO_NOT_EXERCISE))
    assert preview_alert(changed, html=None).key != preview_alert(plan, html=None).key


# ---------------------------------------------------------------------- outcome


def test_a_clean_day_is_only_a_summary() -> None:
    [summary] = outcome_alerts(outcome(ledger()))
    assert summary.kind == "submission_summary"
    assert summary.severity is Severity.INFO
    assert summary.title == "Exercise instructions for 2026-11-20: 1 as intended, 0 need attention"
    assert "OSI aapl-c190" in summary.text
    assert "ACCEPTED" in summary.text


def test_every_problem_gets_its_kind_most_urgent_first() -> None:
    plan = make_plan(
        plan_row(),
        plan_row("rej-c1"),
        plan_row("part-c1"),
        plan_row("open-c1"),
        plan_row("rev-c1", action=PlanAction.MANUAL_REVIEW, reasons=("no price for AAPL1",)),
        warnings=(PIN, "account 7: something else"),
    )
    rejected = ledger("rej-c1", RowState.REJECTED, reason="after cutoff", reason_code="LATE")
    failed = ledger("fail-c1", RowState.FAILED, reason="not sent: out of time")
    partial = ledger("part-c1", quantity="10", accepted="4", reason="only 4 available")
    still_open = ledger("open-c1", RowState.SENT)
    alerts = outcome_alerts(
        outcome(ledger(), rejected, failed, partial, still_open, plan=plan, open_rows=(still_open,))
    )
    assert [a.kind for a in alerts] == [
        "unresolved",
        "rejections",
        "partial_acceptance",
        "manual_review",
        "pin_risk",
        "submission_summary",
    ]
    found = by_kind(alerts)
    assert [found[k].severity for k in found] == [
        Severity.CRITICAL,
        Severity.ERROR,
        Severity.WARNING,
        Severity.WARNING,
        Severity.WARNING,
        Severity.INFO,
    ]
    assert "OSI open-c1" in found["unresolved"].text
    assert "SENT" in found["unresolved"].text
    rejections = found["rejections"].text
    assert "OSI rej-c1 EXERCISE 5: REJECTED: after cutoff [LATE] (xr-rej-c1)" in rejections
    assert "OSI fail-c1 EXERCISE 5: FAILED: not sent: out of time" in rejections
    assert found["rejections"].title == "2 instructions rejected or not sent (2026-11-20)"
    assert "accepted 4 of 10: only 4 available" in found["partial_acceptance"].text
    assert "OSI rev-c1 x5: no price for AAPL1" in found["manual_review"].text
    assert PIN in found["pin_risk"].text
    assert "something else" not in found["pin_risk"].text
    assert "something else" in found["submission_summary"].text
    assert found["submission_summary"].title.endswith("1 as intended, 4 need attention")


def test_a_superseded_row_whose_cancel_failed_is_a_rejection() -> None:
    stuck = ledger("old-c1", RowState.CANCEL_FAILED, reason="already processed", superseded=True)
    cancelled = ledger("old-c2", RowState.CANCELLED, superseded=True)
    found = by_kind(outcome_alerts(outcome(ledger(), superseded=(stuck, cancelled))))
    assert "CANCEL_FAILED (superseded): already processed" in found["rejections"].text
    assert "old-c2" not in found["rejections"].text


def test_outcome_keys_are_the_same_after_a_restart_and_change_with_the_news() -> None:
    rejected = ledger("rej-c1", RowState.REJECTED, reason="after cutoff")
    first = outcome_alerts(outcome(ledger(), rejected, run_id="run-1"))
    again = outcome_alerts(outcome(rejected, ledger(), run_id="run-2"))
    assert [a.key for a in again] == [a.key for a in first]
    worse = ledger("rej-c2", RowState.REJECTED, reason="after cutoff")
    changed = outcome_alerts(outcome(ledger(), rejected, worse))
    assert by_kind(changed)["rejections"].key != by_kind(first)["rejections"].key


def test_unresolved_rows_come_from_the_escalation_point_and_from_open_problems() -> None:
    still_open = ledger("open-c1", RowState.CANCEL_REQUESTED)
    other_account = replace(ledger("open-c2", RowState.UNKNOWN), account_id=8)
    found = by_kind(outcome_alerts(outcome(still_open, open_rows=(other_account,))))
    assert (
        found["unresolved"].title
        == "2 instructions unresolved at the escalation point (2026-11-20)"
    )


def test_a_dry_run_says_nothing_was_sent() -> None:
    dry = RunOutcome(
        run_id="run-1",
        plan=make_plan(plan_row()),
        internal_cutoff=AS_OF,
        dry_run=True,
    )
    [summary] = outcome_alerts(dry)
    assert summary.text.startswith("Dry run: nothing was sent.")


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("kind", "severity", "title"),
    [
        ("broker_failure", Severity.ERROR, "The Clear Street API is failing (2026-11-20)"),
        ("credentials_failure", Severity.CRITICAL, "Clear Street refused the API key (2026-11-20)"),
        ("daemon_failing", Severity.CRITICAL, "The exerciser daemon keeps failing (2026-11-20)"),
        ("calendar_disagrees", Severity.ERROR, "Calendar disagrees (2026-11-20)"),
    ],
    ids=["broker", "credentials", "daemon", "other"],
)
def test_failure_alerts_by_kind(kind: str, severity: Severity, title: str) -> None:
    found = failure_alert(kind, "it broke", day=DAY)
    assert (found.kind, found.severity, found.title) == (kind, severity, title)
    assert found.text.startswith("it broke")


def test_a_failure_alert_describes_the_error_and_keys_on_it() -> None:
    auth = BrokerAuthError("invalid API key", method="GET", path="/v1/accounts", status=401)
    found = failure_alert("credentials_failure", auth, day=DAY)
    assert found.text.startswith("BrokerAuthError: GET /v1/accounts 401: invalid API key")
    assert "restart the daemon" in found.text
    same = BrokerAuthError("invalid API key", method="GET", path="/v1/accounts", status=401)
    assert failure_alert("credentials_failure", same, day=DAY).key == found.key
    later = failure_alert("credentials_failure", same, day=DAY + timedelta(days=1))
    assert later.key != found.key
    other = BrokerTransientError("503", method="GET", path="/v1/accounts", status=503)
    assert failure_alert("credentials_failure", other, day=DAY).key != found.key


def test_a_failure_kind_must_be_snake_case() -> None:
    with pytest.raises(ValueError, match="snake_case"):
        failure_alert("Broker Failure", "x", day=DAY)
