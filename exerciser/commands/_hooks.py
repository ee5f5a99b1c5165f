"""What the daemon does with each step's result: write the reports under
``state_dir/reports`` and raise the alerts people must hear."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import structlog

from exerciser.commands._common import write_atomically
from exerciser.domain.alerts import Attachment
from exerciser.domain.ledger import LedgerRow
from exerciser.domain.plan import Plan
from exerciser.domain.schedule import ScheduledStep
from exerciser.errors import BrokerAuthError, BrokerError
from exerciser.ports import Clock
from exerciser.reports.html import render_html
from exerciser.reports.outcome import outcome_json
from exerciser.services.alert_builders import (
    failure_alert,
    outcome_alerts,
    preview_alert,
    unresolved_alert,
)
from exerciser.services.alerts import AlertDispatcher
from exerciser.services.day import DayHooks
from exerciser.services.reconcile import ReconcileReport
from exerciser.services.run import RunOutcome

log = structlog.get_logger("exerciser.reports")

FAILING_AFTER = 3  # consecutive step failures before the daemon calls itself failing


class ReportingHooks(DayHooks):
    def __init__(self, *, reports_dir: Path, alerts: AlertDispatcher, clock: Clock) -> None:
        self._dir = reports_dir
        self._alerts = alerts
        self._clock = clock
        self._last: dict[date, RunOutcome] = {}

    def preview_ready(self, plan: Plan) -> None:
        html = render_html(plan, None, title="Preview", generated_at=self._clock())
        self._write(f"{plan.business_date.isoformat()}-preview.html", html)
        self._alerts.raise_alert(preview_alert(plan, html=html.encode()))

    def run_finished(self, outcome: RunOutcome) -> None:
        day = outcome.plan.business_date
        self._last[day] = outcome
        stem = f"{day.isoformat()}-{outcome.run_id}"
        html = render_html(outcome.plan, outcome, generated_at=self._clock())
        self._write(f"{stem}.html", html)
        self._write(f"{stem}.json", outcome_json(outcome))
        report = Attachment(
            filename=f"exerciser-outcome-{day.isoformat()}.html",
            content_type="text/html",
            data=html.encode(),
        )
        for alert in outcome_alerts(outcome):
            if alert.kind == "submission_summary":
                alert = replace(alert, attachments=(*alert.attachments, report))  # noqa: PLW2901
            self._alerts.raise_alert(alert)

    def day_report(self, day: date, rows: Sequence[LedgerRow], still_open: ReconcileReport) -> None:
        last = self._last.get(day)
        if last is not None:
            html = render_html(last.plan, last, title="Day report", generated_at=self._clock())
            self._write(f"{day.isoformat()}-day.html", html)
        alert = unresolved_alert(still_open.open, day=day)
        if alert is not None:
            self._alerts.raise_alert(alert)
        log.info(
            "day_reported",
            business_date=day.isoformat(),
            rows=len(rows),
            still_open=len(still_open.open),
        )

    def step_failed(self, step: ScheduledStep, error: Exception, failures: int) -> None:
        day = step.at.date()
        if isinstance(error, BrokerAuthError):
            kind = "credentials_failure"
        elif failures >= FAILING_AFTER:
            kind = "daemon_failing"
        elif isinstance(error, BrokerError):
            kind = "broker_failure"
        else:
            kind = "daemon_failing" if failures > 1 else "broker_failure"
        self._alerts.raise_alert(failure_alert(kind, f"{step.step.value}: {error}", day=day))

    def _write(self, name: str, text: str) -> None:
        path = self._dir / name
        write_atomically(path, text)
        log.info("report_written", path=str(path))
