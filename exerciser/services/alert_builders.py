"""The alerts of an expiration day, built from a plan, a run's outcome or a failure.

Pure functions: no clock, no I/O. Every key is derived from what the alert is about
(the day, and a digest of the rows or the error), never from the time or the run id, so
a restart that raises the same alert again is deduplicated by the outbox, while news (a
row that changed state, another error) gets a new key and is heard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from exerciser.domain.alerts import Alert, Attachment, Severity
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Plan, PlanRow
from exerciser.reports.plan import plan_table
from exerciser.reports.table import render_table
from exerciser.services.run import RunOutcome

PIN_RISK = "pin risk"  # the words every pin-risk warning of the planner carries

_FAILURES = {
    "broker_failure": (
        Severity.ERROR,
        "The Clear Street API is failing",
        "The daemon retries until the internal cutoff. If it does not recover, submit the "
        "instructions another way (Clear Street support) before the exchange cutoff.",
    ),
    "credentials_failure": (
        Severity.CRITICAL,
        "Clear Street refused the API key",
        "Nothing more can be sent with this key. Fix EXERCISER_API_KEY, api_key_file or the "
        "systemd credential and restart the daemon; instructions already sent stand.",
    ),
    "daemon_failing": (
        Severity.CRITICAL,
        "The exerciser daemon keeps failing",
        "A step fails again and again. Read the log (journalctl -u exerciser) and act "
        "before the exchange cutoff: run `exerciser run` by hand or instruct manually.",
    ),
}


def preview_alert(plan: Plan, *, html: bytes | None) -> Alert:
    """The plan for review before the close; WARNING when rows await manual review."""
    day = plan.business_date.isoformat()
    review = [r for r in plan.rows if r.needs_review]
    decisions = (
        f"{r.account_id}|{r.instrument_id}|{r.action.value}|{r.quantity}" for r in plan.rows
    )
    attachments: tuple[Attachment, ...] = ()
    if html is not None:
        attachments = (
            Attachment(filename=f"exerciser-plan-{day}.html", content_type="text/html", data=html),
        )
    return Alert(
        key=f"preview_ready:{day}:{_digest(decisions)}",
        kind="preview_ready",
        severity=Severity.WARNING if review else Severity.INFO,
        title=(
            f"Exercise preview for {day}: {_count(len(plan.instructions), 'instruction')} to "
            f"send, {len(review)} for manual review"
        ),
        text=plan_table(plan),
        attachments=attachments,
    )


def outcome_alerts(outcome: RunOutcome) -> list[Alert]:
    """What a run's end means for people, most urgent first: rows still unresolved at
    the escalation point (CRITICAL), rejected or not sent (ERROR), partly accepted,
    awaiting manual review, pin risk (WARNING), and the summary (INFO)."""
    plan, day = outcome.plan, outcome.plan.business_date
    alerts = [
        _unresolved(outcome, day),
        _rejections(outcome, day),
        _partial(outcome, day),
        _manual_review(plan.rows, day),
        _pin_risk(plan.warnings, day),
    ]
    found = [a for a in alerts if a is not None]
    found.append(_summary(outcome, day))
    return found


def failure_alert(kind: str, error: BaseException | str, *, day: date) -> Alert:
    """A failure that needs a person: ``broker_failure`` (ERROR), ``credentials_failure``
    and ``daemon_failing`` (CRITICAL), or any other kind (ERROR). The same error on the
    same day is one alert."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    severity, title, advice = _FAILURES.get(
        kind, (Severity.ERROR, f"{kind.replace('_', ' ').capitalize()}", "")
    )
    text = f"{message}\n\n{advice}".rstrip()
    return Alert(
        key=f"{kind}:{day.isoformat()}:{_digest([kind, message])}",
        kind=kind,
        severity=severity,
        title=f"{title} ({day.isoformat()})",
        text=text,
    )


# ---------------------------------------------------------------------- one per kind


def _unresolved(outcome: RunOutcome, day: date) -> Alert | None:
    rows = {r.instruction_id: r for r in outcome.problems if not r.state.is_terminal}
    if outcome.reconcile is not None:
        rows.update((r.instruction_id, r) for r in outcome.reconcile.open)
    return unresolved_alert(list(rows.values()), day=day)


def unresolved_alert(open_rows: Sequence[LedgerRow], *, day: date) -> Alert | None:
    """CRITICAL: instructions the broker has not confirmed at the escalation point."""
    if not open_rows:
        return None
    found = sorted(open_rows, key=lambda r: (r.account_id, r.instruction_id))
    text = (
        "The broker has not confirmed these instructions by the escalation point. Check "
        "them with Clear Street now: OCC applies its default to any that did not reach it.\n\n"
        + _ledger_table(found)
    )
    return Alert(
        key=f"unresolved:{day.isoformat()}:{_digest(_states(found))}",
        kind="unresolved",
        severity=Severity.CRITICAL,
        title=f"{_count(len(found), 'instruction')} unresolved at the escalation point "
        f"({day.isoformat()})",
        text=text,
    )


