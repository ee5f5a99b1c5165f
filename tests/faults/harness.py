"""Whole expiration days under a seeded ``Schedule``: the simulator on a fake clock, a
real journal file, the real client over HTTP, processes that die mid-flight and are
restarted, then the invariants and the alerts.

A "process" is one ``run_day`` with its own client and journal connection. It dies by
raising ``Killed`` (a ``BaseException``: no ``except Exception`` of the code under test
catches it) at its kill point. From then on everything it owns refuses to work — every
journal call, broker call, HTTP request and sleep raises ``Killed`` again — so nothing
runs after the death that a SIGKILL would not have allowed: ``run_day``'s ``finally``
cannot even end the run. Its surviving tasks (other accounts, submitted in parallel)
hit the same wall and end; then its connections are released, as the OS would, and
the next process opens the same journal file.

Requests go over the wire one at a time and are numbered over the whole day, so a fault
armed "before request 17" hits exactly request 17.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clearstreet.pool import Origin, Reply
from exerciser.adapters.clearstreet.transport import AsyncioTransport
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.rules_yaml import parse_rules
from exerciser.domain.alerts import Alert, Severity
from exerciser.domain.ledger import BrokerInstruction, LedgerRow, RowState
from exerciser.domain.policy import RuleSet
from exerciser.errors import AlertError, BrokerError
from exerciser.ports import SubmitReply
from exerciser.services.alert_builders import outcome_alerts
from exerciser.services.alerts import AlertDispatcher
from exerciser.services.plan import PlanRequest
from exerciser.services.run import RunOptions, RunOutcome, run_day
from exerciser.sim import Simulator

from .schedule import (
    BUSINESS_DATE,
    CAPTURED_CLOSES,
    INTERNAL_CUTOFF,
    REJECT_REASON,
    RULES,
    Kill,
    Schedule,
)

T = TypeVar("T")

DEADLINE_PASSED = "not sent: the submit deadline passed"
JOURNAL_WRITES = frozenset(
    {"begin_run", "end_run", "record_plan", "record_attempt", "apply", "supersede", "event"}
)
EXTRA_RUNS = 4  # restarts allowed beyond one per kill (a run whose planning failed)
STRAY_GRACE = 30.0  # wall-clock seconds a dead process's tasks get to notice: a bound, never waited


class Killed(BaseException):
    """The process died here."""


class FakeClock:
    """Time that moves only when a fake sleep, or the simulator's latency, moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """The simulator's ``sleep`` (its thread runs it while the loop awaits the reply)."""
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)  # a scheduling point, as a real sleep is; no wall-clock time


class MemoryReferences:
    """The closes captured at 16:00; they survive restarts, as the file store does."""

    def __init__(self) -> None:
        self.captured: dict[date, dict[str, Decimal]] = {BUSINESS_DATE: dict(CAPTURED_CLOSES)}

    def get(self, day: date) -> dict[str, Decimal]:
        return dict(self.captured.get(day, {}))

    def put(self, day: date, captured: dict[str, Decimal]) -> None:
        self.captured.setdefault(day, {}).update(captured)


# ---------------------------------------------------------------------- the process


class Process:
    """One run's life: counts kill points and, once dead, refuses everything."""

    def __init__(self, label: str, kill: Kill | None) -> None:
        self.label = label
        self.kill = kill
        self.counts: Counter[str] = Counter()
        self.death: str | None = None

    def alive(self) -> None:
        if self.death is not None:
            raise Killed(self.death)

    def point(self, kind: str, what: str) -> None:
        """A kill point of ``kind`` ("checkpoint", "write_before", ...) was reached."""
        self.alive()
        self.counts[kind] += 1
        kill = self.kill
        if kill is not None and kill.kind == kind and self.counts[kind] == kill.nth:
            self.death = f"{self.label} killed at {kind} #{kill.nth} ({what})"
            raise Killed(self.death)

    def checkpoint(self, name: str) -> None:
        self.point("checkpoint", name)

    async def sleep(self, clock: FakeClock, seconds: float) -> None:
        self.alive()
        await clock.sleep(seconds)
        self.alive()


