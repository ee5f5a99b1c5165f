"""Reading the OCC reference and the decision price from the broker's last trade."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exerciser.domain.prices import PriceSource, price_from_file, price_from_trade

NY = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 20, 9, 30, tzinfo=NY)
CLOSE = datetime(2026, 11, 20, 16, 0, tzinfo=NY)


def at(hh: int, mm: int, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=NY)


@pytest.mark.parametrize(
    ("price", "traded_at", "as_of", "captured", "reference", "source", "problem"),
    [
        ("190.40", at(15, 59), at(16, 5), None, "190.40", PriceSource.BROKER, None),
        ("190.40", at(16, 0), at(16, 5), None, "190.40", PriceSource.BROKER, None),
        ("190.40", at(15, 20), at(15, 30), None, "190.40", PriceSource.PROVISIONAL, None),
        ("191.10", at(16, 30), at(16, 40), None, None, PriceSource.BROKER, "not captured"),
        ("191.10", at(16, 30), at(16, 40), "190.40", "190.40", PriceSource.BROKER, None),
        ("190.40", at(15, 59, day=19), at(16, 5), None, None, PriceSource.BROKER, "stale"),
        ("190.40", None, at(16, 5), None, None, PriceSource.BROKER, "no timestamp"),
        (None, None, at(16, 5), None, None, PriceSource.BROKER, "no last trade"),
        ("0", at(15, 59), at(16, 5), None, None, PriceSource.BROKER, "not positive"),
    ],
    ids=[
        "close",
        "at-the-bell",
        "preview",
        "after-hours-uncaptured",
        "after-hours-captured",
        "stale",
        "no-timestamp",
        "no-trade",
        "zero",
    ],
)
def test_reference_is_the_regular_session_close_or_a_problem(
    price: str | None,
    traded_at: datetime | None,
    as_of: datetime,
    captured: str | None,
    reference: str | None,
    source: PriceSource,
    problem: str | None,
) -> None:
    result = price_from_trade(
        symbol="AAPL",
        price=Decimal(price) if price is not None else None,
        traded_at=traded_at,
        session_open=OPEN,
        session_close=CLOSE,
        as_of=as_of,
        captured=Decimal(captured) if captured else None,
    )
    assert result.reference == (Decimal(reference) if reference else None)
    assert result.source is source
    if problem is None:
        assert result.problem is None
        assert result.usable
    else:
        assert result.problem is not None
        assert problem in result.problem
        assert not result.usable


def test_after_hours_trade_is_kept_as_the_latest_price() -> None:
    result = price_from_trade(
        symbol="AAPL",
        price=Decimal("191.10"),
        traded_at=at(16, 30),
        session_open=OPEN,
        session_close=CLOSE,
        as_of=at(16, 40),
        captured=Decimal("190.40"),
    )
    assert result.latest == Decimal("191.10")


def test_file_prices_default_last_to_close_and_refuse_zero() -> None:
    assert price_from_file("AAPL", Decimal("190"), None).latest == Decimal("190")
    assert price_from_file("AAPL", Decimal("0"), None).problem is not None
