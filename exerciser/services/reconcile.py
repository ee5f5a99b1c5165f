"""Use case: follow every instruction at the broker to a terminal state.

Polls each account's instruction list (accounts in parallel, bounded), with a growing
delay, until no row of the day is open or the escalation point is reached; whatever is
still open then is reported, never silently dropped. Only changes are journaled, so a
long evening of polls does not bloat the journal. Rows rejected at submit are terminal
from the reply and never polled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import structlog

from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowState, RowUpdate
from exerciser.errors import BrokerProtocolError, BrokerTransientError
from exerciser.ports import Clock, InstructionBroker, Journal, Sleep

log = structlog.get_logger("exerciser.reconcile")


APPLY_CHUNK = 2000  # updates a transaction: few transactions, bounded memory

_POLLED = frozenset({RowState.SENT, RowState.CANCEL_REQUESTED, RowState.UNKNOWN})


def _polled(row: LedgerRow) -> bool:
    """Rows the broker holds and has not finished with — and rows sent without a
    confirmation (PENDING after an attempt), which it may hold: looking adopts them."""
    return row.state in _POLLED or (row.state is RowState.PENDING and row.attempts > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcilePolicy:
    until: datetime  # the escalation point: stop and report what is still open
    first_delay: float = 1.0
    max_delay: float = 30.0
    concurrency: int = 8


@dataclass(slots=True)
class ReconcileReport:
    polls: int = 0
    open: list[LedgerRow] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # open rows the broker does not list


class Reconciler:
    def __init__(
        self,
        *,
        broker: InstructionBroker,
        journal: Journal,
        run_id: str,
        policy: ReconcilePolicy,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._journal = journal
        self._run_id = run_id
        self._policy = policy
        self._clock = clock
        self._sleep = sleep

    async def reconcile(self, business_date: date) -> ReconcileReport:
        report = ReconcileReport()
        delay = self._policy.first_delay
        still_open = self._journal.open_rows(business_date)  # every polled row is open
        while True:
            polled = [r for r in still_open if _polled(r)]
            if polled:
                report.polls += 1
                await self.poll(polled, report)
                still_open = self._journal.open_rows(business_date)
            # Wait only on what the broker holds; an unconfirmed send it does not list
            # is looked for at each poll but does not hold the loop open.
            waiting = [r for r in still_open if r.state in _POLLED]
            now = self._clock()
            if not waiting or now >= self._policy.until:
                report.open = still_open
                if still_open:
                    log.warning(
                        "rows_unresolved",
                        rows=len(still_open),
                        escalation_at=self._policy.until.isoformat(),
                    )
                return report
            remaining = (self._policy.until - now).total_seconds()
            await self._sleep(max(0.0, min(delay, remaining)))
            delay = min(self._policy.max_delay, delay * 2)

    async def poll(self, rows: Sequence[LedgerRow], report: ReconcileReport) -> None:
        """One look at every account holding one of ``rows``; journal what changed, in
        one transaction for the whole round (a crash mid-round just means a re-look)."""
        by_account: dict[int, list[LedgerRow]] = {}
        for row in rows:
            by_account.setdefault(row.account_id, []).append(row)
        slots = asyncio.Semaphore(self._policy.concurrency)

        async def one(account_id: int, mine: list[LedgerRow]) -> list[RowUpdate]:
            async with slots:
                try:
                    held = await self._broker.list_instructions(account_id)
                except (BrokerTransientError, BrokerProtocolError) as exc:
                    log.warning("poll_failed", account_id=account_id, error=exc.message)
                    return []
            return self._observe(mine, held, report)

        found = await asyncio.gather(*(one(a, m) for a, m in sorted(by_account.items())))
        pending: list[RowUpdate] = []
        for account_updates in found:
            pending.extend(account_updates)
            if len(pending) >= APPLY_CHUNK:
                self._journal.apply(self._run_id, pending, at=self._clock(), source="list")
                pending = []
        if pending:
            self._journal.apply(self._run_id, pending, at=self._clock(), source="list")

    def _observe(
        self, mine: list[LedgerRow], held: list[BrokerInstruction], report: ReconcileReport
    ) -> list[RowUpdate]:
        by_key = {h.instruction_id: h for h in held}
        updates = []
        for row in mine:
            seen = by_key.get(row.instruction_id)
            if seen is None:
                report.missing.add(row.instruction_id)
                continue
            report.missing.discard(row.instruction_id)
            update = RowUpdate.observed(seen)
            if _changes(row, update):
                updates.append(update)
        if updates:
            bound = log.bind()  # the lazy proxy binds at every call: bind once
            if bound.is_enabled_for(logging.DEBUG):  # else not even the arguments
                for update in updates:
                    bound.debug(
                        "instruction_updated",
                        instruction_id=update.instruction_id,
                        state=str(update.state),
                        reason=update.reason,
                    )
            states = {str(state): n for state, n in Counter(u.state for u in updates).items()}
            bound.info("instructions_updated", account_id=mine[0].account_id, states=states)
        return updates


def _changes(row: LedgerRow, update: RowUpdate) -> bool:
    return (
        row.state is not update.state
        or row.accepted_quantity != update.accepted_quantity
        or (update.server_id is not None and row.server_id != update.server_id)
        or row.raw_status != update.raw_status
    )
