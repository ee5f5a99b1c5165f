"""Use case: load the book — every account's positions, its buying power, the option
contracts it holds and the prices of their underlyings — with bounded concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from exerciser.domain.book import AccountBook, Book
from exerciser.ports import BookSource

log = structlog.get_logger("exerciser.load")


async def load_book(
    source: BookSource,
    *,
    account_ids: Sequence[int] = (),
    concurrency: int = 8,
) -> Book:
    """Load what the daemon decides on. An empty ``account_ids`` means every active
    account the broker lists."""
    ids = list(account_ids) or await source.account_ids()
    slots = asyncio.Semaphore(concurrency)

    async def one(account_id: int) -> AccountBook:
        async with slots:
            positions, buying_power = await asyncio.gather(
                source.positions(account_id), source.buying_power(account_id)
            )
        options = sum(1 for p in positions if p.is_option)
        log.info(
            "positions_loaded",
            account_id=account_id,
            positions=len(positions),
            option_positions=options,
        )
        return AccountBook(
            account_id=account_id, buying_power=buying_power, positions=tuple(positions)
        )

    accounts = await asyncio.gather(*(one(i) for i in ids))
    option_ids = sorted({p.instrument_id for a in accounts for p in a.option_positions})
    contracts = {c.id: c for c in await source.contracts(option_ids)} if option_ids else {}
    underlying_ids = sorted({c.underlying_id for c in contracts.values() if c.underlying_id})
    quotes = (
        {q.instrument_id: q for q in await source.quotes(underlying_ids)} if underlying_ids else {}
    )
    missing = sorted(set(option_ids) - contracts.keys())
    if missing:
        log.warning("contracts_missing", count=len(missing), instrument_ids=missing[:20])
    log.info(
        "book_loaded",
        accounts=len(accounts),
        option_positions=sum(len(a.option_positions) for a in accounts),
        contracts=len(contracts),
        underlyings=len(quotes),
    )
    return Book(accounts=tuple(accounts), contracts=contracts, quotes=quotes)