def _rejections(outcome: RunOutcome, day: date) -> Alert | None:
    found = [r for r in outcome.problems if r.state.is_terminal and not _partly(r)]
    if not found:
        return None
    lines = [
        f"- account {r.account_id} {r.symbol} {r.instruction_type.value} {_qty(r.quantity)}: "
        f"{_state(r)}: {r.reason or 'no reason given'}"
        + (f" [{r.reason_code}]" if r.reason_code else "")
        + f" ({r.instruction_id})"
        for r in found
    ]
    text = (
        "These instructions did not go through; OCC's default applies to them unless "
        "someone acts before the cutoff.\n\n" + "\n".join(lines)
    )
    return Alert(
        key=f"rejections:{day.isoformat()}:{_digest(_states(found))}",
        kind="rejections",
        severity=Severity.ERROR,
        title=f"{_count(len(found), 'instruction')} rejected or not sent ({day.isoformat()})",
        text=text,
    )


def _partial(outcome: RunOutcome, day: date) -> Alert | None:
    found = [r for r in outcome.problems if _partly(r)]
    if not found:
        return None
    lines = [
        f"- account {r.account_id} {r.symbol} {r.instruction_type.value}: accepted "
        f"{_qty(r.accepted_quantity or Decimal(0))} of {_qty(r.quantity)}"
        + (f": {r.reason}" if r.reason else "")
        + f" ({r.instruction_id})"
        for r in found
    ]
    return Alert(
        key=f"partial_acceptance:{day.isoformat()}:{_digest(_states(found))}",
        kind="partial_acceptance",
        severity=Severity.WARNING,
        title=f"{_count(len(found), 'instruction')} only partly accepted ({day.isoformat()})",
        text="The rest of each position gets OCC's default treatment.\n\n" + "\n".join(lines),
    )


def _manual_review(rows: Sequence[PlanRow], day: date) -> Alert | None:
    found = [r for r in rows if r.needs_review]
    if not found:
        return None
    lines = [
        f"- account {r.account_id} {r.symbol} x{_qty(r.quantity)}: {'; '.join(r.reasons)}"
        for r in found
    ]
    return Alert(
        key=f"manual_review:{day.isoformat()}:"
        + _digest(f"{r.account_id}|{r.instrument_id}" for r in found),
        kind="manual_review",
        severity=Severity.WARNING,
        title=f"{_count(len(found), 'position')} for manual review ({day.isoformat()})",
        text="Nothing is sent for these; OCC's default applies unless someone acts.\n\n"
        + "\n".join(lines),
    )


def _pin_risk(warnings: Sequence[str], day: date) -> Alert | None:
    found = [w for w in warnings if PIN_RISK in w]
    if not found:
        return None
    # "account 1: pin risk on short X: underlying ..." - the key ignores the prices
    subjects = (":".join(w.split(":")[:2]) for w in found)
    return Alert(
        key=f"pin_risk:{day.isoformat()}:{_digest(subjects)}",
        kind="pin_risk",
        severity=Severity.WARNING,
        title=f"Pin risk on {_count(len(found), 'short position')} ({day.isoformat()})",
        text="Assignment is uncertain; no instruction is ever sent for short positions.\n\n"
        + "\n".join(f"- {w}" for w in found),
    )


def _summary(outcome: RunOutcome, day: date) -> Alert:
    rows = [*outcome.rows, *outcome.superseded]
    accepted = sum(1 for r in rows if r.ended_as_intended)
    attention = len(outcome.problems)
    if outcome.dry_run:
        text = f"Dry run: nothing was sent. The plan had {len(outcome.plan.instructions)}."
    else:
        text = _ledger_table(rows) if rows else "No instruction was needed."
    warnings = [w for w in outcome.plan.warnings if PIN_RISK not in w]
    if warnings:
        text += "\n\nWarnings:\n" + "\n".join(f"- {w}" for w in warnings)
    return Alert(
        key=f"submission_summary:{day.isoformat()}:"
        + _digest([str(outcome.dry_run), *_states(rows)]),
        kind="submission_summary",
        severity=Severity.INFO,
        title=f"Exercise instructions for {day.isoformat()}: {accepted} as intended, "
        f"{attention} need attention",
        text=text,
    )


# ---------------------------------------------------------------------- helpers


def _ledger_table(rows: Sequence[LedgerRow]) -> str:
    headers = ["account", "contract", "type", "qty", "accepted", "state", "reason"]
    body = [
        [
            r.account_id,
            r.symbol,
            r.instruction_type.value,
            r.quantity,
            r.accepted_quantity,
            _state(r),
            r.reason,
        ]
        for r in rows
    ]
    return render_table(headers, body)


def _state(row: LedgerRow) -> str:
    return f"{row.state.value} (superseded)" if row.superseded else row.state.value


def _partly(row: LedgerRow) -> bool:
    return (
        row.state is RowState.ACCEPTED
        and not row.superseded
        and row.accepted_quantity is not None
        and row.accepted_quantity < row.quantity
    )


def _states(rows: Iterable[LedgerRow]) -> list[str]:
    return [
        f"{r.instruction_id}|{r.state.value}|{r.accepted_quantity}|{int(r.superseded)}"
        for r in rows
    ]


def _digest(parts: Iterable[str]) -> str:
    """16 hex digits of the sorted parts: the same set of rows gives the same key."""
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