class DyingJournal:
    """The journal as the process sees it: each write is a kill point, before and after
    its transaction (never inside: SQLite makes a transaction whole or absent)."""

    def __init__(self, inner: SqliteJournal, process: Process) -> None:
        self._inner = inner
        self._process = process

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        process = self._process

        def call(*args: Any, **kwargs: Any) -> Any:
            process.alive()
            if name not in JOURNAL_WRITES:
                return attr(*args, **kwargs)
            process.point("write_before", name)
            result = attr(*args, **kwargs)
            process.point("write_after", name)
            return result

        return call


class DyingBroker:
    """The real broker adapter; a reply arriving is a kill point (it died before it
    could act on, or journal, what the broker said)."""

    def __init__(self, inner: ClearStreetInstructions, process: Process) -> None:
        self._inner = inner
        self._process = process

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        self._process.alive()
        try:
            return await call()
        finally:
            self._process.point("broker_reply", what)

    async def list_instructions(self, account_id: int) -> list[BrokerInstruction]:
        return await self._call("list", lambda: self._inner.list_instructions(account_id))

    async def submit(self, account_id: int, rows: Sequence[LedgerRow]) -> SubmitReply:
        return await self._call("submit", lambda: self._inner.submit(account_id, rows))

    async def cancel(self, account_id: int, server_id: str) -> BrokerInstruction:
        return await self._call("cancel", lambda: self._inner.cancel(account_id, server_id))


@functools.cache
def _rules() -> RuleSet:
    return parse_rules(RULES, source="faults-rules.yaml")


@functools.cache
def _plain_http_only() -> ssl.SSLContext:
    """One TLS context for every transport of the session: building one loads the CA
    bundle (tens of milliseconds), and the simulator speaks plain HTTP anyway."""
    return ssl.create_default_context()


class Wire(AsyncioTransport):
    """Real HTTP to the simulator through the client's own path (our pool, asked for
    whole replies), one request at a time, each numbered by the day (which arms the
    faults due at that number) and refused once the process is dead."""

    def __init__(self, day: Day, process: Process) -> None:
        super().__init__(limits=httpx.Limits(max_connections=8), ssl_context=_plain_http_only())
        self._day = day
        self._process = process
        self._one_at_a_time = asyncio.Lock()

    async def exchange(self, origin: Origin, method: str, target: bytes, **request: Any) -> Reply:
        async with self._one_at_a_time:
            self._process.alive()
            self._day.before_request(method, target.split(b"?")[0].decode("ascii"))
            return await super().exchange(origin, method, target, **request)


# -------------------------------------------------------------------------- the day


