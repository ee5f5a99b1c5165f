"""Submit and reconcile against the real simulator over HTTP, with a real SQLite journal
and a fake clock shared by both: every failure of the submit path the broker can produce,
and after each the exactly-once invariants (``helpers.assert_exactly_once``).

Most cases go through ``run_day``; the pre-flight refusals need rows no planner makes
(an unknown instrument, a fractional quantity), so those drive ``Submitter`` and
``Reconciler`` directly over a crafted plan recorded in the journal.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.domain.ids import instruction_id
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Plan, PlanRow
from exerciser.ports import RunRecord
from exerciser.services.reconcile import ReconcilePolicy, Reconciler, ReconcileReport
from exerciser.services.run import RunOptions
from exerciser.services.submit import SubmitPolicy, SubmitReport, Submitter

from .helpers import (
    AAPL_190C,
    ACCEPTED,
    BATCHES_OF_2,
    BUSINESS_DATE,
    CLEARING_REASON,
    EXPECTED,
    INTERNAL_CUTOFF,
    NEVER_SETTLES,
    PARTLY_ACCEPTED,
    REJECTED_BY_CLEARING,
    Arm,
    Harness,
    Hooked,
    assert_exactly_once,
    attempt_outcomes,
    book_yaml,
    held,
    terms,
)

pytestmark = pytest.mark.anyio

RETRY_AFTER = 7  # seconds; more than any backoff the submitter picks for a first retry
ONE_AT_A_TIME = RunOptions(batch_size=2, concurrency=1)  # faults armed per request land
DEADLINE_PASSED = "not sent: the submit deadline passed"


def described(rows: list[LedgerRow]) -> list[tuple[int, str, str, str | None]]:
    """Rows as a readable assertion message."""
    return [(r.account_id, r.symbol, r.state.value, r.reason) for r in rows]


# ------------------------------------------------------------ faults on the submit path


@pytest.mark.parametrize(
    ("upfront", "armed_before_first_post", "posts", "attempts", "adopted", "sleeps"),
    [
        pytest.param({}, None, BATCHES_OF_2, {"200": 6}, 0, [], id="happy-path"),
        pytest.param(
            {"submit_503": 3},
            None,
            BATCHES_OF_2 + 3,
            {"200": 6, "BrokerTransientError": 3},
            0,
            [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)],  # jittered exponential backoff
            id="503-burst",
        ),
        pytest.param(
            {},
            "rate_limit_429",
            BATCHES_OF_2,  # a 429 is refused before the endpoint
            {"200": 6, "BrokerTransientError": 1},
            0,
            [(RETRY_AFTER, 30.0)],  # Retry-After honoured
            id="429-retry-after",
        ),
        pytest.param(
            {"lost_ack": 1},
            None,
            BATCHES_OF_2,  # stored, never answered, found by listing: not resent
            {"200": 5, "BrokerAmbiguousError": 1},
            2,
            [],
            id="lost-ack",
        ),
        pytest.param(
            {},
            "malformed_body",
            BATCHES_OF_2,  # stored, answered with bytes that are not JSON: not resent
            {"200": 5, "BrokerAmbiguousError": 1},
            2,
            [],
            id="malformed-reply",
        ),
    ],
)
async def test_a_fault_on_the_submit_path_ends_with_every_instruction_at_the_broker_once(
    harness: Harness,
    upfront: dict[str, int],
    armed_before_first_post: str | None,
    posts: int,
    attempts: dict[str, int],
    adopted: int,
    sleeps: list[tuple[float, float]],
) -> None:
    sim = harness.sim
    sim.faults.retry_after_seconds = RETRY_AFTER
    for fault, times in upfront.items():
        setattr(sim.faults, fault, times)
    arm = Arm(sim, armed_before_first_post) if armed_before_first_post else None

    outcome = await harness.run(
        options=ONE_AT_A_TIME,
        broker=lambda client: Hooked(client, before_submit=arm) if arm else Hooked(client),
    )

    assert outcome.ok, described(outcome.problems)
    assert terms(outcome.rows) == EXPECTED
    assert [r.state for r in outcome.rows] == [ACCEPTED] * len(EXPECTED)
    assert sim.book.submit_count == posts
    assert attempt_outcomes(harness.journal, outcome.rows) == Counter(attempts)
    assert outcome.submit is not None
    assert (outcome.submit.sent, outcome.submit.adopted) == (len(EXPECTED) - adopted, adopted)
    assert len(harness.clock.sleeps) == len(sleeps), harness.clock.sleeps
    for slept, (low, high) in zip(harness.clock.sleeps, sleeps, strict=True):
        assert low <= slept <= high
    assert outcome.reconcile is not None
    assert outcome.reconcile.open == []
    assert_exactly_once(sim, harness.journal, outcome.rows)


# ------------------------------------------------------- rows the broker does not take


@pytest.mark.parametrize(
    ("contract", "quantity", "state", "accepted", "reason"),
    [
        pytest.param(
            REJECTED_BY_CLEARING,
            2,
            RowState.REJECTED,
            None,
            CLEARING_REASON,
            id="clearing-rejects",
        ),
        pytest.param(PARTLY_ACCEPTED, 3, ACCEPTED, Decimal(1), None, id="partly-accepted"),
    ],
)
async def test_a_row_clearing_does_not_take_as_asked_is_the_one_problem_reported(
    harness: Harness,
    contract: str,
    quantity: int,
    state: RowState,
    accepted: Decimal | None,
    reason: str | None,
) -> None:
    harness.sim.book.set_position(300, contract, quantity)

    outcome = await harness.run()

    [problem] = outcome.problems
    assert (problem.account_id, problem.symbol, problem.quantity) == (300, contract, quantity)
    assert (problem.state, problem.accepted_quantity, problem.reason) == (state, accepted, reason)
    assert not outcome.ok
    assert terms(r for r in outcome.rows if r is not problem) == EXPECTED
    assert all(r.state is ACCEPTED for r in outcome.rows if r is not problem)
    assert outcome.reconcile is not None
    assert_exactly_once(harness.sim, harness.journal, outcome.rows, outcome.reconcile.open)


async def test_a_207_rejects_only_the_row_the_broker_refuses_and_keeps_its_reason(
    harness: Harness,
) -> None:
    sim = harness.sim

    def position_shrinks(account_id: int) -> None:  # between the plan and the send
        if account_id == 200:
            sim.book.set_position(200, AAPL_190C, 7, available_quantity=3)

    outcome = await harness.run(broker=lambda c: Hooked(c, before_list=position_shrinks))

    [problem] = outcome.problems
    assert (problem.account_id, problem.symbol, problem.state) == (
        200,
        AAPL_190C,
        RowState.REJECTED,
    )
    assert problem.reason == "Insufficient position: requested 7, available 3"
    assert problem.server_id is None
    assert attempt_outcomes(harness.journal, [problem]) == Counter({"207": 1})
    assert all(r.state is ACCEPTED for r in outcome.rows if r is not problem)
    assert not outcome.ok
    assert_exactly_once(sim, harness.journal, outcome.rows)


# --------------------------------------------------- already there: 409 and adoption


@pytest.mark.parametrize(
    ("listings_refused", "posts", "account_attempts", "adopted_at_submit"),
    [
        pytest.param(0, BATCHES_OF_2 - 1, {}, True, id="adopted-by-the-first-listing"),
        pytest.param(1, BATCHES_OF_2, {"409": 1}, True, id="409-then-adopted"),
        pytest.param(
            2,
            BATCHES_OF_2,
            {"409": 1},
            False,  # left open by the submitter, adopted by the reconciler's first look
            id="409-and-the-listing-after-it-refused",
        ),
    ],
)
async def test_instructions_a_crashed_run_sent_are_adopted_and_never_sent_twice(
    harness: Harness,
    listings_refused: int,
    posts: int,
    account_attempts: dict[str, int],
    adopted_at_submit: bool,
) -> None:
    sim = harness.sim
    plan = await harness.plan()
    ours = [r for r in plan.instructions if r.account_id == 200]
    assert ours
    for row in ours:  # as if a run had sent them and died before journaling the reply
        assert row.instruction_type is not None
        assert row.instruction_id is not None
        sim.book.add_instruction(
            200,
            instrument=row.instrument_id,
            quantity=int(row.quantity),
            instruction_type=row.instruction_type.value,
            instruction_id=row.instruction_id,
        )
    refuse = Arm(sim, "rate_limit_429", times=listings_refused, account=200)

    outcome = await harness.run(
        options=ONE_AT_A_TIME, attempts=1, broker=lambda c: Hooked(c, before_list=refuse)
    )

    account_rows = [r for r in outcome.rows if r.account_id == 200]
    assert [(r.state, r.reason) for r in account_rows] == [(ACCEPTED, None)] * len(ours)
    assert outcome.ok, described(outcome.problems)
    assert sim.book.submit_count == posts
    assert attempt_outcomes(harness.journal, account_rows) == Counter(account_attempts)
    assert len(sim.book.instructions(200)) == len(ours)
    assert outcome.submit is not None
    assert outcome.submit.adopted == (len(ours) if adopted_at_submit else 0)
    assert_exactly_once(sim, harness.journal, outcome.rows)


async def test_an_instruction_entered_by_hand_makes_our_row_a_conflict_and_is_not_doubled(
    harness: Harness,
) -> None:
    sim = harness.sim
    foreign = sim.book.add_instruction(200, instrument=AAPL_190C, quantity=3, status="SENT")

    outcome = await harness.run()

    [problem] = outcome.problems
    assert (problem.account_id, problem.symbol, problem.state) == (
        200,
        AAPL_190C,
        RowState.CONFLICT,
    )
    assert problem.reason is not None
    assert "we did not send" in problem.reason
    assert foreign["instruction_id"] in problem.reason
    on_contract = [i for i in sim.book.instructions(200) if i["symbol"] == AAPL_190C]
    assert [i["instruction_id"] for i in on_contract] == [foreign["instruction_id"]]
    conflicts = [
        e for e in harness.journal.events_of(BUSINESS_DATE) if e["kind"] == "instruction_conflict"
    ]
    assert [(e["instruction_id"], e["account_id"]) for e in conflicts] == [
        (problem.instruction_id, 200)
    ]
    assert conflicts[0]["data"]["foreign_id"] == foreign["instruction_id"]
    assert harness.journal.attempts_of(problem.instruction_id) == []
    assert all(r.state is ACCEPTED for r in outcome.rows if r is not problem)
    assert not outcome.ok
    assert_exactly_once(sim, harness.journal, outcome.rows)


# -------------------------------------------------- pre-flight: a batch refused whole

UNKNOWN_INSTRUMENT = str(uuid.uuid5(uuid.NAMESPACE_URL, "integration:no-such-contract"))


def unknown_instrument(row: PlanRow) -> PlanRow:
    return replace(row, instrument_id=UNKNOWN_INSTRUMENT)


def fractional_quantity(row: PlanRow) -> PlanRow:
    return replace(row, quantity=Decimal("1.5"))


async def submit_crafted(
    harness: Harness, rows: list[PlanRow]
) -> tuple[list[LedgerRow], SubmitReport, ReconcileReport]:
    """Record ``rows`` as the plan of a run, submit them in one batch, reconcile."""
    journal, clock, run_id = harness.journal, harness.clock, "crafted"
    journal.begin_run(
        RunRecord(
            run_id=run_id,
            business_date=BUSINESS_DATE,
            as_of=clock(),
            started_at=clock(),
            command="test",
            dry_run=False,
        )
    )
    plan = Plan(business_date=BUSINESS_DATE, as_of=clock(), rows=tuple(rows))
    ledger = journal.record_plan(run_id, plan, at=clock())
    async with harness.connect() as client:
        broker = ClearStreetInstructions(client)
        report = await Submitter(
            broker=broker,
            journal=journal,
            run_id=run_id,
            policy=SubmitPolicy(deadline=INTERNAL_CUTOFF, batch_size=50),
            clock=clock,
            sleep=clock.sleep,
        ).submit(ledger)
        reconciled = await Reconciler(
            broker=broker,
            journal=journal,
            run_id=run_id,
            policy=ReconcilePolicy(until=INTERNAL_CUTOFF),
            clock=clock,
            sleep=clock.sleep,
        ).reconcile(BUSINESS_DATE)
    return ledger, report, reconciled


@pytest.mark.parametrize(
    ("craft", "status", "refusal"),
    [
        pytest.param(
            unknown_instrument,
            "404",
            f"Instrument not found: {UNKNOWN_INSTRUMENT}",
            id="404-unknown-instrument",
        ),
        pytest.param(
            fractional_quantity,
            "400",
            "Quantity '1.5' cannot be encoded",
            id="400-fractional-quantity",
        ),
    ],
)
async def test_a_batch_refused_whole_is_split_the_bad_row_fails_and_the_good_rows_go(
    harness: Harness, craft: Callable[[PlanRow], PlanRow], status: str, refusal: str
) -> None:
    plan = await harness.plan()
    good = [r for r in plan.instructions if r.account_id == 100]
    crafted = craft(good[0])
    assert crafted.instruction_type is not None
    bad = replace(
        crafted,
        instruction_id=instruction_id(
            business_date=BUSINESS_DATE,
            account_id=100,
            instrument_id=crafted.instrument_id,
            instruction_type=crafted.instruction_type,
            quantity=crafted.quantity,
        ),
    )

    ledger, report, reconciled = await submit_crafted(harness, [*good[:2], bad, *good[2:]])

    failed = harness.journal.row(bad.instruction_id or "")
    assert failed is not None
    assert (failed.state, failed.reason) == (RowState.FAILED, f"refused by the broker: {refusal}")
    sent = [harness.journal.row(r.instruction_id or "") for r in good]
    assert [r.state if r else None for r in sent] == [ACCEPTED] * len(good)
    assert (report.sent, report.failed, report.rejected) == (len(good), 1, 0)
    assert sorted(i["instruction_id"] for i in held(harness.sim)) == sorted(
        r.instruction_id or "" for r in good
    )
    refused = attempt_outcomes(harness.journal, [failed])  # split until it was alone
    assert set(refused) == {status}
    assert sum(refused.values()) >= 2
    assert reconciled.open == []
    assert_exactly_once(harness.sim, harness.journal, ledger, reconciled.open)


# ------------------------------------------------------------- time: escalation, deadline


@pytest.mark.parametrize("book", [pytest.param(book_yaml(NEVER_SETTLES), id="never-settles")])
async def test_rows_that_never_settle_are_polled_with_growing_delays_then_reported_open(
    harness: Harness,
) -> None:
    clock = harness.clock
    clock.now = INTERNAL_CUTOFF - timedelta(minutes=15)
    started = time.monotonic()

    outcome = await harness.run()

    elapsed = time.monotonic() - started
    assert clock.now == INTERNAL_CUTOFF  # polled up to the escalation point, not beyond
    sleeps = clock.sleeps
    assert sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert set(sleeps[5:-1]) == {30.0}  # capped at poll_max_delay
    assert 0 < sleeps[-1] <= 30.0  # the last one stops exactly at the cutoff
    assert sum(sleeps) == pytest.approx(15 * 60)
    assert elapsed < 15  # fifteen simulated minutes, no real ones
    assert outcome.reconcile is not None
    assert outcome.reconcile.polls == len(sleeps) + 1
    assert {r.instruction_id for r in outcome.reconcile.open} == {
        r.instruction_id for r in outcome.rows
    }
    assert {r.state for r in outcome.rows} == {RowState.SENT}
    assert not outcome.ok
    assert len(outcome.problems) == len(EXPECTED)
    assert_exactly_once(harness.sim, harness.journal, outcome.rows, outcome.reconcile.open)


@pytest.mark.parametrize(
    ("start", "unavailable"),
    [
        pytest.param(INTERNAL_CUTOFF + timedelta(minutes=5), 0, id="deadline-passed-at-start"),
        pytest.param(INTERNAL_CUTOFF - timedelta(minutes=2), 10_000, id="503-until-deadline"),
    ],
)
async def test_rows_not_sent_by_the_submit_deadline_fail_and_nothing_reaches_the_broker(
    harness: Harness, start: datetime, unavailable: int
) -> None:
    harness.clock.now = start
    harness.sim.faults.submit_503 = unavailable

    outcome = await harness.run(options=ONE_AT_A_TIME)

    assert [(r.state, r.reason) for r in outcome.rows] == [
        (RowState.FAILED, DEADLINE_PASSED)
    ] * len(EXPECTED)
    assert held(harness.sim) == []
    assert harness.clock.now == max(start, INTERNAL_CUTOFF)
    tries = attempt_outcomes(harness.journal, outcome.rows)
    assert set(tries) <= {"BrokerTransientError"}
    assert (sum(tries.values()) > 0) == (unavailable > 0)
    assert harness.sim.book.submit_count == sum(tries.values())
    assert not outcome.ok
    assert outcome.reconcile is not None
    assert outcome.reconcile.open == []
    assert_exactly_once(harness.sim, harness.journal, outcome.rows)
