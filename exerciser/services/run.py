"""Use case: one whole cycle for an expiration day — plan, journal, re-evaluate, submit,
reconcile — resuming from the journal whatever an earlier run left.

Re-evaluation: until the internal cutoff, a later plan (new prices, edited rules) may
change what we want. An instruction of an earlier plan that the new plan no longer
contains is superseded: cancelled by its server id and followed until CANCELLED; only
then is a new instruction on the same contract sent. A CANCEL_FAILED leaves the old
instruction standing, and the new one is not sent.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import structlog

from exerciser.domain.book import Book
from exerciser.domain.calendar import SessionCalendar, expiry_day
from exerciser.domain.ids import instruction_id
from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowState, RowUpdate
from exerciser.domain.plan import Plan, PlanRow
from exerciser.errors import BrokerAuthError, BrokerError
from exerciser.ports import (
    BookSource,
    Clock,
    InstructionBroker,
    Journal,
    ReferenceStore,
    RunRecord,
    Sleep,
)
from exerciser.services.plan import PlanRequest, make_plan, plan_book
from exerciser.services.reconcile import ReconcilePolicy, Reconciler, ReconcileReport
from exerciser.services.submit import Checkpoint, SubmitPolicy, SubmitReport, Submitter, never

log = structlog.get_logger("exerciser.run")

_DONE = frozenset(
    {
        RowState.REJECTED,
        RowState.FAILED,
        RowState.CANCELLED,
        RowState.CONFLICT,
        RowState.CANCEL_FAILED,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    dry_run: bool = False
    batch_size: int = 50
    concurrency: int = 8
    cutoff_margin: timedelta = timedelta(minutes=30)  # internal cutoff before the exchange's
    poll_first_delay: float = 1.0
    poll_max_delay: float = 30.0


@dataclass(slots=True, kw_only=True)
class RunOutcome:
    run_id: str
    plan: Plan
    internal_cutoff: datetime
    dry_run: bool
    rows: list[LedgerRow] = field(default_factory=list)  # this plan's instructions, final
    superseded: list[LedgerRow] = field(default_factory=list)
    submit: SubmitReport | None = None
    reconcile: ReconcileReport | None = None

    @property
    def problems(self) -> list[LedgerRow]:
        """Rows that did not end as intended: rejected, failed, partial, unresolved."""
        return [r for r in [*self.rows, *self.superseded] if not r.ended_as_intended]

    @property
    def ok(self) -> bool:
        return self.dry_run or not self.problems


async def run_day(
    request: PlanRequest,
    *,
    run_id: str,
    source: BookSource,
    broker: InstructionBroker,
    journal: Journal,
    calendar: SessionCalendar,
    references: ReferenceStore | None,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
    options: RunOptions | None = None,
    checkpoint: Checkpoint = never,
    command: str = "run",
    book: Book | None = None,
) -> RunOutcome:
    """``book``, when given, is used instead of loading it from ``source`` again."""
    options = options or RunOptions()
    with _fewer_collections() as collecting:
        day = expiry_day(calendar, request.business_date)
        if book is None:
            plan = await make_plan(request, source=source, calendar=calendar, references=references)
        else:
            plan = plan_book(book, request, calendar=calendar, references=references)
        cycle = _Cycle(
            run_id=run_id,
            broker=broker,
            journal=journal,
            clock=clock,
            sleep=sleep,
            options=options,
            checkpoint=checkpoint,
            internal_cutoff=day.cutoff_at - options.cutoff_margin,
            scope=set(request.account_ids) or None,
        )
        outcome = RunOutcome(
            run_id=run_id, plan=plan, internal_cutoff=cycle.internal_cutoff, dry_run=options.dry_run
        )
        if options.dry_run:
            log.info("dry_run", instructions=len(plan.instructions))
            return outcome
        journal.begin_run(
            RunRecord(
                run_id=run_id,
                business_date=day.day,
                as_of=request.as_of,
                started_at=clock(),
                command=command,
                dry_run=False,
            )
        )
        # The day's ledger as the earlier runs left it: read once, it serves the fresh ids
        # and the re-evaluation (recording the plan adds rows of this plan only, and
        # changes no row already there).
        earlier = journal.rows(day.day)
        outcome.plan = plan = _fresh_ids(plan, earlier)
        wanted = journal.record_plan(run_id, plan, at=clock())
        with _out_of_the_collectors_sight(resume=collecting):
            try:
                await cycle.carry_out(day.day, wanted, outcome, earlier=earlier)
            finally:
                final = journal.rows(day.day)
                by_key = {r.instruction_id: r for r in final}
                outcome.rows = [
                    by_key[w.instruction_id] for w in wanted if w.instruction_id in by_key
                ]
                outcome.superseded = [r for r in final if r.superseded and cycle.in_scope(r)]
                verdict = "ok" if not outcome.problems else f"{len(outcome.problems)} problems"
                journal.end_run(run_id, ended_at=clock(), outcome=verdict)
        return outcome


# Container allocations (net) between two young-generation collections during a cycle;
# Python's default is 700.
CYCLE_GC_THRESHOLD = 50_000


@contextmanager
def _fewer_collections() -> Iterator[bool]:
    """Let Python's cyclic garbage collector run less often while a cycle runs, and not
    at all until ``_out_of_the_collectors_sight`` resumes it; put its settings back when
    the run ends, also on a crash. Yields whether it was enabled (a caller may have
    turned it off; it is then left off).

    A cycle allocates millions of short-lived containers (parsed replies, rows, log
    events), nearly all freed by reference counting; at the default threshold the
    collector ran some 600 young collections and 50 older ones a cycle, walking the
    survivors again each time. At 50,000 it ran 5 or 6 and no older one (the bench's
    cycle, ``bench/cycle.py``, at 2,000 accounts: the collector's CPU in the cycle 0.74
    and 0.86 s before, 0.21-0.23 s in three runs after; the daemon's peak RSS 241 MiB
    either way).

    While the book loads and the plan is journaled nearly everything allocated survives
    (the book, the plan, the ledger rows), and what the collections then walked they
    never freed: about 0.2 s of the cycle's CPU. So the collector stays off until all of
    it is frozen; the reference cycles the loading left meanwhile (24,541 objects at
    2,000 accounts, from a full collection at that point) are collected after the cycle.
    """
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(CYCLE_GC_THRESHOLD, *before[1:])
    gc.disable()
    try:
        yield enabled
    finally:
        gc.set_threshold(*before)
        if enabled:
            gc.enable()


@contextmanager
def _out_of_the_collectors_sight(*, resume: bool) -> Iterator[None]:
    """Hide what is alive now (the book, the plan, the ledger rows) from Python's cyclic
    garbage collector while the instructions go out and are followed; then let the
    collector run again if ``resume``.

    All of it lives until the cycle ends (at 2,000 accounts, 241,337 container objects
    were frozen), and every full collection during submit and reconcile walked it again,
    to free none of it. ``gc.freeze()`` moves it out of the collector's sight
    (reference counting still frees what dies), so collections walk only what the
    requests create; ``gc.unfreeze()`` hands it back when the cycle is done, and the
    first full collection after it walks it once, off the cycle's critical path. Measured
    with ``python -m bench`` (bench/README.md): the collector's CPU in the cycle fell from
    2.1 and 2.5 s in two runs at 2,000 accounts to 1.15-1.29 s in four; what is
    left is mostly while the book loads, as it grows.
    """
    gc.freeze()
    if resume:
        gc.enable()
    try:
        yield
    finally:
        gc.unfreeze()


def _fresh_ids(plan: Plan, earlier: list[LedgerRow]) -> Plan:
    """A planned instruction whose id belongs to an instruction already cancelled today
    (``earlier``: the day's ledger) gets the next revision of its id: the broker would
    refuse the old one."""
    ledger = {r.instruction_id: r for r in earlier}
    rows: list[PlanRow] = []
    for row in plan.rows:
        key, revision = row.instruction_id, 0
        while key is not None and row.instruction_type is not None and _spent(ledger.get(key)):
            revision += 1
            key = instruction_id(
                business_date=plan.business_date,
                account_id=row.account_id,
                instrument_id=row.instrument_id,
                instruction_type=row.instruction_type,
                quantity=row.quantity,
                revision=revision,
            )
        rows.append(row if key == row.instruction_id else replace(row, instruction_id=key))
    return replace(plan, rows=tuple(rows))


def _spent(existing: LedgerRow | None) -> bool:
    return existing is not None and (existing.superseded or existing.state is RowState.CANCELLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Cycle:
    run_id: str
    broker: InstructionBroker
    journal: Journal
    clock: Clock
    sleep: Sleep
    options: RunOptions
    checkpoint: Checkpoint
    internal_cutoff: datetime
    scope: set[int] | None

    def in_scope(self, row: LedgerRow) -> bool:
        return self.scope is None or row.account_id in self.scope

    def reconciler(self) -> Reconciler:
        return Reconciler(
            broker=self.broker,
            journal=self.journal,
            run_id=self.run_id,
            clock=self.clock,
            sleep=self.sleep,
            policy=ReconcilePolicy(
                until=self.internal_cutoff,
                first_delay=self.options.poll_first_delay,
                max_delay=self.options.poll_max_delay,
                concurrency=self.options.concurrency,
            ),
        )

    async def carry_out(
        self, day: date, wanted: list[LedgerRow], outcome: RunOutcome, *, earlier: list[LedgerRow]
    ) -> None:
        """``wanted``: this plan's rows as ``record_plan`` returned them; ``earlier``: the
        day's ledger read just before it. Both are re-read only if re-evaluation wrote."""
        rows, ours = wanted, {r.instruction_id for r in [*earlier, *wanted]}
        blocked, wrote = await self.supersede(day, wanted, earlier)
        if blocked:
            self.journal.apply(self.run_id, blocked, at=self.clock(), source="decision")
        if blocked or wrote:
            current = self.journal.rows(day)
            by_key = {r.instruction_id: r for r in current}
            rows = [by_key[w.instruction_id] for w in wanted if w.instruction_id in by_key]
            ours = set(by_key)
        outcome.submit = await Submitter(
            broker=self.broker,
            journal=self.journal,
            run_id=self.run_id,
            clock=self.clock,
            sleep=self.sleep,
            checkpoint=self.checkpoint,
            policy=SubmitPolicy(
                deadline=self.internal_cutoff,
                batch_size=self.options.batch_size,
                concurrency=self.options.concurrency,
            ),
        ).submit(rows, ours=ours)
        outcome.reconcile = await self.reconciler().reconcile(day)

    async def supersede(
        self, day: date, wanted: list[LedgerRow], earlier: list[LedgerRow]
    ) -> tuple[list[RowUpdate], bool]:
        """Cancel the earlier plans' instructions the new plan no longer contains. Returns
        FAILED updates for new rows on a contract where an earlier instruction still
        stands — its cancel failed, in this run or an earlier one — and whether anything
        was written (else ``earlier`` and ``wanted`` are still the ledger as it is)."""
        keep = {w.instruction_id for w in wanted}
        stale = [
            r
            for r in earlier
            if r.instruction_id not in keep
            and not r.superseded
            and r.state not in _DONE
            and self.in_scope(r)
        ]
        if stale and self.clock() >= self.internal_cutoff:
            log.warning("reevaluation_too_late", rows=len(stale))
            return [], False
        for row in stale:
            self.journal.supersede(
                self.run_id, row.instruction_id, at=self.clock(), reason="replaced by a later plan"
            )
            await self.withdraw(row)
        if stale:
            await self.reconciler().reconcile(day)
        standing = {
            (r.account_id, r.instrument_id)
            for r in (self.journal.rows(day) if stale else earlier)
            if r.instruction_id not in keep and r.state.at_broker and self.in_scope(r)
        }
        blocked = [
            RowUpdate(
                instruction_id=w.instruction_id,
                state=RowState.FAILED,
                reason="not sent: the earlier instruction on this contract could not be cancelled",
            )
            for w in wanted
            if w.state is RowState.PENDING and (w.account_id, w.instrument_id) in standing
        ]
        return blocked, bool(stale)

    async def withdraw(self, row: LedgerRow) -> None:
        """Cancel one superseded row: at the broker by its server id, or — never sent —
        in the ledger only."""
        server_id = row.server_id
        if server_id is None and row.state is RowState.PENDING and row.attempts > 0:
            found = await self._find(row)  # it may have reached the broker before a crash
            if found is not None:
                self.journal.apply(
                    self.run_id, [RowUpdate.observed(found)], at=self.clock(), source="list"
                )
                server_id = found.server_id if found.stored else None
        if server_id is None:
            update = RowUpdate(
                instruction_id=row.instruction_id,
                state=RowState.CANCELLED,
                reason="superseded before it was sent",
            )
            self.journal.apply(self.run_id, [update], at=self.clock(), source="decision")
            return
        try:
            seen = await self.broker.cancel(row.account_id, server_id)
        except BrokerAuthError:
            raise
        except BrokerError as exc:
            # The DELETE may have taken effect with its reply lost: look before concluding.
            self.journal.event(
                self.run_id,
                "cancel_not_confirmed",
                at=self.clock(),
                instruction_id=row.instruction_id,
                account_id=row.account_id,
                data={"error": str(exc)},
            )
            log.warning(
                "cancel_not_confirmed", instruction_id=row.instruction_id, error=exc.message
            )
            found = await self._find(row)
            if found is not None:
                update = RowUpdate.observed(found, instruction_id=row.instruction_id)
                self.journal.apply(self.run_id, [update], at=self.clock(), source="list")
            return
        update = RowUpdate.observed(seen, instruction_id=row.instruction_id)
        self.journal.apply(self.run_id, [update], at=self.clock(), source="cancel")
        log.info("instruction_cancel_requested", instruction_id=row.instruction_id)

    async def _find(self, row: LedgerRow) -> BrokerInstruction | None:
        try:
            held = await self.broker.list_instructions(row.account_id)
        except BrokerError:
            return None
        return next((h for h in held if h.instruction_id == row.instruction_id), None)
