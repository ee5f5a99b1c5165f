"""Underlying prices for the decision: the OCC reference and the decision price.

OCC decides exercise-by-exception on the **last regular-session trade** of the expiry
day; after-hours trades do not count. So the reference is taken from a last trade whose
timestamp is at or before the session close (and kept once captured, because after-hours
trading soon replaces it), and the latest trade — after-hours included — is kept apart
for policies that decide on it. Nothing here guesses: a price that is missing, zero,
stale, or cannot be told apart from an after-hours trade is a ``problem``, and the rows
on that underlying go to a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class PriceSource(StrEnum):
    BROKER = "broker"  # the regular-session close, from the broker's last trade
    FILE = "file"  # given by an operator (--prices)
    PROVISIONAL = "provisional"  # before the close: the last trade so far


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingPrice:
    symbol: str
    reference: Decimal | None
    latest: Decimal | None
    source: PriceSource
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None and self.reference is not None


def price_from_file(symbol: str, close: Decimal, last: Decimal | None) -> UnderlyingPrice:
    latest = close if last is None else last
    problem = None
    if close <= 0 or latest <= 0:
        problem = f"{symbol}: price file gives a price that is not positive"
    return UnderlyingPrice(
        symbol=symbol, reference=close, latest=latest, source=PriceSource.FILE, problem=problem
    )


def price_from_trade(  # noqa: PLR0911 - one early return per way a price can fail
    *,
    symbol: str,
    price: Decimal | None,
    traded_at: datetime | None,
    session_open: datetime,
    session_close: datetime,
    as_of: datetime,
    captured: Decimal | None = None,
) -> UnderlyingPrice:
    """Read the broker's last trade as of ``as_of`` on the expiry day.

    ``captured`` is a reference captured earlier the same day (right after the close);
    it wins over anything the last trade says now.
    """
    if captured is not None and captured > 0:
        latest = price if price is not None and price > 0 else captured
        return UnderlyingPrice(
            symbol=symbol, reference=captured, latest=latest, source=PriceSource.BROKER
        )

    def problem(why: str) -> UnderlyingPrice:
        return UnderlyingPrice(
            symbol=symbol, reference=None, latest=price, source=PriceSource.BROKER, problem=why
        )

    if price is None:
        return problem(f"{symbol}: no last trade")
    if price <= 0:
        return problem(f"{symbol}: last trade price {price} is not positive")
    if traded_at is None:
        return problem(
            f"{symbol}: the last trade has no timestamp, so the close cannot be told "
            "from an after-hours trade"
        )
    if traded_at < session_open:
        return problem(
            f"{symbol}: stale price: last trade at {traded_at.isoformat()} is before "
            "today's session"
        )
    if as_of < session_close:
        return UnderlyingPrice(
            symbol=symbol, reference=price, latest=price, source=PriceSource.PROVISIONAL
        )
    if traded_at <= session_close:
        return UnderlyingPrice(
            symbol=symbol, reference=price, latest=price, source=PriceSource.BROKER
        )
    return problem(
        f"{symbol}: the close was not captured and the last trade is after hours "
        f"({traded_at.isoformat()}); give the close with --prices"
    )
