"""Use case: the plan for one expiration day — load the book, settle the prices, apply
the rules, and say for every expiring option position what will be sent and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import structlog

from exerciser.domain.book import AccountBook, Book, Contract, Quote
from exerciser.domain.calendar import ExpiryDay, SessionCalendar, expiration_date, expiry_day
from exerciser.domain.decide import Decided, Decider, DecisionInputs, decide
from exerciser.domain.plan import Plan
from exerciser.domain.policy import RuleSet
from exerciser.domain.prices import PriceSource, UnderlyingPrice, price_from_file, price_from_trade
from exerciser.ports import BookSource, ReferenceStore
from exerciser.services.load import load_balances, load_holdings

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
    """Load the book and decide it; each account is decided as soon as its buying power,
    its last input, arrives, while the others' are still on their way.

    Raises ``NotASessionError`` for a day that is not a session (nothing is planned)."""
    day = expiry_day(calendar, request.business_date)  # refuse a non-session before any request
    holdings = await load_holdings(
        source, account_ids=request.account_ids, concurrency=request.concurrency
    )
    decider = Decider(
        _inputs(
            holdings.contracts,
            holdings.quotes,
            (),
            day=day,
            request=request,
            calendar=calendar,
            references=references,
        )
    )
    decided: dict[int, Decided] = {}

    def each(account: AccountBook) -> None:
        decided[account.account_id] = decider.account(account)

    book = await load_balances(source, holdings, concurrency=request.concurrency, each=each)
    return planned(decider.plan(decided[a.account_id] for a in book.accounts), request)


def plan_book(
    book: Book,
    request: PlanRequest,
    *,
    calendar: SessionCalendar,
    references: ReferenceStore | None = None,
) -> Plan:
    """The plan for a book already loaded."""
    day = expiry_day(calendar, request.business_date)
    inputs = _inputs(
        book.contracts,
        book.quotes,
        book.accounts,
        day=day,
        request=request,
        calendar=calendar,
        references=references,
    )
    return planned(decide(inputs), request)


def planned(plan: Plan, request: PlanRequest) -> Plan:
    """The plan, logged."""
    log.info(
        "plan_made",
        business_date=plan.business_date.isoformat(),
        as_of=request.as_of.isoformat(),
        rows=len(plan.rows),
        instructions=len(plan.instructions),
        manual_review=sum(1 for r in plan.rows if r.needs_review),
        warnings=len(plan.warnings),
    )
    return plan


def _inputs(
    contracts: Mapping[str, Contract],
    quotes: Mapping[str, Quote],
    accounts: Sequence[AccountBook],
    *,
    day: ExpiryDay,
    request: PlanRequest,
    calendar: SessionCalendar,
    references: ReferenceStore | None,
) -> DecisionInputs:
    return DecisionInputs(
        business_date=day.day,
        as_of=request.as_of,
        accounts=accounts,
        contracts=contracts,
        prices=_prices(contracts, quotes, day, request, references),
        underlying_symbols={q.instrument_id: q.symbol for q in quotes.values()},
        rules=request.rules,
        expires_today=expiring_on(calendar, day.day),
    )


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
    contracts: Mapping[str, Contract],
    quotes: Mapping[str, Quote],
    day: ExpiryDay,
    request: PlanRequest,
    references: ReferenceStore | None,
) -> dict[str, UnderlyingPrice]:
    """Prices by underlying id: from the operator's file when given, else from the
    broker's last trade, capturing the close for later runs the same day."""
    captured = references.get(day.day) if references is not None else {}
    newly_captured: dict[str, Decimal] = {}
    prices: dict[str, UnderlyingPrice] = {}
    underlying_ids = {c.underlying_id for c in contracts.values() if c.underlying_id}
    for underlying_id in sorted(underlying_ids):
        quote = quotes.get(underlying_id)
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
