"""Shared ground of the integration tests: one small expiration day at the simulator, the
rules that make it a mix of DO_NOT_EXERCISE and CONTRARY_EXERCISE instructions, a fake
clock that fake sleeps advance, a harness that runs whole cycles, and the exactly-once
invariants every scenario must end in.

The day (2026-11-20, close 16:00 New York = 21:00 UTC, exchange cutoff 17:30, internal
cutoff 17:00 = 22:00 UTC):

- AAPL closes at 190.40. A rule asks a net value nobody reaches, so every AAPL option
  OCC would exercise gets a DO_NOT_EXERCISE (calls 185 and 190, put 195); the 200 call
  is out of the money and lapses without an instruction.
- MSFT closes at 400.00 and trades at 405.00 after hours. A rule decides MSFT on the
  latest trade, so the 402, 403 and 404 calls — out of the money at the close, which is
  what OCC goes by — get a CONTRARY_EXERCISE. A short 410 call is never instructed.
- Three accounts hold 5, 2 and 3 instructions: with ``batch_size=2`` that is 3 + 1 + 2
  batches. Contracts whose clearing misbehaves (reject, partial, cancel fails) are
  listed but held by nobody until a test gives an account a position in them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.rules_yaml import parse_rules
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Plan
from exerciser.ports import BookSource, InstructionBroker, SubmitReply
from exerciser.services.plan import PlanRequest, make_plan
from exerciser.services.run import RunOptions, RunOutcome, run_day
from exerciser.services.submit import Checkpoint, never
from exerciser.sim import Simulator

BUSINESS_DATE = date(2026, 11, 20)
CLOSE_AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York
AFTER_HOURS = CLOSE_AT + timedelta(minutes=10)  # MSFT trades at `last`; closes captured
INTERNAL_CUTOFF = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 17:30 New York - 30 min
ACCOUNTS = (100, 200, 300)

AAPL_185C = "AAPL  261120C00185000"
AAPL_190C = "AAPL  261120C00190000"
AAPL_195P = "AAPL  261120P00195000"
MSFT_402C = "MSFT  261120C00402000"
MSFT_403C = "MSFT  261120C00403000"
MSFT_404C = "MSFT  261120C00404000"
REJECTED_BY_CLEARING = "AAPL  261120C00175000"  # SENT, then REJECTED at the first poll
PARTLY_ACCEPTED = "AAPL  261120C00180000"  # ACCEPTED for floor(q / 2)
CANCEL_FAILS = "AAPL  261120C00189000"  # a cancel ends CANCEL_FAILED
CLEARING_REASON = "Rejected by OCC: account restricted"
CANCEL_FAILED_REASON = "Too late to cancel"

DNE, CEA = "DO_NOT_EXERCISE", "CONTRARY_EXERCISE"
ACCEPTED = RowState.ACCEPTED
EXPECTED: dict[tuple[int, str], tuple[str, Decimal]] = {
    (100, AAPL_190C): (DNE, Decimal(5)),
    (100, AAPL_185C): (DNE, Decimal(2)),
    (100, AAPL_195P): (DNE, Decimal(3)),
    (100, MSFT_402C): (CEA, Decimal(4)),
    (100, MSFT_403C): (CEA, Decimal(1)),
    (200, AAPL_190C): (DNE, Decimal(7)),
    (200, MSFT_404C): (CEA, Decimal(2)),
    (300, AAPL_185C): (DNE, Decimal(1)),
    (300, AAPL_190C): (DNE, Decimal(1)),
    (300, MSFT_402C): (CEA, Decimal(6)),
}
"""What the day plans: (account, contract) -> (instruction type, quantity)."""
BATCHES_OF_2 = 6  # 5 + 2 + 3 instructions in batches of 2

SETTLE_ON_FIRST_POLL = "{settle_after_polls: 1}"
NEVER_SETTLES = "{settle_after_polls: 1000}"

_BOOK = """\
business_date: 2026-11-20
close_at: 2026-11-20T16:00:00-05:00
lifecycle: LIFECYCLE
underlyings:
  - {symbol: AAPL, close: "190.40", previous_close: "189.00"}
  - {symbol: MSFT, close: "400.00", last: "405.00", previous_close: "398.00"}
contracts:
  - {symbol: "AAPL  261120C00185000", underlying: AAPL}
  - {symbol: "AAPL  261120C00190000", underlying: AAPL}
  - {symbol: "AAPL  261120P00195000", underlying: AAPL}
  - {symbol: "AAPL  261120C00200000", underlying: AAPL}
  - {symbol: "AAPL  261218C00190000", underlying: AAPL}
  - {symbol: "MSFT  261120C00402000", underlying: MSFT}
  - {symbol: "MSFT  261120C00403000", underlying: MSFT}
  - {symbol: "MSFT  261120C00404000", underlying: MSFT}
  - {symbol: "MSFT  261120C00410000", underlying: MSFT}
  - {symbol: "AAPL  261120C00175000", underlying: AAPL, outcome: reject,
     reject_reason: "Rejected by OCC: account restricted"}
  - {symbol: "AAPL  261120C00180000", underlying: AAPL, outcome: partial,
     accepted_fraction: "0.5"}
  - {symbol: "AAPL  261120C00189000", underlying: AAPL, cancel_outcome: cancel_failed,
     cancel_failed_reason: "Too late to cancel"}
