"""``exerciser cancel INSTRUCTION_ID``: cancel one of our instructions and journal it."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import system_now
from exerciser.bootstrap import build_client, build_journal
from exerciser.commands._common import Context, Subcommands
from exerciser.domain.ledger import RowUpdate
from exerciser.errors import ConfigError
from exerciser.settings import Settings


def add_parser(commands: Subcommands, parents: list[Any]) -> None:
    parser = commands.add_parser(
        "cancel",
        parents=parents,
        help="cancel one of our instructions",
        description="Cancel an instruction we sent, by its instruction_id, and journal it.",
    )
    parser.add_argument("instruction_id")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    with build_journal(settings) as journal:
        row = journal.row(args.instruction_id)
        if row is None:
            raise ConfigError([f"instruction_id {args.instruction_id!r}: not in the journal"])
        if row.server_id is None or not row.state.at_broker:
            raise ConfigError(
                [f"instruction_id {args.instruction_id!r}: {row.state.value}, nothing to cancel"]
            )
        run_id = f"cancel-{uuid.uuid4().hex[:8]}"
        seen = asyncio.run(_cancel(settings, row.account_id, row.server_id))
        update = RowUpdate.observed(seen, instruction_id=row.instruction_id)
        journal.apply(run_id, [update], at=system_now(), source="cancel")
        journal.event(
            run_id,
            "cancel_requested_by_operator",
            at=system_now(),
            instruction_id=row.instruction_id,
            account_id=row.account_id,
        )
    print(f"{row.instruction_id}: {seen.raw_status}", file=out)
    return 0


async def _cancel(settings: Settings, account_id: int, server_id: str) -> Any:
    async with build_client(settings) as client:
        return await ClearStreetInstructions(client).cancel(account_id, server_id)