@dataclass
class Day:
    """One seeded day: the simulator, the clock, the journal file, the runs."""

    schedule: Schedule
    sim: Simulator
    clock: FakeClock
    path: Path
    calendar: XnysCalendar
    references: MemoryReferences = field(default_factory=MemoryReferences)
    requests: int = 0
    latency_until: int = 0
    outage_until: int = 0
    outage_retry_after: int = 0
    fired: list[str] = field(default_factory=list)
    deaths: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cutoff_reached: bool = False

    def before_request(self, method: str, path: str) -> None:
        self.requests += 1
        n, faults = self.requests, self.sim.faults
        if n >= self.latency_until:
            faults.latency_ms = 0
        for fault in self.schedule.faults:
            if fault.at != n:
                continue
            self.fired.append(f"#{n} {method} {path}: {fault}")
            if fault.kind == "latency":
                faults.latency_ms = fault.seconds * 1000
                self.latency_until = n + fault.count
            elif fault.kind == "outage":
                self.outage_until = n + fault.count
                self.outage_retry_after = fault.seconds
            else:
                if fault.kind == "rate_limit_429":
                    faults.retry_after_seconds = fault.seconds
                setattr(faults, fault.kind, getattr(faults, fault.kind) + fault.count)
        if n < self.outage_until:  # stored but never acknowledged; reads refused
            if method == "POST":
                faults.lost_ack = max(faults.lost_ack, 1)
            else:
                faults.retry_after_seconds = self.outage_retry_after
                faults.rate_limit_429 = max(faults.rate_limit_429, 1)

    def client(self, process: Process) -> ClearStreetClient:
        return ClearStreetClient(
            base_url=self.sim.base_url,
            api_key=SecretStr(self.sim.token),
            retry=RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2),
            transport=Wire(self, process),
            sleep=lambda seconds: process.sleep(self.clock, seconds),
            rng=random.Random(self.schedule.seed),
        )

    async def live(self) -> RunOutcome:
        """Run, and restart after each death or failed run, until a run completes."""
        kills = list(zip(self.schedule.kills, self.schedule.downtimes, strict=True))
        downtime = 0
        for number in range(1, len(kills) + EXTRA_RUNS + 2):
            await self.clock.sleep(downtime)  # systemd restarts it, or someone does
            kill, downtime = kills.pop(0) if kills else (None, 0)
            process = Process(f"run {number}", kill)
            journal = SqliteJournal.open(self.path)
            client = self.client(process)
            before = asyncio.all_tasks()
            outcome: RunOutcome | None = None
            try:
                outcome = await self._run(number, process, client, journal)
            except Killed:
                self.deaths.append(process.death or "killed")
            except BrokerError as exc:  # the book could not be loaded: the daemon retries
                self.failures.append(f"run {number}: {exc}")
                process.death = f"run {number} exited: {exc}"  # its other requests end too
            finally:
                await _bury(before)
                self.cutoff_reached |= self.clock() >= INTERNAL_CUTOFF
                await client.aclose()
                journal.close()
            if outcome is not None:
                return outcome
        raise AssertionError(f"no run completed: {self.deaths} {self.failures}")

    async def _run(
        self,
        number: int,
        process: Process,
        client: ClearStreetClient,
        journal: SqliteJournal,
    ) -> RunOutcome:
        schedule = self.schedule
        request = PlanRequest(
            business_date=BUSINESS_DATE,
            as_of=self.clock(),
            rules=_rules(),
        )
        dying: Any = DyingJournal(journal, process)
        return await run_day(
            request,
            run_id=f"seed-{schedule.seed}-run-{number}",
            source=ClearStreetBookSource(client),
            broker=DyingBroker(ClearStreetInstructions(client), process),
            journal=dying,
            calendar=self.calendar,
            references=self.references,
            clock=self.clock,
            sleep=lambda seconds: process.sleep(self.clock, seconds),
            options=RunOptions(batch_size=schedule.batch_size, concurrency=schedule.concurrency),
            checkpoint=process.checkpoint,
        )

    def story(self) -> str:
        """What happened, for assertion messages."""
        return "\n".join(
            [
                self.schedule.describe(),
                f"  requests {self.requests}; faults fired: {self.fired}",
                f"  deaths {self.deaths}; failed runs {self.failures}",
                f"  clock {self.clock().isoformat()} cutoff reached {self.cutoff_reached}",
            ]
        )


async def _bury(before: set[asyncio.Task[Any]]) -> None:
    """Wait for the tasks a dead process left behind (other accounts' submits, the other
    loads of a failed plan): they end at their next call, which raises ``Killed``."""
    current = asyncio.current_task()
    strays = {t for t in asyncio.all_tasks() if t not in before and t is not current}
    if not strays:
        return
    _done, pending = await asyncio.wait(strays, timeout=STRAY_GRACE)
    for task in pending:
        task.cancel()
    assert not pending, f"tasks of a killed run never ended: {pending}"
    for task in strays:
        if not task.cancelled():
            task.exception()  # retrieved: Killed, as expected


# ------------------------------------------------------------------------ invariants


def held(sim: Simulator, accounts: Iterable[int]) -> list[dict[str, Any]]:
    """Every instruction the broker stores (a look, not a poll)."""
    return [i for account in accounts for i in sim.book.instructions(account)]


