"""How the simulator writes money, quantities and times: the texts are remembered by
value, so equal values written differently (``1.0`` and ``1.00``, one instant in two
zones) must give the text each would give alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exerciser.sim.wire import decimal_text, money_text, timestamp

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("value", "money", "plain"),
    [
        (Decimal("250000"), "250000.00", "250000"),
        (Decimal("1.0"), "1.00", "1"),
        (Decimal("1.00"), "1.00", "1"),
        (Decimal("0.005"), "0.005", "0.005"),
        (Decimal("412.50"), "412.50", "412.5"),
        (Decimal("-0"), "0.00", "0"),
        (Decimal("0E-7"), "0.00", "0"),
        (Decimal("-12.3"), "-12.30", "-12.3"),
        (Decimal("1E+2"), "100.00", "100"),
    ],
)
def test_money_and_quantities_are_written_plainly(value: Decimal, money: str, plain: str) -> None:
    for _ in range(2):  # written, then remembered
        assert money_text(value) == money
        assert decimal_text(value) == plain


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 20, 21, 0, tzinfo=UTC), "2026-11-20T21:00:00Z"),
        (datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK), "2026-11-20T21:00:00Z"),
        (datetime(2026, 11, 20, 21, 0, 0, 250, tzinfo=UTC), "2026-11-20T21:00:00.000250Z"),
        (
            datetime(2026, 11, 20, 23, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-20T21:00:00Z",
        ),
        # the hour repeated when New York's clocks went back: equal wall times, fold apart
        (datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK), "2026-11-01T05:30:00Z"),
        (datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK), "2026-11-01T06:30:00Z"),
    ],
)
def test_times_are_written_in_utc(moment: datetime, text: str) -> None:
    for _ in range(2):
        assert timestamp(moment) == text
