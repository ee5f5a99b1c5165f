"""``exerciser positions``: load and show option positions from the broker."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date
from typing import Any, TextIO

from exerciser.commands._common import Context, Subcommands, load, parse_day
from exerciser.domain.book import Book
from exerciser.reports.table import render_table


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "positions",
        parents=parents,
        help="load and show option positions from the broker",
        description="Load accounts, option positions, contracts and prices, and print them.",
    )
    parser.add_argument("--date", type=parse_day, help="only contracts expiring on this date")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    book = asyncio.run(load(settings))
    print_book(book, args.date, out)
    return 0


def print_book(book: Book, day: date | None, out: TextIO) -> None:
    rows: list[list[Any]] = []
    for account in book.accounts:
        for position in account.option_positions:
            contract = book.contracts.get(position.instrument_id)
            if day is not None and (contract is None or contract.expiry != day):
                continue
            quote = book.quotes.get(contract.underlying_id or "") if contract else None
            rows.append(
                [
                    account.account_id,
                    position.symbol,
                    position.quantity,
                    position.available_quantity,
                    contract.right if contract else None,
                    contract.strike if contract else None,
                    contract.expiry.isoformat() if contract else None,
                    contract.multiplier if contract else None,
                    quote.symbol if quote else None,
                    quote.price if quote else None,
                ]
            )
    headers = [
        "account",
        "contract",
        "qty",
        "avail",
        "right",
        "strike",
        "expiry",
        "mult",
        "underlying",
        "last",
    ]
    print(render_table(headers, rows), file=out)
    total = sum(len(a.option_positions) for a in book.accounts)
    summary = f"{len(book.accounts)} accounts, {total} option positions"
    if day is not None:
        summary += f", {len(book.expiring_on(day))} expiring {day}"
    print(summary, file=out)
