"""Use case: the plan for one expiration day — load the book, settle the prices, apply
the rules, and say for every expiring option position what will be sent and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import structlog

from exerciser.domain.book import Book
from exerciser.domain.calendar import ExpiryDay, SessionCalendar, expiration_date, expiry_day
from exerciser.domain.decide import DecisionInputs, decide
from exerciser.domain.plan import Plan
from exerciser.domain.policy import RuleSet
from exerciser.domain.prices import PriceSource, UnderlyingPrice, price_from_file, price_from_trade
from exerciser.ports import BookSource, ReferenceStore
from exerciser.services.load import load_book

log = structlog.get_logger("exerciser.plan")

# A listed expiry on a non-session day moves to the previous session; no run of
# non-session days is longer than this.
_SHIFT_HORIZON = timedelta(days=7)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    business_date: date
    as_of: datetime
    rules: RuleSet
    account_ids: Sequence[int] = ()
    concurrency: int = 8
    file_prices: Mapping[str, tuple[Decimal, Decimal | None]] | None = None


async def make_plan(
    request: PlanRequest,
    *,
    source: BookSource,
    calendar: SessionCalendar,
    references: ReferenceStore | None = None,
) -> Plan:
    """Raises ``NotASessionError`` for a day that is not a session (nothing is planned)."""
    expiry_day(calendar, request.business_date)  # refuse a non-session before any request
    book = await load_book(source, account_ids=request.account_ids, concurrency=request.concurrency)
    return plan_book(book, request, calendar=calendar, references=references)


def plan_book(
    book: Book,
    request: PlanRequest,
    *,
    calendar: SessionCalendar,
    references: ReferenceStore | None = None,
) -> Plan:
    """The plan for a book already loaded."""
    day = expiry_day(calendar, request.business_date)
    prices = _prices(book, day, request, references)
    plan = decide(
        DecisionInputs(
            business_date=day.day,
            as_of=request.as_of,
            accounts=book.accounts,
            contracts=book.contracts,
            prices=prices,
            underlying_symbols={q.instrument_id: q.symbol for q in book.quotes.values()},
            rules=request.rules,
            expires_today=expiring_on(calendar, day.day),
        )
    )
    log.info(
        "plan_made",
        business_date=day.day.isoformat(),
        as_of=request.as_of.isoformat(),
        rows=len(plan.rows),
        instructions=len(plan.instructions),
        manual_review=sum(1 for r in plan.rows if r.needs_review),
        warnings=len(plan.warnings),
    )
    return plan


def expiring_on(calendar: SessionCalendar, day: date) -> Callable[[date], bool]:
    """``listed -> expires on day``, cheap for the common cases and safe for listings far
    beyond the calendar's range (they cannot expire today)."""

    def expires(listed: date) -> bool:
        if listed == day:
            return True
        if listed < day or listed - day > _SHIFT_HORIZON:
            return False
        return expiration_date(calendar, listed) == day

    return expires


def _prices(
    book: Book, day: ExpiryDay, request: PlanRequest, references: ReferenceStore | None
) -> dict[str, UnderlyingPrice]:
    """Prices by underlying id: from the operator's file when given, else from the
    broker's last trade, capturing the close for later runs the same day."""
    captured = references.get(day.day) if references is not None else {}
    newly_captured: dict[str, Decimal] = {}
    prices: dict[str, UnderlyingPrice] = {}
    underlying_ids = {c.underlying_id for c in book.contracts.values() if c.underlying_id}
    for underlying_id in sorted(underlying_ids):
        quote = book.quotes.get(underlying_id)
        symbol = quote.symbol if quote is not None else underlying_id
        if request.file_prices is not None:
            given = request.file_prices.get(symbol.upper())
            if given is not None:
                prices[underlying_id] = price_from_file(symbol, *given)
                continue
        price = price_from_trade(
            symbol=symbol,
            price=quote.price if quote is not None else None,
            traded_at=quote.traded_at if quote is not None else None,
            session_open=day.open_at,
            session_close=day.close_at,
            as_of=request.as_of,
            captured=captured.get(symbol),
        )
        prices[underlying_id] = price
        if (
            price.usable
            and price.source is PriceSource.BROKER
            and symbol not in captured
            and price.reference is not None
        ):
            newly_captured[symbol] = price.reference
    if references is not None and newly_captured:
        references.put(day.day, newly_captured)
        log.info(
            "references_captured", business_date=day.day.isoformat(), count=len(newly_captured)
        )
    return prices
