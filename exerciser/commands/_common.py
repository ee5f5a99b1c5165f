"""What several commands share: loading the book and the plan with settings-built adapters."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.bootstrap import build_client
from exerciser.domain.book import Book
from exerciser.domain.calendar import SessionCalendar
from exerciser.domain.plan import Plan
from exerciser.ports import ReferenceStore
from exerciser.services.load import load_book
from exerciser.services.plan import PlanRequest, make_plan
from exerciser.settings import Settings

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What every command gets besides its arguments."""

    settings: Settings
    out: TextIO
    environ: Mapping[str, str]


# argparse has no public name for the object add_subparsers() returns; it is generic
# only to the type checker.
if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = argparse._SubParsersAction


async def load(settings: Settings, *, api_key: str | None = None) -> Book:
    key = SecretStr(api_key) if api_key is not None else None
    async with build_client(settings, api_key=key) as client:
        return await load_book(
            ClearStreetBookSource(client),
            account_ids=settings.accounts,
            concurrency=settings.concurrency,
        )


async def plan(
    settings: Settings,
    request: PlanRequest,
    *,
    calendar: SessionCalendar,
    references: ReferenceStore | None,
    api_key: str | None = None,
) -> Plan:
    key = SecretStr(api_key) if api_key is not None else None
    async with build_client(settings, api_key=key) as client:
        return await make_plan(
            request,
            source=ClearStreetBookSource(client),
            calendar=calendar,
            references=references,
        )


def parse_moment(text: str) -> datetime:
    """An ISO date-time for --as-of; without an offset it is New York time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time such as 2026-11-20T16:01 "
            "(New York time unless an offset is given)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=NEW_YORK)


def parse_day(text: str) -> date:
    """An ISO date for --date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-20") from None


def write_atomically(path: Path, text: str) -> None:
    """Write the whole file or nothing: a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