def terms(rows: Iterable[LedgerRow]) -> dict[tuple[int, str], tuple[str, Decimal]]:
    return {(r.account_id, r.symbol): (r.instruction_type.value, r.quantity) for r in rows}


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def check_day(day: Day, journal: SqliteJournal, outcome: RunOutcome) -> None:
    """Exactly once, nothing lost, the journal agrees with the broker, and each row
    ended as its contract's clearing outcome says (or is reported)."""
    schedule, story = day.schedule, day.story()
    rows = outcome.rows
    planned = {r.instruction_id: r for r in rows}
    assert terms(rows) == schedule.expected, f"the plan is not the book's\n{story}"
    journaled = {r.instruction_id: r for r in journal.rows(BUSINESS_DATE)}
    assert set(journaled) == set(planned), f"the ledger has rows no plan wanted\n{story}"

    stored = held(day.sim, schedule.accounts)
    by_id = Counter(i["instruction_id"] for i in stored)
    by_contract = Counter((i["account_id"], i["symbol"]) for i in stored)
    twice = {k: n for k, n in by_id.items() if n > 1}
    assert twice == {}, f"an instruction id is at the broker twice\n{story}"
    doubled = {k: n for k, n in by_contract.items() if n > 1}
    assert doubled == {}, f"two instructions on one contract\n{story}"
    foreign = {i["instruction_id"] for i in stored if i["instruction_id"] not in planned}
    if schedule.foreign is None:
        assert foreign == set(), f"the broker holds instructions nobody planned\n{story}"
    else:
        assert len(foreign) == 1, f"{foreign}\n{story}"
    for wire in stored:
        if wire["instruction_id"] in planned:
            key = (wire["account_id"], wire["symbol"])
            sent = (wire["instruction_type"], Decimal(wire["quantity"]))
            assert sent == schedule.expected[key], f"sent other terms {wire}\n{story}"

    assert outcome.reconcile is not None, story
    reported = {r.instruction_id for r in outcome.reconcile.open}
    reported |= {r.instruction_id for r in outcome.problems if not r.state.is_terminal}
    lost = {
        i: r.state.value
        for i, r in journaled.items()
        if not r.state.is_terminal and i not in reported
    }
    assert lost == {}, f"rows neither terminal nor reported open\n{story}"

    at_broker = {i["instruction_id"]: i for i in stored}
    disagreements: dict[str, Any] = {}
    for iid, row in journaled.items():
        wire = at_broker.get(iid)
        if wire is None:
            if row.state.at_broker:
                disagreements[iid] = (row.state.value, "not at the broker")
            continue
        if iid in reported and row.state in (RowState.PENDING, RowState.SENT):
            continue  # reported unresolved: it could not look again, and says so
        ours = (row.state.value, row.server_id, row.accepted_quantity)
        theirs = (wire["status"], wire["id"], _decimal(wire["accepted_quantity"]))
        if ours != theirs:
            disagreements[iid] = (ours, theirs)
    assert disagreements == {}, f"the journal disagrees with the broker: {disagreements}\n{story}"

    wrong = {}
    for iid, row in journaled.items():
        expected = _expected_ends(day, row, reported=iid in reported)
        if (row.state, row.accepted_quantity, row.reason) not in expected:
            got = (row.state.value, row.accepted_quantity, row.reason, row.attempts)
            wrong[iid] = (row.account_id, row.symbol, got, expected)
    assert wrong == {}, f"rows ended other than their contract's clearing says: {wrong}\n{story}"


def _expected_ends(
    day: Day, row: LedgerRow, *, reported: bool
) -> set[tuple[RowState, Decimal | None, str | None]]:
    """The (state, accepted quantity, reason) a row may end in. Past the internal
    cutoff a row may also have failed unsent, or be reported open unsettled."""
    schedule = day.schedule
    ends: set[tuple[RowState, Decimal | None, str | None]] = set()
    if day.cutoff_reached:
        ends.add((RowState.FAILED, None, DEADLINE_PASSED))
        if reported:
            ends.update({(RowState.SENT, None, None), (RowState.PENDING, None, None)})
    if (row.account_id, row.symbol) == schedule.foreign:
        ends.add((RowState.CONFLICT, None, _conflict_reason(day, row)))
        # The listing that would have shown the foreign instruction may have failed; the
        # broker then refuses ours for want of position: still never two.
        insufficient = f"Insufficient position: requested {row.quantity:f}, available 0"
        ends.add((RowState.REJECTED, None, insufficient))
        return ends
    if not schedule.settles:
        ends.add((RowState.SENT, None, None))
        return ends
    outcome, _ = schedule.outcomes[row.symbol]
    if outcome == "reject":
        ends.add((RowState.REJECTED, None, REJECT_REASON))
    else:
        ends.add((RowState.ACCEPTED, schedule.accepted(row.symbol, row.quantity), None))
    return ends


