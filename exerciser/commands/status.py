"""``exerciser status``: per row, what we intended, what the broker says now, and what is
still open."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import system_now
from exerciser.bootstrap import build_calendar, build_client, build_journal
from exerciser.commands._common import NEW_YORK, Context, Subcommands, parse_day
from exerciser.domain.calendar import session_on_or_before
from exerciser.domain.ledger import BrokerInstruction, LedgerRow
from exerciser.errors import BrokerError
from exerciser.reports.table import render_table
from exerciser.settings import Settings


def add_parser(commands: Subcommands, parents: list[Any]) -> None:
    parser = commands.add_parser(
        "status",
        parents=parents,
        help="what we intended, what the broker says now, what is open",
        description="Per journaled instruction: our state, the broker's status now, open rows.",
    )
    parser.add_argument("--date", type=parse_day, help="business date (default: today's session)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    today = system_now().astimezone(NEW_YORK).date()
    day = args.date or session_on_or_before(build_calendar(today), today)
    with build_journal(settings) as journal:
        rows = journal.rows(day)
    if not rows:
        print(f"No instructions journaled for {day}.", file=out)
        return 0
    now, note = asyncio.run(_broker_view(settings, rows))
    table = [
        [
            r.account_id,
            r.symbol,
            r.instruction_type.value,
            r.quantity,
            r.state.value + (" (superseded)" if r.superseded else ""),
            _broker_status(now.get(r.instruction_id), note),
            "" if r.state.is_terminal else "open",
            r.instruction_id,
        ]
        for r in rows
    ]
    headers = ["account", "contract", "type", "qty", "journal", "broker now", "", "instruction_id"]
    print(f"Instructions for {day}", file=out)
    print(render_table(headers, table), file=out)
    open_rows = sum(1 for r in rows if not r.state.is_terminal)
    print(f"\n{len(rows)} instructions, {open_rows} open{note}", file=out)
    return 0


async def _broker_view(
    settings: Settings, rows: list[LedgerRow]
) -> tuple[dict[str, BrokerInstruction], str]:
    found: dict[str, BrokerInstruction] = {}
    try:
        async with build_client(settings) as client:
            broker = ClearStreetInstructions(client)
            for account_id in sorted({r.account_id for r in rows}):
                for held in await broker.list_instructions(account_id):
                    found[held.instruction_id] = held
    except BrokerError as exc:
        return found, f"; the broker could not be asked: {exc.message}"
    return found, ""


def _broker_status(held: BrokerInstruction | None, note: str) -> str:
    if held is None:
        return "?" if note else "not held"
    accepted = f" {held.accepted_quantity}" if held.accepted_quantity is not None else ""
    return f"{held.raw_status}{accepted}"
