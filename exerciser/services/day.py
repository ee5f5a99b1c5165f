"""Use case: the steps of an expiration day, as the daemon runs them.

Every step is safe to run again (a restart mid-day re-runs the steps still due): the
plan is recomputed, references are captured once, ``run_day`` resumes from the journal,
and alerts are deduplicated by key. Rules are re-read at every step, so an edited rules
file takes effect at the next re-evaluation. What people should hear about goes to the
``DayHooks``; the daemon turns it into reports and alerts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import structlog

from exerciser.domain.calendar import SessionCalendar
from exerciser.domain.ledger import LedgerRow
from exerciser.domain.plan import Plan
from exerciser.domain.policy import RuleSet
from exerciser.ports import BookSource, Clock, InstructionBroker, Journal, ReferenceStore, Sleep
from exerciser.services.load import load_book
from exerciser.services.plan import PlanRequest, expiring_on, make_plan
from exerciser.services.reconcile import ReconcilePolicy, Reconciler, ReconcileReport
from exerciser.services.run import RunOptions, RunOutcome, run_day

log = structlog.get_logger("exerciser.day")


class DayHooks:
    """What the daemon does with each step's result. The defaults do nothing."""

    def preview_ready(self, plan: Plan) -> None:
        """A preview plan before the close, for people to review."""

    def run_finished(self, outcome: RunOutcome) -> None:
        """A submit or re-evaluation run ended (or a dry run planned)."""

    def day_report(self, day: date, rows: Sequence[LedgerRow], still_open: ReconcileReport) -> None:
        """The day's outcome at the internal cutoff."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DayServices:
    source: BookSource
    broker: InstructionBroker
    journal: Journal
    references: ReferenceStore
    calendar: SessionCalendar
    rules: Callable[[], RuleSet]  # re-read at every step
    clock: Clock
    sleep: Sleep = asyncio.sleep
    options: RunOptions = field(default_factory=RunOptions)
    account_ids: Sequence[int] = ()


class DayRunner:
    def __init__(self, services: DayServices, hooks: DayHooks | None = None) -> None:
        self._s = services
        self._hooks = hooks or DayHooks()

    def _request(self, day: date) -> PlanRequest:
        return PlanRequest(
            business_date=day,
            as_of=self._s.clock(),
            rules=self._s.rules(),
            account_ids=self._s.account_ids,
            concurrency=self._s.options.concurrency,
        )

    async def morning_check(self, day: date, *, quiet: bool = False) -> int:
        """Credentials valid, positions readable, prices reachable. Returns how many
        option positions expire today; a quiet day says so once (``quiet``: not at all)."""
        book = await load_book(
            self._s.source, account_ids=self._s.account_ids, concurrency=self._s.options.concurrency
        )
        expires = expiring_on(self._s.calendar, day)
        expiring = [
            (a.account_id, p)
            for a in book.accounts
            for p in a.option_positions
            if (c := book.contracts.get(p.instrument_id)) is not None and expires(c.expiry)
        ]
        if not expiring:
            if not quiet:
                log.info(
                    "nothing_expiring", business_date=day.isoformat(), accounts=len(book.accounts)
                )
            return 0
        underlyings = {
            c.underlying_id
            for _, p in expiring
            if (c := book.contracts.get(p.instrument_id)) is not None and c.underlying_id
        }
        unpriced = sorted(u for u in underlyings if u not in book.quotes)
        log.info(
            "morning_check",
            business_date=day.isoformat(),
            accounts=len(book.accounts),
            expiring=len(expiring),
            underlyings=len(underlyings),
            unpriced=len(unpriced),
        )
        return len(expiring)

    async def preview(self, day: date) -> Plan:
        plan = await make_plan(
            self._request(day),
            source=self._s.source,
            calendar=self._s.calendar,
            references=self._s.references,
        )
        if plan.rows:
            self._hooks.preview_ready(plan)
        return plan

    async def capture(self, day: date) -> Plan:
        """Plan right after the close: the plan service captures the references."""
        return await make_plan(
            self._request(day),
            source=self._s.source,
            calendar=self._s.calendar,
            references=self._s.references,
        )

    async def submit(self, day: date) -> RunOutcome:
        """Plan, submit, reconcile (or, dry, only plan). Also the re-evaluation step."""
        outcome = await run_day(
            self._request(day),
            run_id=f"run-{uuid.uuid4().hex[:10]}",
            source=self._s.source,
            broker=self._s.broker,
            journal=self._s.journal,
            calendar=self._s.calendar,
            references=self._s.references,
            clock=self._s.clock,
            sleep=self._s.sleep,
            options=self._s.options,
            command="daemon",
        )
        if outcome.plan.rows or outcome.rows or outcome.superseded:
            self._hooks.run_finished(outcome)
        return outcome

    async def report(self, day: date) -> ReconcileReport:
        """At the internal cutoff: one last look at the broker, then the day's report;
        whatever is still open is escalated by the hook."""
        reconciler = Reconciler(
            broker=self._s.broker,
            journal=self._s.journal,
            run_id=f"report-{day.isoformat()}",
            clock=self._s.clock,
            sleep=self._s.sleep,
            policy=ReconcilePolicy(until=self._s.clock(), concurrency=self._s.options.concurrency),
        )
        still_open = await reconciler.reconcile(day)
        rows = self._s.journal.rows(day)
        if rows:
            self._hooks.day_report(day, rows, still_open)
        return still_open