accounts:
  - id: 100
    balances: {buying_power: "10000000.00"}
    positions:
      - {symbol: "AAPL  261120C00190000", quantity: "5"}
      - {symbol: "AAPL  261120C00185000", quantity: "2"}
      - {symbol: "AAPL  261120P00195000", quantity: "3"}
      - {symbol: "MSFT  261120C00402000", quantity: "4"}
      - {symbol: "MSFT  261120C00403000", quantity: "1"}
      - {symbol: "AAPL  261120C00200000", quantity: "2"}
  - id: 200
    balances: {buying_power: "10000000.00"}
    positions:
      - {symbol: "AAPL  261120C00190000", quantity: "7"}
      - {symbol: "MSFT  261120C00404000", quantity: "2"}
      - {symbol: "MSFT  261120C00410000", quantity: "-1"}
  - id: 300
    balances: {buying_power: "10000000.00"}
    positions:
      - {symbol: "MSFT  261120C00402000", quantity: "6"}
      - {symbol: "AAPL  261120C00185000", quantity: "1"}
      - {symbol: "AAPL  261120C00190000", quantity: "1"}
      - {symbol: "AAPL  261218C00190000", quantity: "3"}
"""

RULES = """\
version: 1
rules:
  - match: {underlying: AAPL}   # thin edges: not worth exercising, so DO_NOT_EXERCISE
    set: {min_net_value: "1000000"}
  - match: {underlying: MSFT}   # decide on the after-hours trade: CONTRARY_EXERCISE
    set: {decision_price: latest}