def _conflict_reason(day: Day, row: LedgerRow) -> str | None:
    """The CONFLICT reason names the foreign instruction; take it from the broker."""
    for wire in day.sim.book.instructions(row.account_id):
        if wire["symbol"] == row.symbol and wire["instruction_id"] != row.instruction_id:
            return (
                f"the broker already holds an instruction we did not send on {row.symbol}: "
                f"{wire['instruction_type']} {Decimal(wire['quantity'])} "
                f"(id {wire['instruction_id']}, {wire['status']}); not sending a second one"
            )
    return None


# ---------------------------------------------------------------------------- alerts


class FlakyChannel:
    """An alert channel that fails at random (seeded) and counts what it took."""

    def __init__(
        self, name: str, min_severity: Severity, failure_rate: float, rng: random.Random
    ) -> None:
        self.name = name
        self.min_severity = min_severity
        self._failure_rate = failure_rate
        self._rng = rng
        self.taken: Counter[tuple[str, str]] = Counter()  # (channel, key) -> times

    async def send(self, alert: Alert) -> None:
        await asyncio.sleep(0)
        roll = self._rng.random()
        if roll < self._failure_rate * 0.9:
            raise AlertError("webhook answered 503", channel=self.name)
        if roll < self._failure_rate:
            raise RuntimeError("a channel bug")  # the dispatcher must survive this too
        self.taken[self.name, alert.key] += 1


def expected_kinds(outcome: RunOutcome) -> set[str]:
    """The alert kinds a run's outcome must raise (pin risk and review aside)."""
    kinds = {"submission_summary"}
    problems = outcome.problems
    reconcile_open = outcome.reconcile.open if outcome.reconcile is not None else []
    if reconcile_open or any(not r.state.is_terminal for r in problems):
        kinds.add("unresolved")
    partial = [
        r
        for r in problems
        if r.state is RowState.ACCEPTED
        and r.accepted_quantity is not None
        and r.accepted_quantity < r.quantity
    ]
    if partial:
        kinds.add("partial_acceptance")
    if any(r.state.is_terminal and r not in partial for r in problems):
        kinds.add("rejections")
    return kinds


async def deliver_alerts(day: Day, outcome: RunOutcome) -> None:
    """Raise the outcome's alerts into the journal's outbox, deliver a few passes over
    failing channels, restart the dispatcher (raising the same alerts again: nothing
    new), drain; then every alert reached every channel it is routed to exactly once."""
    schedule, clock, story = day.schedule, day.clock, day.story()
    rng = random.Random(schedule.seed * 7919 + 1)
    channels = [
        FlakyChannel(c.name, Severity.parse(c.min_severity), c.failure_rate, rng)
        for c in schedule.channels
    ]
    alerts = outcome_alerts(outcome)
    kinds = {a.kind for a in alerts}
    assert expected_kinds(outcome) <= kinds, f"alerts missing: {kinds}\n{story}"

    def dispatcher(outbox: SqliteJournal) -> AlertDispatcher:
        return AlertDispatcher(
            outbox=outbox,
            notifiers=channels,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(schedule.seed),
        )

    with SqliteJournal.open(day.path) as outbox:
        first = dispatcher(outbox)
        assert all(first.raise_alert(a) for a in alerts), story
        for _ in range(schedule.alert_passes):
            await first.deliver_due()
            await clock.sleep(rng.uniform(0, 300))
    with SqliteJournal.open(day.path) as outbox:
        again = dispatcher(outbox)
        assert not any(again.raise_alert(a) for a in alerts), f"raised twice\n{story}"
        await again.drain(until=clock() + timedelta(days=2))
        deliveries = outbox.deliveries_of()

    taken: Counter[tuple[str, str]] = Counter()
    for channel in channels:
        taken.update(channel.taken)
    routed = Counter((d["channel"], d["alert_key"]) for d in deliveries)
    assert set(routed.values()) <= {1}, f"a delivery queued twice\n{story}"
    undelivered = [d for d in deliveries if d["state"] != "delivered"]
    assert undelivered == [], f"alerts never delivered\n{story}"
    assert taken == routed, f"delivered other than once per channel\n{story}"
    for alert in alerts:
        wanted = {c.name for c in channels if c.min_severity <= alert.severity}
        got = {channel for channel, key in routed if key == alert.key}
        assert got == wanted, f"{alert.kind} routed to {got}, not {wanted}\n{story}"
