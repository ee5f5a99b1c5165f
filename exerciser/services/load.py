"""Use case: load the book — every account's positions, the option contracts they hold
and the prices of their underlyings, then every account's buying power — with bounded
concurrency.

In two stages, so that a caller can decide each account as its buying power arrives
(``make_plan``): the decision needs the contracts and prices of every position, which
are fetched for the whole book at once (23 requests for the benchmark's 2,000 accounts,
against 366 account by account), and the balances are fetched after them, while the
decisions fill the wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from exerciser.domain.book import AccountBook, Book, Contract, Position, Quote
from exerciser.ports import BookSource

log = structlog.get_logger("exerciser.load")


@dataclass(frozen=True, slots=True, kw_only=True)
class Holdings:
    """The book but the buying power: each account's positions (in the accounts' order),
    the contracts of the option positions, and the quotes of their underlyings."""

    positions: tuple[tuple[int, tuple[Position, ...]], ...]
    contracts: Mapping[str, Contract]
    quotes: Mapping[str, Quote]


async def load_book(
    source: BookSource,
    *,
    account_ids: Sequence[int] = (),
    concurrency: int = 8,
) -> Book:
    """Load what the daemon decides on. An empty ``account_ids`` means every active
    account the broker lists."""
    holdings = await load_holdings(source, account_ids=account_ids, concurrency=concurrency)
    return await load_balances(source, holdings, concurrency=concurrency)


async def load_holdings(
    source: BookSource,
    *,
    account_ids: Sequence[int] = (),
    concurrency: int = 8,
) -> Holdings:
    """Every account's positions, then the contracts and the underlyings' quotes."""
    ids = list(account_ids) or await source.account_ids()
    slots = asyncio.Semaphore(concurrency)

    async def one(account_id: int) -> tuple[Position, ...]:
        async with slots:
            positions = tuple(await source.positions(account_id))
        log.info(
            "positions_loaded",
            account_id=account_id,
            positions=len(positions),
            option_positions=sum(1 for p in positions if p.is_option),
        )
        return positions

    loaded = await asyncio.gather(*(one(i) for i in ids))
    positions = tuple(zip(ids, loaded, strict=True))
    option_ids = sorted({p.instrument_id for ps in loaded for p in ps if p.is_option})
    contracts = {c.id: c for c in await source.contracts(option_ids)} if option_ids else {}
    underlying_ids = sorted({c.underlying_id for c in contracts.values() if c.underlying_id})
    quotes = (
        {q.instrument_id: q for q in await source.quotes(underlying_ids)} if underlying_ids else {}
    )
    missing = sorted(set(option_ids) - contracts.keys())
    if missing:
        log.warning("contracts_missing", count=len(missing), instrument_ids=missing[:20])
    return Holdings(positions=positions, contracts=contracts, quotes=quotes)


async def load_balances(
    source: BookSource,
    holdings: Holdings,
    *,
    concurrency: int = 8,
    each: Callable[[AccountBook], None] | None = None,
) -> Book:
    """Every account's buying power: the book, whole. ``each`` is called with every
    account as soon as its buying power is in (in the order they arrive)."""
    slots = asyncio.Semaphore(concurrency)

    async def one(account_id: int, positions: tuple[Position, ...]) -> AccountBook:
        async with slots:
            buying_power = await source.buying_power(account_id)
        account = AccountBook(account_id=account_id, buying_power=buying_power, positions=positions)
        if each is not None:
            each(account)
        return account

    accounts = tuple(await asyncio.gather(*(one(i, ps) for i, ps in holdings.positions)))
    log.info(
        "book_loaded",
        accounts=len(accounts),
        option_positions=sum(len(a.option_positions) for a in accounts),
        contracts=len(holdings.contracts),
        underlyings=len(holdings.quotes),
    )
    return Book(accounts=accounts, contracts=holdings.contracts, quotes=holdings.quotes)
