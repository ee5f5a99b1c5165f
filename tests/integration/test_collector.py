"""``run_day`` lets the cyclic garbage collector run less often during the cycle and
keeps the cycle's loaded data out of its sight while the instructions go out
(``gc.freeze``), and always puts things back: after a run, finished or crashed, the
collector's thresholds are what they were and nothing is left frozen."""

from __future__ import annotations

import gc

import pytest

from exerciser.services.run import CYCLE_GC_THRESHOLD

from .helpers import EXPECTED, Harness, Hooked, assert_exactly_once

pytestmark = pytest.mark.anyio


class Crash(Exception):
    """Raised at a checkpoint of the submit path."""


async def test_what_was_loaded_is_frozen_while_submitting_and_thawed_after(
    harness: Harness,
) -> None:
    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    frozen_at_submit: list[int] = []
    thresholds_at_submit: set[tuple[int, int, int]] = set()

    def seen(_account: int) -> None:
        frozen_at_submit.append(gc.get_freeze_count())
        thresholds_at_submit.add(gc.get_threshold())

    outcome = await harness.run(broker=lambda client: Hooked(client, before_submit=seen))

    assert outcome.ok
    assert len(frozen_at_submit) == 6  # every batch went out with the book frozen
    assert min(frozen_at_submit) > 1000  # the book, the plan, the ledger rows and more
    assert thresholds_at_submit == {(CYCLE_GC_THRESHOLD, *before[1:])}
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
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
