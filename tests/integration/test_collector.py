"""``run_day`` lets the cyclic garbage collector run less often during the cycle, not at
all while the book loads and the plan is journaled, and keeps the cycle's loaded data
out of its sight while the instructions go out (``gc.freeze``); and it always puts
things back: after a run, finished or crashed, the collector is enabled as it was, its
thresholds are what they were and nothing is left frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.domain.book import Position
from exerciser.services.run import CYCLE_GC_THRESHOLD, RunOptions

from .helpers import EXPECTED, Harness, Hooked, assert_exactly_once

pytestmark = pytest.mark.anyio


class Crash(Exception):
    """Raised at a checkpoint of the submit path."""


class Watched(ClearStreetBookSource):
    """The real book source, noting whether the collector runs as each account's
    positions are asked for; ``crash`` makes the last of them fail."""

    def __init__(self, *args: Any, crash: bool = False) -> None:
        super().__init__(*args)
        self.collecting: list[bool] = []
        self.crash = crash

    async def positions(self, account_id: int) -> list[Position]:
        self.collecting.append(gc.isenabled())
        if self.crash:
            raise Crash("positions")
        return await super().positions(account_id)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


async def test_what_was_loaded_is_frozen_while_submitting_and_thawed_after(
    harness: Harness, collector_on: None
) -> None:
    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    frozen_at_submit: list[int] = []
    thresholds_at_submit: set[tuple[int, int, int]] = set()
    collecting_at_submit: set[bool] = set()
    source: list[Watched] = []

    def seen(_account: int) -> None:
        frozen_at_submit.append(gc.get_freeze_count())
        thresholds_at_submit.add(gc.get_threshold())
        collecting_at_submit.add(gc.isenabled())

    def watched(client: Any) -> Watched:
        source.append(Watched(client))
        return source[-1]

    outcome = await harness.run(
        broker=lambda client: Hooked(client, before_submit=seen), source=watched
    )

    assert outcome.ok
    assert len(source[0].collecting) == 3  # every account loaded with the collector off
    assert set(source[0].collecting) == {False}
    assert len(frozen_at_submit) == 6  # every batch went out with the book frozen
    assert min(frozen_at_submit) > 1000  # the book, the plan, the ledger rows and more
    assert collecting_at_submit == {True}  # and with the collector on again
    assert thresholds_at_submit == {(CYCLE_GC_THRESHOLD, *before[1:])}
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    assert gc.isenabled()
    assert_exactly_once(harness.sim, harness.journal, outcome.rows)
    assert len(outcome.rows) == len(EXPECTED)


async def test_a_run_that_dies_mid_submit_leaves_nothing_frozen(harness: Harness) -> None:
    before = gc.get_threshold()

    def crash(point: str) -> None:
        if point == "reply_received":
            raise Crash(point)

    with pytest.raises(Crash):
        await harness.run(checkpoint=crash)

    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_a_run_that_dies_while_loading_turns_the_collector_back_on(
    harness: Harness, collector_on: None
) -> None:
    before = gc.get_threshold()
    with pytest.raises(Crash):
        await harness.run(source=lambda client: Watched(client, crash=True))

    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


async def test_a_dry_run_turns_the_collector_back_on(harness: Harness, collector_on: None) -> None:
    outcome = await harness.run(options=RunOptions(dry_run=True))

    assert outcome.dry_run
    assert outcome.plan.instructions
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


async def test_a_collector_the_caller_turned_off_stays_off(harness: Harness) -> None:
    gc.disable()
    try:
        collecting: list[bool] = []
        outcome = await harness.run(
            broker=lambda client: Hooked(
                client, before_submit=lambda _: collecting.append(gc.isenabled())
            )
        )
        assert outcome.ok
        assert len(collecting) == 6
        assert set(collecting) == {False}
        assert not gc.isenabled()
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
