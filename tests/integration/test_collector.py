"""``run_day`` keeps the cycle's loaded data out of the cyclic garbage collector's sight
while the instructions go out (``gc.freeze``), and always hands it back: after a run,
finished or crashed, nothing is left frozen."""

from __future__ import annotations

import gc

import pytest

from .helpers import EXPECTED, Harness, Hooked, assert_exactly_once

pytestmark = pytest.mark.anyio


class Crash(Exception):
    """Raised at a checkpoint of the submit path."""


async def test_what_was_loaded_is_frozen_while_submitting_and_thawed_after(
    harness: Harness,
) -> None:
    assert gc.get_freeze_count() == 0
    frozen_at_submit: list[int] = []

    outcome = await harness.run(
        broker=lambda client: Hooked(
            client, before_submit=lambda _account: frozen_at_submit.append(gc.get_freeze_count())
        )
    )

    assert outcome.ok
    assert len(frozen_at_submit) == 6  # every batch went out with the book frozen
    assert min(frozen_at_submit) > 1000  # the book, the plan, the ledger rows and more
    assert gc.get_freeze_count() == 0
    assert_exactly_once(harness.sim, harness.journal, outcome.rows)
    assert len(outcome.rows) == len(EXPECTED)


async def test_a_run_that_dies_mid_submit_leaves_nothing_frozen(harness: Harness) -> None:
    def crash(point: str) -> None:
        if point == "reply_received":
            raise Crash(point)

    with pytest.raises(Crash):
        await harness.run(checkpoint=crash)

    assert gc.get_freeze_count() == 0
