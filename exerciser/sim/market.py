"""Prices as the simulated clock sees them.

Until ``after_hours_at`` (by default five minutes after ``close_at``) an underlying's last
trade is its regular-session ``close``, stamped one second before the close; from then on
it is the after-hours ``last``, stamped with the current time but never later than four
hours after the close. The gap is what a daemon has to capture the close (the OCC
reference) from the snapshot before after-hours trading replaces it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from exerciser.sim.scenario import Contract, Underlying
from exerciser.sim.wire import JsonObject, money_text, timestamp

AFTER_HOURS = timedelta(hours=4)
TRADE_SIZE = 100


def last_trade(
    underlying: Underlying, *, close_at: datetime, after_hours_at: datetime, now: datetime
) -> tuple[Decimal, datetime]:
    """The price and time of the latest trade at ``now``."""
    if _after_hours(underlying, after_hours_at, now):
        return underlying.last, min(now, close_at + AFTER_HOURS)
    return underlying.close, close_at - timedelta(seconds=1)


def last_price(underlying: Underlying, *, after_hours_at: datetime, now: datetime) -> Decimal:
    """``last_trade``'s price alone (a positions page marks every line with it)."""
    return underlying.last if _after_hours(underlying, after_hours_at, now) else underlying.close


def _after_hours(underlying: Underlying, after_hours_at: datetime, now: datetime) -> bool:
    return now >= after_hours_at and underlying.last != underlying.close


_ZERO = Decimal(0)


def intrinsic(contract: Contract, spot: Decimal) -> Decimal:
    """Per-share intrinsic value of ``contract`` with the underlying at ``spot``."""
    if contract.contract_type == "CALL":
        return max(_ZERO, spot - contract.strike)
    return max(_ZERO, contract.strike - spot)


def underlying_snapshot(
    underlying: Underlying, *, close_at: datetime, after_hours_at: datetime, now: datetime
) -> JsonObject:
    """A MarketDataSnapshot of a stock or index (an index trades size 0)."""
    price, traded_at = last_trade(
        underlying, close_at=close_at, after_hours_at=after_hours_at, now=now
    )
    session = None
    if underlying.previous_close is not None:
        change = price - underlying.previous_close
        percent = (change / underlying.previous_close * 100).quantize(Decimal("0.0001"))
        session = {
            "previous_close": money_text(underlying.previous_close),
            "change": money_text(change),
            "change_percent": f"{percent:.4f}",
        }
    return {
        "instrument_id": underlying.id,
        "symbol": underlying.symbol,
        "name": underlying.name,
        "last_trade": {
            "price": money_text(price),
            "size": 0 if underlying.type == "INDEX" else TRADE_SIZE,
            "timestamp": timestamp(traded_at),
        },
        "last_quote": None,
        "session": session,
        "cumulative_volume": None,
    }


def contract_snapshot(contract: Contract) -> JsonObject:
    """A MarketDataSnapshot of an option: the simulator has no option trades."""
    return {
        "instrument_id": contract.id,
        "symbol": contract.symbol,
        "name": None,
        "last_trade": None,
        "last_quote": None,
        "session": None,
        "cumulative_volume": None,
    }
