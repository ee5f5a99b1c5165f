"""CPU per bare request of the client's HTTP stack: httpcore over anyio, httpcore's pool
over ``AsyncioBackend``, and our h11 pool over ``AsyncioBackend``:
``python3 -m uv run --locked python -m bench.http_backend`` (about a minute a 7 rounds;
``--rounds``, ``--requests``).

The simulator serves the benchmark's 200-account book (``bench.book``, L = 20 ms) in a
process of its own; both clients are ``ClearStreetClient`` at concurrency 32 (four pools
of 8, as the daemon runs it): one with httpx's own ``AsyncHTTPTransport`` in each pool,
and one for each engine of ``AsyncioTransport`` (``engine="httpcore"`` and ``"h11"``).
Each round sends ``--requests`` bare ``GET balances`` through each client in turn, 32 in
flight, after one warm-up round that opens the connections, and takes the process's CPU
seconds per request. The rounds alternate, so what other load on the machine adds falls
on both; the least of each is the figure, the range is printed with it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.book import BookSpec
from bench.procs import simulator
from bench.usage import cpu_seconds
from exerciser.adapters.clearstreet import client as client_module
from exerciser.adapters.clearstreet.client import ClearStreetClient
from exerciser.adapters.clearstreet.transport import AsyncioTransport, Engine

CONCURRENCY = 32


def _httpx_transport(*, limits: httpx.Limits, **_: Any) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(limits=limits)


def _engine(engine: Engine) -> Callable[..., httpx.AsyncBaseTransport]:
    def transport(**kwargs: Any) -> httpx.AsyncBaseTransport:
        return AsyncioTransport(engine=engine, **kwargs)

    return transport


@contextmanager
def _transports(make: Callable[..., httpx.AsyncBaseTransport]) -> Iterator[None]:
    """While building a client: each pool gets the transport ``make`` builds."""
    original = client_module.AsyncioTransport
    client_module.AsyncioTransport = make  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        client_module.AsyncioTransport = original  # type: ignore[misc]


async def _round(client: ClearStreetClient, ids: list[int], count: int) -> float:
    """CPU milliseconds per bare ``GET balances``, ``CONCURRENCY`` at a time."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            await client.get_balances(ids[i % len(ids)])

    started = cpu_seconds()
    await asyncio.gather(*(one(i) for i in range(count)))
    return (cpu_seconds() - started) * 1000 / count


async def main(sim: dict[str, Any], ids: list[int], rounds: int, count: int) -> None:
    def make() -> ClearStreetClient:
        return ClearStreetClient(
            base_url=sim["base_url"], api_key=SecretStr(sim["token"]), concurrency=CONCURRENCY
        )

    makers = {
        "httpx transport (anyio)": _httpx_transport,
        "httpcore pool + asyncio": _engine("httpcore"),
        "h11 pool + asyncio": _engine("h11"),
    }
    clients = {}
    for name, maker in makers.items():
        with _transports(maker):
            clients[name] = make()
    seen: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for client in clients.values():
            await _round(client, ids, CONCURRENCY * 4)  # warm-up: connections open
        for _ in range(rounds):
            for name, client in clients.items():
                seen[name].append(await _round(client, ids, count))
    finally:
        for client in clients.values():
            await client.aclose()
    print(f"bare GET balances, {count} requests a round, {CONCURRENCY} in flight, {rounds} rounds")
    for name, figures in seen.items():
        print(
            f"{name:24s} {min(figures):6.3f} ms CPU a request (least; "
            f"range {min(figures):.3f}-{max(figures):.3f}; "
            f"rounds {', '.join(f'{f:.3f}' for f in figures)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.http_backend")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    spec = BookSpec(accounts=200)
    with tempfile.TemporaryDirectory() as work, simulator(spec, Path(work), "http") as sim:
        asyncio.run(main(sim, spec.account_ids(), args.rounds, args.requests))
