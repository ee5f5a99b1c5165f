"""``exerciser plan``: what would be sent for an expiration day, and why. Never submits."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TextIO

from exerciser.adapters.clock import system_now
from exerciser.adapters.prices_csv import load_prices
from exerciser.bootstrap import build_calendar, build_reference_store, build_rules
from exerciser.commands._common import (
    NEW_YORK,
    Context,
    Subcommands,
    parse_day,
    parse_moment,
    plan,
    write_atomically,
)
from exerciser.domain.calendar import NotASessionError, session_on_or_before
from exerciser.domain.plan import Plan
from exerciser.reports.plan import plan_csv, plan_json, plan_table
from exerciser.services.plan import PlanRequest

FORMATS = ("auto", "table", "json", "csv")


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plan",
        parents=parents,
        help="show what would be sent for an expiration day, and why",
        description="Load positions, contracts, prices and rules; decide; print. Never submits.",
    )
    parser.add_argument("--date", type=parse_day, help="business date (default: today's session)")
    parser.add_argument(
        "--as-of", type=parse_moment, help="rehearsal clock, ISO date-time (default: now)"
    )
    parser.add_argument(
        "--account", type=int, action="append", help="account id (repeatable; default: all)"
    )
    parser.add_argument("--prices", type=Path, help="CSV symbol,close,last overriding prices")
    parser.add_argument("--format", choices=FORMATS, default="auto")
    parser.add_argument("--output", type=Path, help="write here instead of stdout")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    as_of = args.as_of or system_now()
    calendar = build_calendar(as_of.astimezone(NEW_YORK).date())
    day = args.date or session_on_or_before(calendar, as_of.astimezone(NEW_YORK).date())
    request = PlanRequest(
        business_date=day,
        as_of=as_of,
        rules=build_rules(settings),
        account_ids=args.account or settings.accounts,
        concurrency=settings.concurrency,
        file_prices=load_prices(args.prices) if args.prices else None,
    )
    try:
        result = asyncio.run(
            plan(settings, request, calendar=calendar, references=build_reference_store(settings))
        )
    except NotASessionError as exc:
        print(f"{exc}: no options expire, nothing to plan", file=out)
        return 0
    text = render(result, _format(args, out))
    if args.output:
        write_atomically(args.output, text)
    else:
        out.write(text)
    return 0


def render(result: Plan, fmt: str) -> str:
    if fmt == "json":
        return plan_json(result)
    if fmt == "csv":
        return plan_csv(result)
    return plan_table(result)


def _format(args: argparse.Namespace, out: TextIO) -> str:
    if args.format != "auto":
        return str(args.format)
    if args.output is not None:
        return {".json": "json", ".csv": "csv"}.get(args.output.suffix.lower(), "table")
    return "table" if out.isatty() else "json"
