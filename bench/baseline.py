"""The straightforward sequential baseline: one account at a time, one request at a time.

For each account, each step awaited before the next, on one connection:

    GET positions, GET balances, GET contracts (its option ids, 100 a call),
    GET snapshot (its underlyings), decide, journal the plan,
    POST all its instructions in one batch, GET the instruction list until terminal

It uses the same pieces as the daemon — ``ClearStreetClient`` (concurrency 1), the
book-source and instruction adapters, ``make_plan`` (so the same rules engine), a real
``SqliteJournal`` and reference store — and leaves out only the concurrency and the
daemon's look-before-send list. One POST per account is "no batching beyond what the API
requires": the endpoint takes the account's rows as one array. The book is the same;
the accounts are a sample, and the time is extrapolated to the whole book.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.clock import SharedClock
from bench.instrument import Phases, Requests
from bench.usage import cpu_seconds, wall
from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.adapters.rules_yaml import load_rules
from exerciser.domain.ledger import RowState, RowUpdate
from exerciser.ports import Journal, RunRecord
from exerciser.services.plan import PlanRequest, make_plan

MAX_POLLS = 20


def run(config: dict[str, Any]) -> dict[str, Any]:
    day = date.fromisoformat(config["spec"]["business_date"])
    calendar = XnysCalendar.around(day)
    rules = load_rules(Path(config["rules"]))
    samples = [
        asyncio.run(
            _sample(config, calendar=calendar, rules=rules, day=day, account_ids=ids, index=index)
        )
        for index, ids in enumerate(config["samples"])
    ]
    return {"samples": samples}


async def _sample(
    config: dict[str, Any],
    *,
    calendar: XnysCalendar,
    rules: Any,
    day: date,
    account_ids: list[int],
    index: int,
) -> dict[str, Any]:
    sim = config["sim"]
    clock = SharedClock(anchor=datetime.fromisoformat(sim["anchor"]), epoch=sim["epoch"])
    state = Path(config["state_dir"]) / f"sample-{index}"
    phases = Phases()
    phases.enter("baseline")
    requests = Requests(phases)
    per_account: list[float] = []
    instructions = 0
    with (
        requests.counting(),
        SqliteJournal.open(state / "journal.sqlite3") as journal,
    ):
        async with ClearStreetClient(
            base_url=sim["base_url"],
            api_key=SecretStr(sim["token"]),
            concurrency=1,
            page_size=1000,
            retry=RetryPolicy(),
        ) as client:
            source = ClearStreetBookSource(client)
            broker = ClearStreetInstructions(client)
            references = FileReferenceStore(state / "references")
            cpu0, wall0 = cpu_seconds(), wall()
            for account_id in account_ids:
                began = wall()
                request = PlanRequest(
                    business_date=day,
                    as_of=clock(),
                    rules=rules,
                    account_ids=(account_id,),
                    concurrency=1,
                )
                plan = await make_plan(
                    request, source=source, calendar=calendar, references=references
                )
                run_id = f"baseline-{account_id}"
                journal.begin_run(
                    RunRecord(
                        run_id=run_id,
                        business_date=day,
                        as_of=request.as_of,
                        started_at=clock(),
                        command="bench-baseline",
                        dry_run=False,
                    )
                )
                wanted = journal.record_plan(run_id, plan, at=clock())
                instructions += len(wanted)
                if wanted:
                    await _send_and_follow(
                        journal,
                        broker=broker,
                        run_id=run_id,
                        account_id=account_id,
                        wanted=wanted,
                        clock=clock,
                    )
                journal.end_run(run_id, ended_at=clock(), outcome="done")
                per_account.append(wall() - began)
            total_s, cpu_s = wall() - wall0, cpu_seconds() - cpu0
    return {
        "accounts": len(account_ids),
        "total_s": round(total_s, 3),
        "cpu_s": round(cpu_s, 3),
        "per_account_s": round(total_s / len(account_ids), 4),
        "slowest_account_s": round(max(per_account), 4),
        "account_s": [round(t, 4) for t in per_account],
        "instructions": instructions,
        "requests": requests.total,
        "requests_per_account": round(requests.total / len(account_ids), 2),
        "by_endpoint": requests.by_endpoint(),
        "mean_latency_ms": round(requests.mean_latency_s * 1000, 2),
    }


async def _send_and_follow(
    journal: Journal,
    *,
    broker: ClearStreetInstructions,
    run_id: str,
    account_id: int,
    wanted: list[Any],
    clock: SharedClock,
) -> None:
    pending = [r for r in wanted if r.state is RowState.PENDING]
    attempt = journal.record_attempt(
        run_id,
        account_id=account_id,
        instruction_ids=[r.instruction_id for r in pending],
        at=clock(),
    )
    reply = await broker.submit(account_id, pending)
    journal.apply(
        run_id,
        [RowUpdate.observed(seen) for seen in reply.rows],
        at=clock(),
        source="submit",
        attempt_id=attempt,
        attempt_outcome=str(reply.http_status),
        http_status=reply.http_status,
        request_id=reply.request_id,
    )
    ours = {r.instruction_id for r in pending}
    for _ in range(MAX_POLLS):
        held = [h for h in await broker.list_instructions(account_id) if h.instruction_id in ours]
        journal.apply(run_id, [RowUpdate.observed(h) for h in held], at=clock(), source="list")
        if all(RowState.of(h.status).is_terminal for h in held):
            return
        await asyncio.sleep(0.1)