"""


def book_yaml(lifecycle: str = SETTLE_ON_FIRST_POLL) -> str:
    """The scenario YAML of the day with the given ``lifecycle`` mapping."""
    return _BOOK.replace("LIFECYCLE", lifecycle)


def worth_exercising(symbol: str, account: int = 100) -> str:
    """A rule (to append to ``RULES``) under which ``symbol`` is worth exercising: OCC
    exercises it by default, so it needs no instruction at all."""
    return (
        f'  - match: {{account: {account}, symbol: "{symbol}"}}\n    set: {{min_net_value: "0"}}\n'
    )


def force_dne(symbol: str, quantity: int, account: int = 100) -> str:
    """A rule forcing DO_NOT_EXERCISE on ``quantity`` contracts; the rest is worth
    exercising, so the plan has one DNE of ``quantity`` on ``symbol``."""
    return worth_exercising(symbol, account) + (
        f"    action: do_not_exercise\n    quantity: {quantity}\n"
    )


CAPTURED_CLOSES = {"AAPL": Decimal("190.40"), "MSFT": Decimal("400.00")}


class MemoryReferences:
    """A ``ReferenceStore`` holding the closes captured at 16:00 (so after-hours plans
    decide on them), in memory."""

    def __init__(self) -> None:
        self.captured: dict[date, dict[str, Decimal]] = {BUSINESS_DATE: dict(CAPTURED_CLOSES)}

    def get(self, day: date) -> dict[str, Decimal]:
        return dict(self.captured.get(day, {}))

    def put(self, day: date, captured: dict[str, Decimal]) -> None:
        self.captured.setdefault(day, {}).update(captured)


class FakeClock:
    """Time that moves only when a fake sleep (or a test) moves it. The simulator and the
    services share it; ``sleeps`` records every delay that was asked for."""

    def __init__(self, start: datetime = AFTER_HOURS) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # a checkpoint, as a real sleep is; no wall-clock time


# ----------------------------------------------------------------------- broker hooks


def _nothing(_account_id: int) -> None:
    """The default hook: do nothing."""


class Hooked(ClearStreetInstructions):
    """The real broker adapter, with a hook called just before each submit, listing and
    cancel (given the account id): where a test arms a simulator fault for exactly the
    next request, or changes the book between the plan and the send."""

    def __init__(
        self,
        client: ClearStreetClient,
        *,
        before_submit: Callable[[int], None] = _nothing,
        before_list: Callable[[int], None] = _nothing,
        before_cancel: Callable[[int], None] = _nothing,
    ) -> None:
        super().__init__(client)
        self._before_submit = before_submit
        self._before_list = before_list
        self._before_cancel = before_cancel
        self.submitted: list[tuple[int, tuple[str, ...]]] = []

    async def submit(self, account_id: int, rows: Sequence[LedgerRow]) -> SubmitReply:
        self._before_submit(account_id)
        self.submitted.append((account_id, tuple(r.instruction_id for r in rows)))
        return await super().submit(account_id, rows)

    async def list_instructions(self, account_id: int) -> Any:
        self._before_list(account_id)
        return await super().list_instructions(account_id)

    async def cancel(self, account_id: int, server_id: str) -> Any:
        self._before_cancel(account_id)
        return await super().cancel(account_id, server_id)


@dataclass
class Arm:
    """Set the simulator fault counter ``fault`` to 1 just before each of the next
    ``times`` calls (of ``account``, when given), so the fault hits exactly that request.
    Only safe while no other request is in flight: run with ``concurrency=1``."""

    sim: Simulator
    fault: str
    times: int = 1
    account: int | None = None

    def __call__(self, account_id: int) -> None:
        if self.times > 0 and self.account in (None, account_id):
            self.times -= 1
            setattr(self.sim.faults, self.fault, 1)


# --------------------------------------------------------------------------- harness


@dataclass
class Harness:
    """One simulated day: the simulator, the shared fake clock, a journal, and the
    calendar; ``run`` is one whole cycle of ``run_day`` over real HTTP."""

    sim: Simulator
    clock: FakeClock
    journal: SqliteJournal
    calendar: XnysCalendar
    references: MemoryReferences = field(default_factory=MemoryReferences)
    runs: int = 0

    def connect(self, *, attempts: int = 3) -> ClearStreetClient:
        return ClearStreetClient(
            base_url=self.sim.base_url,
            api_key=SecretStr(self.sim.token),
            retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.04),
            sleep=self.clock.sleep,
        )

    def request(self, rules: str = RULES, accounts: Sequence[int] = ()) -> PlanRequest:
        return PlanRequest(
            business_date=BUSINESS_DATE,
            as_of=self.clock(),
            rules=parse_rules(rules, source="integration-rules.yaml"),
            account_ids=tuple(accounts),
        )

    async def plan(self, rules: str = RULES) -> Plan:
        async with self.connect() as client:
            return await make_plan(
                self.request(rules),
                source=ClearStreetBookSource(client),
                calendar=self.calendar,
                references=self.references,
            )

    async def run(
        self,
        *,
        rules: str = RULES,
        options: RunOptions | None = None,
        broker: Callable[[ClearStreetClient], InstructionBroker] = ClearStreetInstructions,
        attempts: int = 3,
        accounts: Sequence[int] = (),
        checkpoint: Checkpoint = never,
        source: Callable[[ClearStreetClient], BookSource] = ClearStreetBookSource,
    ) -> RunOutcome:
        self.runs += 1
        async with self.connect(attempts=attempts) as client:
            return await run_day(
                self.request(rules, accounts),
                run_id=f"run-{self.runs}",
                source=source(client),
                broker=broker(client),
                journal=self.journal,
                calendar=self.calendar,
                references=self.references,
                clock=self.clock,
                sleep=self.clock.sleep,
                options=options or RunOptions(batch_size=2),
                checkpoint=checkpoint,
            )


# ------------------------------------------------------------------------ invariants


def held(sim: Simulator) -> list[dict[str, Any]]:
    """Every instruction the broker stores, all accounts (a look, not a poll)."""
    return [i for account in ACCOUNTS for i in sim.book.instructions(account)]


def terms(rows: Iterable[LedgerRow]) -> dict[tuple[int, str], tuple[str, Decimal]]:
    return {(r.account_id, r.symbol): (r.instruction_type.value, r.quantity) for r in rows}


def attempt_outcomes(journal: SqliteJournal, rows: Iterable[LedgerRow]) -> Counter[str | None]:
    """How the submit attempts that carried ``rows`` ended, each attempt counted once."""
    attempts = {a["id"]: a["outcome"] for r in rows for a in journal.attempts_of(r.instruction_id)}
    return Counter(attempts.values())


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def assert_exactly_once(
    sim: Simulator,
    journal: SqliteJournal,
    planned: Iterable[LedgerRow],
    open_rows: Iterable[LedgerRow] = (),
) -> None:
    """The invariants every scenario ends in:

    1. every planned instruction id is at the broker at most once;
    2. every planned row is terminal in the journal, or reported open;
    3. the journal agrees with the broker: a row the broker holds has the broker's
       status, server id and accepted quantity; a row it does not hold is not journaled
       as held.
    """
    ids = [r.instruction_id for r in planned]
    stored = held(sim)
    counts = Counter(i["instruction_id"] for i in stored)
    assert {i: counts[i] for i in ids if counts[i] > 1} == {}, "sent more than once"

    reported = {r.instruction_id for r in open_rows}
    journaled = {i: journal.row(i) for i in ids}
    lost = {i: r for i, r in journaled.items() if r is None}
    assert lost == {}, "planned rows missing from the journal"
    unresolved = {
        i: r.state
        for i, r in journaled.items()
        if r is not None and not r.state.is_terminal and i not in reported
    }
    assert unresolved == {}, "rows neither terminal nor reported open"

    at_broker = {i["instruction_id"]: i for i in stored}
    disagreements = {}
    for iid, row in journaled.items():
        assert row is not None
        wire = at_broker.get(iid)
        if wire is None:
            if row.state.at_broker:
                disagreements[iid] = (row.state.value, "not at the broker")
            continue
        ours = (row.state.value, row.server_id, row.accepted_quantity)
        theirs = (wire["status"], wire["id"], _decimal(wire["accepted_quantity"]))
        if ours != theirs:
            disagreements[iid] = (ours, theirs)
    assert disagreements == {}, "the journal disagrees with the broker"
