"""Re-evaluation: several runs the same day sharing one journal, against the real
simulator. A later plan (here: edited rules) that no longer contains an instruction of an
earlier one cancels it at the broker and follows it to CANCELLED; only then is a new
instruction on the same contract sent. A CANCEL_FAILED leaves the old one standing and
the new one unsent. After every run the exactly-once invariants hold over every row of
the day, superseded ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from exerciser.domain.ids import instruction_id
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.services.run import RunOptions, RunOutcome
from exerciser.services.submit import Checkpoint

from .helpers import (
    AAPL_190C,
    ACCEPTED,
    BUSINESS_DATE,
    CANCEL_FAILED_REASON,
    CANCEL_FAILS,
    DNE,
    RULES,
    Arm,
    Harness,
    Hooked,
    assert_exactly_once,
    force_dne,
    worth_exercising,
)

pytestmark = pytest.mark.anyio

LATER = timedelta(minutes=10)
NOT_SENT = "not sent: the earlier instruction on this contract could not be cancelled"


class SimulatedCrash(Exception):
    """Raised at a checkpoint of the submit path: the run stops there."""


def crash_at(name: str) -> Checkpoint:
    def checkpoint(point: str) -> None:
        if point == name:
            raise SimulatedCrash(point)

    return checkpoint


def on(rows: Sequence[LedgerRow], symbol: str, account: int = 100) -> list[LedgerRow]:
    return [r for r in rows if (r.account_id, r.symbol) == (account, symbol)]


def at_broker(harness: Harness, symbol: str, account: int = 100) -> list[tuple[str, str, str]]:
    """(key, status, quantity) of every instruction the broker holds on ``symbol``."""
    return [
        (i["instruction_id"], i["status"], i["quantity"])
        for i in harness.sim.book.instructions(account)
        if i["symbol"] == symbol
    ]


def day_is_consistent(harness: Harness, last: RunOutcome) -> None:
    assert last.reconcile is not None
    day = harness.journal.rows(BUSINESS_DATE)
    assert_exactly_once(harness.sim, harness.journal, day, last.reconcile.open)


async def later_run(harness: Harness, **kwargs: Any) -> RunOutcome:
    harness.clock.now += LATER
    return await harness.run(**kwargs)


# ------------------------------------------------------------------------------ tests


async def test_an_instruction_a_later_plan_drops_is_cancelled_and_nothing_replaces_it(
    harness: Harness,
) -> None:
    first = await harness.run()
    [old] = on(first.rows, AAPL_190C)
    assert (old.instruction_type, old.state) == (DNE, ACCEPTED)
    posts = harness.sim.book.submit_count

    second = await later_run(harness, rules=RULES + worth_exercising(AAPL_190C))

    assert on(second.rows, AAPL_190C) == []
    assert [(r.instruction_id, r.state) for r in second.superseded] == [
        (old.instruction_id, RowState.CANCELLED)
    ]
    assert second.ok, [(r.symbol, r.state) for r in second.problems]
    assert harness.sim.book.submit_count == posts  # nothing new was needed
    assert at_broker(harness, AAPL_190C) == [(old.instruction_id, "CANCELLED", "5")]
    seen = [(h["source"], h["state"]) for h in harness.journal.history(old.instruction_id)]
    assert seen[-2:] == [("cancel", RowState.CANCEL_REQUESTED), ("list", RowState.CANCELLED)]
    superseded = [
        e for e in harness.journal.events_of(BUSINESS_DATE) if e["kind"] == "ledger.superseded"
    ]
    assert [(e["instruction_id"], e["run_id"]) for e in superseded] == [
        (old.instruction_id, "run-2")
    ]
    day_is_consistent(harness, second)


class Watching(Hooked):
    """Notes, for each instruction submitted, what the broker then held on its contract."""

    def __init__(self, client: Any, harness: Harness) -> None:
        super().__init__(client)
        self.harness = harness
        self.seen_before_send: dict[str, list[tuple[str, str, str]]] = {}

    async def submit(self, account_id: int, rows: Sequence[LedgerRow]) -> Any:
        for row in rows:
            self.seen_before_send[row.instruction_id] = at_broker(
                self.harness, row.symbol, account_id
            )
        return await super().submit(account_id, rows)


@pytest.mark.parametrize(
    ("contract", "held", "old_state", "old_reason", "new_state", "new_reason", "ok"),
    [
        pytest.param(AAPL_190C, 5, RowState.CANCELLED, None, ACCEPTED, None, True, id="cancelled"),
        pytest.param(
            CANCEL_FAILS,
            4,
            RowState.CANCEL_FAILED,
            CANCEL_FAILED_REASON,
            RowState.FAILED,
            NOT_SENT,
            False,
            id="cancel-failed",
        ),
    ],
)
async def test_a_changed_instruction_is_sent_only_once_the_old_one_is_cancelled(
    harness: Harness,
    contract: str,
    held: int,
    old_state: RowState,
    old_reason: str | None,
    new_state: RowState,
    new_reason: str | None,
    ok: bool,
) -> None:
    harness.sim.book.set_position(100, contract, held)
    first = await harness.run()
    [old] = on(first.rows, contract)
    assert (old.instruction_type, old.quantity, old.state) == (DNE, held, ACCEPTED)
    watching: list[Watching] = []

    def broker(client: Any) -> Watching:
        watching.append(Watching(client, harness))
        return watching[-1]

    second = await later_run(harness, rules=RULES + force_dne(contract, 2), broker=broker)

    [new] = on(second.rows, contract)
    [replaced] = second.superseded
    assert (new.instruction_type, new.quantity) == (DNE, Decimal(2))
    assert new.instruction_id != old.instruction_id
    assert (replaced.instruction_id, replaced.state, replaced.reason) == (
        old.instruction_id,
        old_state,
        old_reason,
    )
    assert (new.state, new.reason) == (new_state, new_reason)
    assert second.ok is ok
    sent_while = watching[0].seen_before_send
    if new_state is ACCEPTED:  # sent, and only after the broker said CANCELLED
        assert sent_while[new.instruction_id] == [(old.instruction_id, "CANCELLED", str(held))]
        assert at_broker(harness, contract) == [
            (old.instruction_id, "CANCELLED", str(held)),
            (new.instruction_id, "ACCEPTED", "2"),
        ]
    else:  # never sent: the old instruction stands
        assert new.instruction_id not in sent_while
        assert harness.journal.attempts_of(new.instruction_id) == []
        assert at_broker(harness, contract) == [(old.instruction_id, "CANCEL_FAILED", str(held))]
        assert {r.instruction_id for r in second.problems} == {
            old.instruction_id,
            new.instruction_id,
        }
    kinds = [(e["kind"], e["instruction_id"]) for e in harness.journal.events_of(BUSINESS_DATE)]
    assert ("ledger.superseded", old.instruction_id) in kinds
    day_is_consistent(harness, second)


async def test_back_and_forth_sends_the_third_instruction_under_a_new_revision_id(
    harness: Harness,
) -> None:
    first = await harness.run()
    [old] = on(first.rows, AAPL_190C)
    await later_run(harness, rules=RULES + worth_exercising(AAPL_190C))

    third = await later_run(harness)

    [again] = on(third.rows, AAPL_190C)
    assert (again.instruction_type, again.quantity) == (old.instruction_type, old.quantity)
    assert again.instruction_id == instruction_id(
        business_date=BUSINESS_DATE,
        account_id=100,
        instrument_id=old.instrument_id,
        instruction_type=old.instruction_type,
        quantity=old.quantity,
        revision=1,
    )
    assert again.instruction_id != old.instruction_id
    assert again.state is ACCEPTED
    assert third.ok, [(r.symbol, r.state, r.reason) for r in third.problems]
    assert at_broker(harness, AAPL_190C) == [
        (old.instruction_id, "CANCELLED", "5"),
        (again.instruction_id, "ACCEPTED", "5"),
    ]
    day_is_consistent(harness, third)


@pytest.mark.parametrize(
    ("crash", "old_at_broker", "old_reason", "others_sent_by"),
    [
        pytest.param(
            "attempt_journaled",
            [],
            "superseded before it was sent",
            ["run-1", "run-2"],  # journaled as about to go, never went: sent by run 2
            id="never-sent",
        ),
        pytest.param(
            "reply_received",
            ["CANCELLED"],
            None,
            ["run-1"],  # arrived: adopted by run 2, not sent again
            id="sent-unconfirmed",
        ),
    ],
)
async def test_a_dropped_instruction_a_crashed_run_may_have_sent_is_looked_for_first(
    harness: Harness,
    crash: str,
    old_at_broker: list[str],
    old_reason: str | None,
    others_sent_by: list[str],
) -> None:
    with pytest.raises(SimulatedCrash):
        await harness.run(
            accounts=[100], options=RunOptions(batch_size=50), checkpoint=crash_at(crash)
        )
    [old] = on(harness.journal.rows(BUSINESS_DATE), AAPL_190C)
    assert (old.state, old.attempts) == (RowState.PENDING, 1)

    second = await later_run(harness, rules=RULES + worth_exercising(AAPL_190C))

    [replaced] = second.superseded
    assert (replaced.instruction_id, replaced.state, replaced.reason) == (
        old.instruction_id,
        RowState.CANCELLED,
        old_reason,
    )
    assert [status for _, status, _ in at_broker(harness, AAPL_190C)] == old_at_broker
    assert second.ok, [(r.symbol, r.state, r.reason) for r in second.problems]
    others = [r for r in second.rows if r.account_id == 100]
    assert len(others) == 4
    for row in others:  # the crashed batch's other rows
        tries = [a["run_id"] for a in harness.journal.attempts_of(row.instruction_id)]
        assert (tries, row.state) == (others_sent_by, ACCEPTED)
    day_is_consistent(harness, second)


# ---------------------------------------------------------------------- known defects


async def test_a_cancel_whose_reply_is_unreadable_is_looked_up_and_the_change_goes_through(
    harness: Harness,
) -> None:
    first = await harness.run()
    [old] = on(first.rows, AAPL_190C)
    unreadable = Arm(harness.sim, "malformed_body")

    second = await later_run(
        harness,
        rules=RULES + force_dne(AAPL_190C, 2),
        options=RunOptions(batch_size=2, concurrency=1),
        broker=lambda client: Hooked(client, before_cancel=unreadable),
    )

    [new] = on(second.rows, AAPL_190C)
    [replaced] = second.superseded
    assert (replaced.instruction_id, replaced.state) == (old.instruction_id, RowState.CANCELLED)
    assert (new.state, new.quantity) == (ACCEPTED, Decimal(2))
    day_is_consistent(harness, second)


async def test_after_a_cancel_failed_no_later_run_sends_another_instruction_on_the_contract(
    harness: Harness,
) -> None:
    harness.sim.book.set_position(100, CANCEL_FAILS, 4)
    first = await harness.run()
    [old] = on(first.rows, CANCEL_FAILS)
    second = await later_run(harness, rules=RULES + worth_exercising(CANCEL_FAILS))
    assert [(r.instruction_id, r.state) for r in second.superseded] == [
        (old.instruction_id, RowState.CANCEL_FAILED)
    ]

    third = await later_run(harness)

    [again] = on(third.rows, CANCEL_FAILS)
    assert at_broker(harness, CANCEL_FAILS) == [(old.instruction_id, "CANCEL_FAILED", "4")]
    assert harness.journal.attempts_of(again.instruction_id) == []
    assert (again.state, again.reason) == (RowState.FAILED, NOT_SENT)


class Reads:
    """The journal, counting the whole-day and open-row reads made through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name in {"rows", "open_rows"}:
            self.calls.append(name)
        return getattr(self.inner, name)


async def test_a_run_reads_the_whole_day_once_before_and_once_after_unless_it_reevaluates(
    harness: Harness,
) -> None:
    """The day's ledger is read before the plan is recorded (fresh ids, what to
    supersede) and at the end (the outcome); the reconciler reads only open rows. A
    re-evaluation that writes reads the day again before it submits."""
    counted = Reads(harness.journal)
    harness.journal = counted  # type: ignore[assignment]
    first = await harness.run()
    assert first.ok
    assert counted.calls == ["rows", "open_rows", "open_rows", "rows"]

    counted.calls.clear()
    second = await later_run(harness, rules=RULES + worth_exercising(AAPL_190C))
    assert second.ok
    assert counted.calls[0] == "rows"
    assert counted.calls[-1] == "rows"
    assert counted.calls.count("rows") > 2  # supersede wrote: the day is read again
    harness.journal = counted.inner
    day_is_consistent(harness, second)
