"""One full cycle through the real code path, measured from outside.

``run_day`` as ``exerciser run`` wires it: ``ClearStreetClient`` over HTTP to the
simulator on 127.0.0.1, ``ClearStreetBookSource`` and ``ClearStreetInstructions``, a real
``SqliteJournal`` and ``FileReferenceStore`` in a fresh directory, the XNYS calendar, the
rules file, and the clock shared with the simulator. The timed span is the ``run_day``
call: it lists the accounts, loads positions, then contracts and prices, then balances,
deciding each account as its balance arrives, journals, submits and reconciles until
every instruction is terminal. Building the
calendar and reading the rules (once per daemon, not per cycle) are timed apart as setup.

After the cycle, a probe sends bare balance requests (``probe_requests`` of them) through
the same client at the same concurrency: the CPU the HTTP stack costs per request, before
any parsing or logic. Two more probes compare (the three run in turn, three times; the
least CPU of each counts):

- ``with_sniffio``: a stand-in ``sniffio`` module importable. httpcore runs ``import
  sniffio`` for every lock and event it sets up, and without sniffio installed (anyio
  >= 4.11 no longer pulls it in) that failed import searches sys.path every time
  (encode/httpcore#1103). The calls per request are counted and one failed import timed.
- ``one_pool``: the client with all its connections in one pool (one shared
  ``AsyncioTransport``), as before the client split them. httpcore 1.0's pool walked
  every connection several times per request (encode/httpcore#1035), so the split paid
  then; with our pool it is a small difference.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
import types
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpcore._synchronization as httpcore_sync
import httpx
import structlog
from pydantic import SecretStr

from bench.clock import SharedClock
from bench.instrument import Phases, Requests, TimedJournal, gc_time, phase_marks
from bench.profiling import Profile, profiled
from bench.usage import cpu_seconds, peak_rss_mb, process_cpu_seconds, wall
from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clearstreet.transport import AsyncioTransport
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.adapters.rules_yaml import load_rules
from exerciser.services.plan import PlanRequest
from exerciser.services.run import RunOptions, RunOutcome, run_day

POLL_FIRST_DELAY = 2.0  # Settings.poll_interval's default
PROBE_REQUESTS = 400
PROBE_ROUNDS = 3


class _Sleeps:
    """``asyncio.sleep``, counting what the daemon chose to wait (poll delays, backoff)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    async def __call__(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        await asyncio.sleep(seconds)


def run(config: dict[str, Any]) -> dict[str, Any]:
    rss_at_start = peak_rss_mb()
    started = wall()
    calendar = XnysCalendar.around(date.fromisoformat(config["spec"]["business_date"]))
    rules = load_rules(Path(config["rules"]))
    setup_s = wall() - started
    result = asyncio.run(_measure(config, calendar, rules))
    result["setup_s"] = round(setup_s, 3)
    result["rss_mb"] = {"after_imports": round(rss_at_start, 1), "peak": round(peak_rss_mb(), 1)}
    return result


async def _measure(config: dict[str, Any], calendar: XnysCalendar, rules: Any) -> dict[str, Any]:
    sim = config["sim"]
    clock = SharedClock(anchor=datetime.fromisoformat(sim["anchor"]), epoch=sim["epoch"])
    concurrency = config["concurrency"]
    state = Path(config["state_dir"])
    day = date.fromisoformat(config["spec"]["business_date"])
    phases = Phases()
    requests = Requests(phases)
    sleeps = _Sleeps()
    run_id = uuid.uuid4().hex[:12]
    structlog.contextvars.bind_contextvars(run_id=run_id)
    profile_dir = config.get("profile_dir")
    with requests.counting(), SqliteJournal.open(state / "journal.sqlite3") as opened:
        journal = TimedJournal(opened, phases)
        async with ClearStreetClient(
            base_url=sim["base_url"],
            api_key=SecretStr(sim["token"]),
            concurrency=concurrency,
            page_size=1000,
            retry=RetryPolicy(),
        ) as client:
            if config.get("start_at"):  # shards start together (bench.shards)
                await asyncio.sleep(max(0.0, config["start_at"] - time.time()))
            request = PlanRequest(
                business_date=day,
                as_of=clock(),
                rules=rules,
                concurrency=concurrency,
                account_ids=tuple(config.get("account_ids", ())),
            )
            options = RunOptions(
                batch_size=config["batch_size"],
                concurrency=concurrency,
                poll_first_delay=POLL_FIRST_DELAY,
            )
            profiling = (
                profiled(Path(profile_dir), "cycle") if profile_dir else nullcontext(Profile())
            )
            sim_cpu0 = process_cpu_seconds(sim["pid"]) if "pid" in sim else None
            cpu0, wall0, epoch0 = cpu_seconds(), wall(), time.time()
            with phase_marks(phases), gc_time(phases) as collections, profiling as profile:
                phases.enter("load")
                outcome = await run_day(
                    request,
                    run_id=run_id,
                    source=ClearStreetBookSource(client),
                    broker=ClearStreetInstructions(client),
                    journal=journal,
                    calendar=calendar,
                    references=FileReferenceStore(state / "references"),
                    clock=clock,
                    sleep=sleeps,
                    options=options,
                )
                phases.enter("end")
            cycle_s, cycle_cpu = wall() - wall0, cpu_seconds() - cpu0
            span = {"started": epoch0, "ended": time.time()}
            sim_cpu1 = process_cpu_seconds(sim["pid"]) if "pid" in sim else None
            result: dict[str, Any] = {
                "cycle_s": round(cycle_s, 3),
                "span": span,
                "cpu_s": round(cycle_cpu, 3),
                "phases": _phases(phases, requests, journal),
                "requests": {
                    "total": requests.total,
                    "by_endpoint": requests.by_endpoint(),
                    "mean_latency_ms": round(requests.mean_latency_s * 1000, 2),
                    "peak_in_flight": requests.peak_in_flight,
                },
                "outcome": _outcome(outcome),
                "waited": {"sleeps": sleeps.count, "seconds": round(sleeps.seconds, 3)},
                "journal_calls": journal.stats(),
                "gc": collections.as_dict(),
                # the simulator's CPU during run_day alone (its total includes the probes)
                "simulator_cpu_s": (
                    round(sim_cpu1 - sim_cpu0, 2)
                    if sim_cpu0 is not None and sim_cpu1 is not None
                    else None
                ),
            }
            if profile_dir:
                result["profile"] = profile.as_dict()
            elif config.get("probe", True):
                phases.enter("probe")
                ids = sorted({r.account_id for r in outcome.plan.rows})
                count = config.get("probe_requests", PROBE_REQUESTS)
                result["http_probe"] = await _probes(client, sim, ids, concurrency, count)
    return result


async def _probes(
    client: ClearStreetClient,
    sim: dict[str, Any],
    account_ids: list[int],
    concurrency: int,
    count: int,
) -> dict[str, Any]:
    """The probes, ``PROBE_ROUNDS`` times in turn; the least CPU of each (what other load
    on the machine adds can only raise a figure)."""
    one_pool = _one_pool_client(sim, concurrency)
    seen: dict[str, list[float]] = {"as_installed": [], "with_sniffio": [], "one_pool": []}
    try:
        for _ in range(PROBE_ROUNDS):
            seen["as_installed"].append(await _probe(client, account_ids, concurrency, count))
            seen["one_pool"].append(await _probe(one_pool, account_ids, concurrency, count))
            with _sniffio_importable():
                seen["with_sniffio"].append(await _probe(client, account_ids, concurrency, count))
    finally:
        await one_pool.aclose()
    calls = await _count_sniffing(client, account_ids, concurrency, count)
    failed_import_us = _failed_import_us()
    return {
        "requests": count,
        "rounds": PROBE_ROUNDS,
        "concurrency": concurrency,
        "as_installed_ms": min(seen["as_installed"]),
        "with_sniffio_ms": min(seen["with_sniffio"]),
        "one_pool_ms": min(seen["one_pool"]),
        "sniff_calls_per_request": calls,
        "failed_sniffio_import_us": failed_import_us,
        "sniffio_cost_ms": round(calls * failed_import_us / 1000, 3),
        "all_ms": seen,
    }


def _one_pool_client(sim: dict[str, Any], concurrency: int) -> ClearStreetClient:
    """A client like the daemon's whose requests all share one transport (the client's
    own kind) of ``concurrency`` connections: one connection pool, the layout before
    9eea17a."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return ClearStreetClient(
        base_url=sim["base_url"],
        api_key=SecretStr(sim["token"]),
        concurrency=concurrency,
        transport=AsyncioTransport(limits=limits),
    )


async def _count_sniffing(
    client: ClearStreetClient, account_ids: list[int], concurrency: int, count: int
) -> float:
    """How often httpcore asks ``current_async_library()`` per request (it tries
    ``import sniffio`` each time)."""
    original = httpcore_sync.current_async_library
    calls = 0

    def counted() -> str:
        nonlocal calls
        calls += 1
        return original()

    httpcore_sync.current_async_library = counted
    try:
        await _probe(client, account_ids, concurrency, count)
    finally:
        httpcore_sync.current_async_library = original
    return round(calls / count, 2)


def _failed_import_us(repeat: int = 5, number: int = 200) -> float:
    """Microseconds one failing ``import sniffio`` takes here (the least of ``repeat``)."""
    if importlib.util.find_spec("sniffio") is not None:
        return 0.0
    best = float("inf")
    for _ in range(repeat):
        started = wall()
        for _ in range(number):
            with suppress(ImportError):
                __import__("sniffio")
        best = min(best, (wall() - started) / number)
    return round(best * 1e6, 1)


async def _probe(
    client: ClearStreetClient, account_ids: list[int], concurrency: int, count: int
) -> float:
    """CPU milliseconds per bare ``GET balances``, ``concurrency`` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            await client.get_balances(account_ids[i % len(account_ids)])

    await asyncio.gather(*(one(i) for i in range(concurrency)))  # connections open first
    started = cpu_seconds()
    await asyncio.gather(*(one(i) for i in range(count)))
    return round((cpu_seconds() - started) * 1000 / count, 3)


@contextmanager
def _sniffio_importable() -> Iterator[None]:
    """A stand-in for the ``sniffio`` package, answering "asyncio" as sniffio would."""
    if "sniffio" in sys.modules:
        yield
        return
    stand_in = types.ModuleType("sniffio")
    stand_in.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
    sys.modules["sniffio"] = stand_in
    try:
        yield
    finally:
        del sys.modules["sniffio"]


def _phases(phases: Phases, requests: Requests, journal: TimedJournal) -> dict[str, Any]:
    sent = requests.by_phase()
    out: dict[str, dict[str, Any]] = {}
    for name, spent in phases.summary().items():
        entry: dict[str, Any] = {k: round(v, 3) for k, v in spent.items()}
        traffic = sent.get(name, {"requests": 0, "request_s": 0.0, "endpoints": {}})
        entry["journal_cpu_s"] = round(journal.by_phase.get(name, 0.0), 3)
        if phases.deciding.get(name):
            entry["deciding_cpu_s"] = round(phases.deciding[name], 3)
        entry["requests"] = traffic["requests"]
        entry["endpoints"] = traffic["endpoints"]
        if traffic["requests"]:
            # time-averaged requests in flight: how busy the connections were
            entry["avg_in_flight"] = round(traffic["request_s"] / spent["wall_s"], 1)
            # this process's CPU per request, the journal's and deciding's taken out
            cpu = spent["cpu_s"] - journal.by_phase.get(name, 0.0) - phases.deciding.get(name, 0.0)
            entry["cpu_ms_per_request"] = round(cpu * 1000 / traffic["requests"], 2)
        out[name] = entry
    return out


def _outcome(outcome: RunOutcome) -> dict[str, Any]:
    plan = outcome.plan
    states = Counter(r.state.value for r in outcome.rows)
    instructions = plan.instructions
    return {
        "plan_rows": len(plan.rows),
        "instructions": len(instructions),
        "instruction_types": dict(Counter(r.action.value for r in instructions)),
        "manual_review": sum(1 for r in plan.rows if r.needs_review),
        "accounts": len({r.account_id for r in plan.rows}),
        "accounts_with_instructions": len({r.account_id for r in instructions}),
        "final_states": dict(states),
        "all_terminal": all(r.state.is_terminal for r in outcome.rows),
        "problems": len(outcome.problems),
        "submit_batches": outcome.submit.batches if outcome.submit else 0,
        "reconcile_polls": outcome.reconcile.polls if outcome.reconcile else 0,
    }
