"""CPU per request of the ports against the real simulator over loopback, next to a bare
httpx GET of the same reply: ``python3 -m uv run --locked python -m bench.wire_loopback``
(about a minute).

The simulator serves the benchmark's 200-account book (``bench.book``, L = 20 ms) in a
process of its own (``bench.procs.simulator``); the client has 32 connections in pools
of 8, as the daemon runs it. Each figure is CPU seconds (``process_time``) over all the
calls of a round, 32 in flight, per call: the least of 9 rounds, since the machine is
shared. "bare GET" goes through the client's own transports with nothing parsed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.book import BookSpec
from bench.procs import simulator
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient

ROUNDS = 9


async def cpu_per_call(calls: Sequence[Any], make: Callable[[Any], Awaitable[object]]) -> float:
    slots = asyncio.Semaphore(32)

    async def one(arg: Any) -> None:
        async with slots:
            await make(arg)

    start = time.process_time()
    await asyncio.gather(*(one(arg) for arg in calls))
    return (time.process_time() - start) / len(calls) * 1000


async def main(sim: dict[str, Any], ids: list[int]) -> None:
    async with ClearStreetClient(
        base_url=sim["base_url"], api_key=SecretStr(sim["token"]), concurrency=32
    ) as client:
        source = ClearStreetBookSource(client)
        transports = client._transports
        pool_slots = [asyncio.Semaphore(8) for _ in transports]
        sent = [0]

        async def bare(path: str, params: dict[str, Any] | None = None) -> bytes:
            sent[0] += 1
            shard = sent[0] % len(transports)
            request = httpx.Request(
                "GET",
                f"{sim['base_url']}{path}",
                params=params,
                headers=client._headers,
                extensions={"timeout": client._timeouts},
            )
            async with pool_slots[shard]:
                response = await transports[shard].handle_async_request(request)
                body = await response.aread()
                await response.aclose()
            assert response.status_code == 200
            return body

        held = [p for i in ids for p in await source.positions(i)]
        options = sorted({p.instrument_id for p in held if p.is_option})
        chunks = [options[i : i + 100] for i in range(0, len(options), 100)] * 5
        cases: list[tuple[str, Sequence[Any], Callable[[Any], Awaitable[object]]]] = [
            ("bare GET positions", ids, lambda i: bare(f"/v1/accounts/{i}/positions")),
            ("port positions", ids, source.positions),
            ("bare GET balances", ids, lambda i: bare(f"/v1/accounts/{i}/balances")),
            ("port buying_power", ids, source.buying_power),
            (
                "bare GET contracts",
                chunks,
                lambda c: bare("/v1/instruments/options/contracts", {"contract_ids": ",".join(c)}),
            ),
            ("port contracts", chunks, source.contracts),
        ]
        least: dict[str, float] = {}
        for _ in range(ROUNDS):
            for name, calls, make in cases:
                least[name] = min(least.get(name, float("inf")), await cpu_per_call(calls, make))
    print(f"{len(held) // len(ids)} positions an account, {len(options)} option contracts")
    for name, ms in least.items():
        print(f"{name:22s} {ms:6.3f} ms CPU a request")


if __name__ == "__main__":
    spec = BookSpec(accounts=200)
    with tempfile.TemporaryDirectory() as work, simulator(spec, Path(work), "loopback") as sim:
        asyncio.run(main(sim, spec.account_ids()))
