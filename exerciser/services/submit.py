"""Use case: send the ledger's pending rows to the broker, exactly once.

Exactly once rests on two things: every row has a deterministic ``instruction_id`` that
the broker deduplicates on, and every row is journaled before it is sent. So whatever
fails, we never guess: we look at what the broker holds (listing the account's
instructions) and adopt it, and only send what it does not have — with the same id.

Per account: list first (adopt rows a crashed run already sent; refuse rows whose
contract carries an instruction we did not send), then send the rest in batches.
Every batch outcome of the API is handled:

- 200 / 207: each row is stored (SENT) or rejected with its reason; a row rejected as a
  duplicate is already there, so it is looked up and adopted.
- 409, all duplicates: look up and adopt.
- 400 / 404 refusing the whole batch: split it to find the offending rows; they fail
  with the broker's reason, the good rows go through.
- 5xx, 429, connection failures: nothing was stored; retry with backoff (honouring
  Retry-After) until the submit deadline, then the rows fail as unresolved.
- No reply (ambiguous): look, adopt what arrived, resend the rest with the same ids.
- 401 / 403: stop; nothing more can be sent with these credentials.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowState, RowUpdate
from exerciser.errors import (
    BrokerAmbiguousError,
    BrokerAuthError,
    BrokerConflictError,
    BrokerError,
    BrokerNotFoundError,
    BrokerProtocolError,
    BrokerTransientError,
    BrokerValidationError,
)
from exerciser.ports import Clock, InstructionBroker, Journal, Sleep, SubmitReply

log = structlog.get_logger("exerciser.submit")

Checkpoint = Callable[[str], None]

DUPLICATE_CODE = "DUPLICATE_INSTRUCTION"
_LIVE = frozenset({"SENT", "ACCEPTED", "CANCEL_REQUESTED", "CANCEL_FAILED", "UNKNOWN"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitPolicy:
    deadline: datetime  # no (re)send after this: the internal cutoff
    batch_size: int = 50
    concurrency: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(slots=True)
class SubmitReport:
    sent: int = 0
    adopted: int = 0
    rejected: int = 0
    failed: int = 0
    conflicts: int = 0
    unconfirmed: int = 0  # may be at the broker; left open at the deadline
    batches: int = 0


def never(_: str) -> None:
    """The default checkpoint: nothing happens at named points of the submit path."""


class Submitter:
    def __init__(
        self,
        *,
        broker: InstructionBroker,
        journal: Journal,
        run_id: str,
        policy: SubmitPolicy,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        checkpoint: Checkpoint = never,
        rng: random.Random | None = None,
    ) -> None:
        self._broker = broker
        self._journal = journal
        self._run_id = run_id
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._checkpoint = checkpoint
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._report = SubmitReport()
        self._ours: set[str] = set()
        # Rows that may be at the broker without our knowing (a reply lost and no look
        # since, or an earlier run's attempt): never concluded "not sent".
        self._unconfirmed: set[str] = set()

    async def submit(
        self, rows: Sequence[LedgerRow], *, ours: Collection[str] | None = None
    ) -> SubmitReport:
        """Send every PENDING, not superseded row of ``rows``; return what happened.

        ``ours``: the instruction ids of every ledger row of the rows' days (an id the
        broker holds that is not among them is someone else's); read from the journal
        when not given.
        """
        by_account: dict[int, list[LedgerRow]] = {}
        if ours is None:
            days = {row.business_date for row in rows}
            ours = {r.instruction_id for day in days for r in self._journal.rows(day)}
        self._ours = set(ours)
        for row in rows:
            if row.state is RowState.PENDING and not row.superseded:
                by_account.setdefault(row.account_id, []).append(row)
                if row.attempts > 0:
                    self._unconfirmed.add(row.instruction_id)
        slots = asyncio.Semaphore(self._policy.concurrency)

        async def one(account_id: int, pending: list[LedgerRow]) -> None:
            async with slots:
                structlog.contextvars.bind_contextvars(account_id=account_id)
                await self._account(account_id, pending)

        await asyncio.gather(*(one(a, p) for a, p in sorted(by_account.items())))
        return self._report

    # ------------------------------------------------------------------ account

    async def _account(self, account_id: int, pending: list[LedgerRow]) -> None:
        pending = await self._adopt_or_refuse(account_id, pending)
        size = self._policy.batch_size
        for start in range(0, len(pending), size):
            await self._batch(account_id, pending[start : start + size])

    async def _adopt_or_refuse(self, account_id: int, pending: list[LedgerRow]) -> list[LedgerRow]:
        """Look before sending: adopt what the broker already holds under our ids (a run
        that crashed after sending), and refuse rows whose contract carries a live
        instruction we did not send (entered by hand, or by another system)."""
        held = await self._listing(account_id)
        if held is None:
            return pending  # could not look: sending is still safe (same ids)
        self._unconfirmed.difference_update(r.instruction_id for r in pending)
        by_key = {h.instruction_id: h for h in held}
        foreign: dict[str, BrokerInstruction] = {}
        for h in held:
            if h.instruction_id not in self._ours and h.status.value in _LIVE:
                foreign.setdefault(h.instrument_id, h)
        updates: list[RowUpdate] = []
        remaining: list[LedgerRow] = []
        for row in pending:
            if (seen := by_key.get(row.instruction_id)) is not None:
                updates.append(RowUpdate.observed(seen))
                self._report.adopted += 1
            elif (other := foreign.get(row.instrument_id)) is not None:
                why = (
                    f"the broker already holds an instruction we did not send on "
                    f"{row.symbol}: {other.instruction_type} {other.quantity} "
                    f"(id {other.instruction_id}, {other.raw_status}); not sending a second one"
                )
                updates.append(
                    RowUpdate(
                        instruction_id=row.instruction_id, state=RowState.CONFLICT, reason=why
                    )
                )
                self._journal.event(
                    self._run_id,
                    "instruction_conflict",
                    at=self._clock(),
                    instruction_id=row.instruction_id,
                    account_id=account_id,
                    data={"foreign_id": other.instruction_id, "reason": why},
                )
                self._report.conflicts += 1
                log.warning(
                    "instruction_conflict",
                    instruction_id=row.instruction_id,
                    foreign_id=other.instruction_id,
                )
            else:
                remaining.append(row)
        if updates:
            self._journal.apply(self._run_id, updates, at=self._clock(), source="list")
        return remaining

    # ------------------------------------------------------------------- batches

    async def _batch(self, account_id: int, batch: list[LedgerRow]) -> None:
        attempt = 0
        while batch:
            attempt += 1
            if self._clock() >= self._policy.deadline:
                self._out_of_time(account_id, batch)
                return
            attempt_id = self._journal.record_attempt(
                self._run_id,
                account_id=account_id,
                instruction_ids=[r.instruction_id for r in batch],
                at=self._clock(),
            )
            self._checkpoint("attempt_journaled")
            self._report.batches += 1
            try:
                reply = await self._broker.submit(account_id, batch)
            except BrokerAuthError as exc:
                self._close(attempt_id, exc, outcome="auth")
                raise
            except (BrokerConflictError, BrokerValidationError, BrokerNotFoundError) as exc:
                self._checkpoint("reply_received")
                await self._refused(account_id, batch, attempt_id, exc)
                return
            except (BrokerTransientError, BrokerAmbiguousError, BrokerProtocolError) as exc:
                self._checkpoint("reply_received")
                batch = await self._unsure(account_id, batch, attempt_id, exc)
                if batch:
                    await self._backoff(attempt, exc)
                continue
            self._checkpoint("reply_received")
            batch = await self._answered(account_id, batch, attempt_id, reply)

    async def _answered(
        self, account_id: int, batch: list[LedgerRow], attempt_id: int, reply: SubmitReply
    ) -> list[LedgerRow]:
        """200 or 207: every row stored or rejected; duplicates are adopted. Returns the
        rows the reply does not mention (looked for, and resent if not found)."""
        by_key = {r.instruction_id: r for r in reply.rows}
        updates: list[RowUpdate] = []
        duplicates: list[LedgerRow] = []
        unmentioned: list[LedgerRow] = []
        for row in batch:
            seen = by_key.get(row.instruction_id)
            if seen is None:
                unmentioned.append(row)
                continue
            if seen.stored:
                updates.append(RowUpdate.observed(seen))
                self._report.sent += 1
            elif _is_duplicate(seen):
                duplicates.append(row)
            else:
                updates.append(_rejected(row, seen))
                self._report.rejected += 1
        self._journal.apply(
            self._run_id,
            updates,
            at=self._clock(),
            source="submit",
            attempt_id=attempt_id,
            attempt_outcome=str(reply.http_status),
            http_status=reply.http_status,
            request_id=reply.request_id,
        )
        self._checkpoint("reply_journaled")
        log.info(
            "batch_submitted",
            account_id=account_id,
            rows=len(batch),
            http_status=reply.http_status,
            request_id=reply.request_id,
        )
        if duplicates:
            await self._adopt_duplicates(account_id, duplicates)
        if unmentioned:
            log.warning("rows_not_in_reply", account_id=account_id, rows=len(unmentioned))
            return await self._adopt_or_refuse(account_id, unmentioned)
        return []

    async def _refused(
        self, account_id: int, batch: list[LedgerRow], attempt_id: int, exc: BrokerError
    ) -> None:
        """A 4xx for the whole batch. Rows the reply explains are settled; a refusal
        that names no row (pre-flight) is split until the offending rows are alone."""
        self._close(attempt_id, exc, outcome=str(exc.status))
        explained = {r.instruction_id: r for r in exc.rows if isinstance(r, BrokerInstruction)}
        if isinstance(exc, BrokerConflictError):
            await self._adopt_duplicates(account_id, batch)
            return
        if explained:
            updates, duplicates, unexplained = [], [], []
            for row in batch:
                seen = explained.get(row.instruction_id)
                if seen is None:
                    unexplained.append(row)
                elif _is_duplicate(seen):
                    duplicates.append(row)
                else:
                    updates.append(_rejected(row, seen))
                    self._report.rejected += 1
            self._journal.apply(self._run_id, updates, at=self._clock(), source="submit")
            if duplicates:
                await self._adopt_duplicates(account_id, duplicates)
            if unexplained:  # left open: the reconciler looks for them, the report names them
                log.warning("rows_not_in_reply", account_id=account_id, rows=len(unexplained))
            return
        if len(batch) == 1:
            self._fail(batch, f"refused by the broker: {exc.message}")
            return
        middle = len(batch) // 2
        log.info("batch_split", account_id=account_id, rows=len(batch), status=exc.status)
        await self._batch(account_id, batch[:middle])
        await self._batch(account_id, batch[middle:])

    async def _unsure(
        self, account_id: int, batch: list[LedgerRow], attempt_id: int, exc: BrokerError
    ) -> list[LedgerRow]:
        """Transient: nothing was stored. Ambiguous: look, and adopt what arrived.
        Returns the rows still to send."""
        self._close(attempt_id, exc, outcome=type(exc).__name__)
        log.warning(
            "batch_not_confirmed",
            account_id=account_id,
            rows=len(batch),
            error=exc.message,
            status=exc.status,
        )
        if isinstance(exc, BrokerTransientError):
            return batch
        self._unconfirmed.update(r.instruction_id for r in batch)
        return await self._adopt_or_refuse(account_id, batch)

    async def _adopt_duplicates(self, account_id: int, rows: list[LedgerRow]) -> None:
        """The broker says it has these ids already: find them and adopt them. If it
        cannot be asked now, the rows stay PENDING: the broker holds them, and the next
        look (reconcile, or the next run) adopts them — concluding FAILED would leave
        the journal disagreeing with the broker for good."""
        held = await self._listing(account_id)
        if held is None:
            log.warning("duplicates_not_adopted", account_id=account_id, rows=len(rows))
            return
        by_key = {h.instruction_id: h for h in held}
        updates = []
        for row in rows:
            seen = by_key.get(row.instruction_id)
            if seen is not None:
                updates.append(RowUpdate.observed(seen))
                self._report.adopted += 1
            else:
                updates.append(
                    RowUpdate(
                        instruction_id=row.instruction_id,
                        state=RowState.FAILED,
                        reason="the broker calls it a duplicate but does not list it",
                    )
                )
                self._report.failed += 1
        self._journal.apply(self._run_id, updates, at=self._clock(), source="list")

    # ------------------------------------------------------------------ helpers

    async def _listing(self, account_id: int) -> list[BrokerInstruction] | None:
        try:
            return await self._broker.list_instructions(account_id)
        except (BrokerTransientError, BrokerProtocolError) as exc:
            log.warning("instructions_unlisted", account_id=account_id, error=exc.message)
            return None

    def _close(self, attempt_id: int, exc: BrokerError, *, outcome: str) -> None:
        self._journal.apply(
            self._run_id,
            [],
            at=self._clock(),
            source="submit",
            attempt_id=attempt_id,
            attempt_outcome=outcome,
            http_status=exc.status,
            request_id=exc.request_id,
        )

    def _out_of_time(self, account_id: int, batch: list[LedgerRow]) -> None:
        """The deadline passed. Rows certainly not at the broker fail; rows that may be
        there stay PENDING — the reconciler keeps looking and reports them unresolved."""
        unsure = [r for r in batch if r.instruction_id in self._unconfirmed]
        self._fail(
            [r for r in batch if r.instruction_id not in self._unconfirmed],
            "not sent: the submit deadline passed",
        )
        if unsure:
            self._report.unconfirmed += len(unsure)
            self._journal.event(
                self._run_id,
                "unconfirmed_at_deadline",
                at=self._clock(),
                account_id=account_id,
                data={"instruction_ids": [r.instruction_id for r in unsure]},
            )
            log.error("rows_unconfirmed", account_id=account_id, rows=len(unsure))

    def _fail(self, rows: Sequence[LedgerRow], reason: str) -> None:
        if not rows:
            return
        updates = [
            RowUpdate(instruction_id=r.instruction_id, state=RowState.FAILED, reason=reason)
            for r in rows
        ]
        self._journal.apply(self._run_id, updates, at=self._clock(), source="decision")
        self._report.failed += len(rows)
        log.error("rows_failed", rows=len(rows), reason=reason)

    async def _backoff(self, attempt: int, exc: BrokerError) -> None:
        delay = min(self._policy.max_delay, self._policy.base_delay * 2 ** (attempt - 1))
        delay = self._rng.uniform(delay / 2, delay)
        if isinstance(exc, BrokerTransientError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self._policy.max_delay))
        remaining = (self._policy.deadline - self._clock()).total_seconds()
        await self._sleep(max(0.0, min(delay, remaining)))


def _is_duplicate(seen: BrokerInstruction) -> bool:
    if seen.reason_code == DUPLICATE_CODE:
        return True
    return (seen.reason or "").lower().startswith("duplicate")


def _rejected(row: LedgerRow, seen: BrokerInstruction) -> RowUpdate:
    return RowUpdate(
        instruction_id=row.instruction_id,
        state=RowState.REJECTED,
        reason=seen.reason or "rejected by the broker",
        reason_code=seen.reason_code,
        raw_status=seen.raw_status,
    )
