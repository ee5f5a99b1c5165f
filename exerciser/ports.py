"""The roles the use cases need from the outside world, as ``typing.Protocol``s.

Services depend on these; adapters implement them; ``bootstrap`` wires one to the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from exerciser.domain.alerts import Alert, Delivery, Severity
from exerciser.domain.book import Contract, Position, Quote
from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowUpdate
from exerciser.domain.plan import Plan

Clock = Callable[[], datetime]  # now, aware; only adapters read the wall clock
Sleep = Callable[[float], Awaitable[None]]  # injected so tests never wait on the wall clock


class BookSource(Protocol):
    """Read-only view of the broker: accounts, positions, contracts and prices."""

    async def account_ids(self) -> list[int]: ...

    async def positions(self, account_id: int) -> list[Position]: ...

    async def buying_power(self, account_id: int) -> Decimal: ...

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]: ...

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]: ...


class ReferenceStore(Protocol):
    """Keeps the OCC reference prices captured right after the close, per day."""

    def get(self, day: date) -> dict[str, Decimal]: ...

    def put(self, day: date, captured: Mapping[str, Decimal]) -> None: ...


class InstructionBroker(Protocol):
    """The broker's position-instruction endpoints. Errors are ``exerciser.errors``:
    transient, permanent (auth, not found, conflict, validation, each carrying the rows
    the reply had), ambiguous (the reply never came)."""

    async def list_instructions(self, account_id: int) -> list[BrokerInstruction]: ...

    async def submit(self, account_id: int, rows: Sequence[LedgerRow]) -> SubmitReply: ...

    async def cancel(self, account_id: int, server_id: str) -> BrokerInstruction: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitReply:
    """A submit the broker answered 200 (all stored) or 207 (some rejected)."""

    http_status: int
    rows: tuple[BrokerInstruction, ...]
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    run_id: str
    business_date: date
    as_of: datetime
    started_at: datetime
    command: str
    dry_run: bool


class Journal(Protocol):
    """The source of truth for what we intended and what we know. Every method that
    writes is one transaction."""

    def begin_run(self, run: RunRecord) -> None: ...

    def end_run(self, run_id: str, *, ended_at: datetime, outcome: str) -> None: ...

    def record_plan(self, run_id: str, plan: Plan, *, at: datetime) -> list[LedgerRow]:
        """Store every plan row (with its reasons) under ``run_id``; each intended
        instruction not yet in the ledger becomes a PENDING row. Returns the ledger rows
        of this plan's instructions, old or new."""
        ...

    def rows(self, business_date: date) -> list[LedgerRow]:
        """Every ledger row of the day, by account, then instruction id."""
        ...

    def open_rows(self, business_date: date) -> list[LedgerRow]:
        """The rows of the day not in a terminal state, in the order of ``rows``."""
        ...

    def row(self, instruction_id: str) -> LedgerRow | None: ...

    def record_attempt(
        self, run_id: str, *, account_id: int, instruction_ids: Sequence[str], at: datetime
    ) -> int:
        """Write-ahead: these rows are about to be sent. Returns the attempt id."""
        ...

    def apply(
        self,
        run_id: str,
        updates: Sequence[RowUpdate],
        *,
        at: datetime,
        source: str,
        attempt_id: int | None = None,
        attempt_outcome: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Apply updates (and close an attempt) in one transaction; every state seen is
        kept for audit. ``source`` says where they came from: submit, list, cancel,
        decision."""
        ...

    def supersede(self, run_id: str, instruction_id: str, *, at: datetime, reason: str) -> None:
        """Mark a row as replaced by a later plan (it is to be cancelled)."""
        ...

    def event(
        self,
        run_id: str | None,
        kind: str,
        *,
        at: datetime,
        instruction_id: str | None = None,
        account_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None: ...


class Notifier(Protocol):
    """One alert channel (a Slack webhook, an email route, the console).

    ``send`` delivers one alert or raises ``AlertError`` with a message that carries no
    secret (never a webhook URL or a password)."""

    name: str  # unique among the channels: "slack:ops", "email"
    min_severity: Severity  # alerts below it are not routed to this channel

    async def send(self, alert: Alert) -> None: ...


class Outbox(Protocol):
    """Durable alert deliveries: queued before anyone tries to send them, so an alert
    raised survives a crash. Every method that writes is one transaction."""

    def enqueue(self, alert: Alert, channels: Sequence[str], *, at: datetime) -> bool:
        """Queue ``alert`` for each channel, due at ``at``. Returns False when the key was
        already queued for every one of them (nothing is queued twice)."""
        ...

    def due(self, *, now: datetime, limit: int = 100) -> list[Delivery]:
        """Undelivered deliveries whose next attempt is due at ``now``, oldest first."""
        ...

    def next_attempt_at(self, channels: Sequence[str]) -> datetime | None:
        """When the earliest undelivered delivery to one of ``channels`` is due; None
        when none is pending."""
        ...

    def delivered(self, delivery_id: int, *, at: datetime) -> None: ...

    def failed(self, delivery_id: int, *, at: datetime, error: str, retry_at: datetime) -> None:
        """Count a failed attempt, keep its error, and try again at ``retry_at``."""
        ...
