"""The simulator's prices at a moment: ``last_price`` is ``last_trade``'s price, on
either side of the after-hours start and whether or not the after-hours price moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from exerciser.sim.market import last_price, last_trade
from exerciser.sim.scenario import Underlying

CLOSE_AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
AFTER_HOURS_AT = CLOSE_AT + timedelta(minutes=5)


def aapl(last: str) -> Underlying:
    return Underlying(
        symbol="AAPL",
        id="u-aapl",
        type="EQUITY",
        close=Decimal("190.40"),
        last=Decimal(last),
        previous_close=None,
    )


@pytest.mark.parametrize(
    ("now", "last", "price"),
    [
        (CLOSE_AT, "195.00", "190.40"),  # before after-hours: the close
        (AFTER_HOURS_AT - timedelta(microseconds=1), "195.00", "190.40"),
        (AFTER_HOURS_AT, "195.00", "195.00"),  # from then on: the after-hours last
        (AFTER_HOURS_AT + timedelta(hours=9), "195.00", "195.00"),
        (AFTER_HOURS_AT, "190.40", "190.40"),  # no after-hours move: the close
        (AFTER_HOURS_AT, "190.4", "190.40"),  # an equal price, written otherwise
    ],
)
def test_last_price_is_the_price_of_the_last_trade(now: datetime, last: str, price: str) -> None:
    underlying = aapl(last)
    traded, _ = last_trade(underlying, close_at=CLOSE_AT, after_hours_at=AFTER_HOURS_AT, now=now)
    alone = last_price(underlying, after_hours_at=AFTER_HOURS_AT, now=now)
    assert alone == traded == Decimal(price)
    assert str(alone) == str(traded)  # the same Decimal, exponent and all
