"""CPU per bare request of the client's HTTP stack, against what a request costs with
less of the stack: ``python3 -m uv run --locked python -m bench.http_backend`` (about a
minute at 7 rounds; ``--rounds``, ``--requests``).

The simulator serves the benchmark's 200-account book (``bench.book``, L = 20 ms) in a
process of its own. Four clients are ``ClearStreetClient`` at concurrency 32 (four pools
of 8, as the daemon runs it), differing only in their transport: httpx's own
``AsyncHTTPTransport``; ``AsyncioTransport`` with ``engine="httpcore"`` and with
``engine="pool"`` (the daemon's: our pool and ``http11.py``); and a minimal one
(``_BareTransport``: httpx's request and response models kept, the pool's timeouts,
checks and network backend left out). The fifth sends with no
HTTP library at all: 32 connections of a bare ``asyncio.Protocol``, the request written
by hand, the reply's body parsed with ``json.loads``. The last two are measuring
instruments, not clients: they understand only the simulator's replies (a status line,
headers and a Content-Length body), with no timeouts and no error handling; they show
what the layers cost, the fifth what any Python client on this event loop would pay.

Each round sends ``--requests`` bare ``GET balances`` through each in turn, 32 in
flight, after one warm-up round that opens the connections, and takes the process's CPU
seconds per request. The rounds alternate, so what other load on the machine adds falls
on all; the least of each is the figure, the range is printed with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class _Bare(asyncio.Protocol):
    """One keep-alive connection that reads what the simulator sends, one exchange at a
    time: a status line, headers and a Content-Length body."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self._buffer = bytearray()
        self._head: tuple[int, list[tuple[bytes, bytes]], int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line, *lines = bytes(self._buffer[:end]).split(b"\r\n")
            del self._buffer[: end + 4]
            headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(b":") for h in lines)]
            length = next(int(v) for k, v in headers if k.lower() == b"content-length")
            self._head = (int(status_line.split()[1]), headers, length)
        status, headers, length = self._head
        if len(self._buffer) >= length and self._waiter is not None:
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
            self._head = None
            self._waiter.set_result((status, headers, body))

    async def exchange(self, data: bytes) -> Reply:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self._waiter
        finally:
            self._waiter = None


async def _connect(host: str, port: int) -> _Bare:
    _, protocol = await asyncio.get_running_loop().create_connection(_Bare, host, port)
    return protocol


class _BareTransport(httpx.AsyncBaseTransport):
    """httpx's models over ``_Bare`` connections: the request's head written by hand."""

    def __init__(self, **_: Any) -> None:
        self._idle: list[_Bare] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        connection = self._idle.pop() if self._idle else await _connect(url.host, url.port or 80)
        head = [request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        status, headers, body = await connection.exchange(b"".join(head) + request.content)
        self._idle.append(connection)
        return httpx.Response(status, headers=headers, content=body)

    async def aclose(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()


async def _without_library(
    base_url: str, token: str, ids: list[int]
) -> tuple[Callable[[int], Awaitable[float]], list[_Bare]]:
    """A round of bare ``GET balances`` over 32 ``_Bare`` connections, no HTTP library;
    and the connections, to close."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    connections = [await _connect(host, port) for _ in range(CONCURRENCY)]
    free = list(connections)

    async def one(i: int) -> None:
        connection = free.pop()  # 32 connections, 32 in flight: never empty
        try:
            request = (
                f"GET /v1/accounts/{ids[i % len(ids)]}/balances HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nAccept: application/json\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            )
            status, _, body = await connection.exchange(request.encode())
            if status != 200:
                raise RuntimeError(f"GET balances: {status} {body[:200]!r}")
            json.loads(body)
        finally:
            free.append(connection)

    async def round_(count: int) -> float:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def limited(i: int) -> None:
            async with slots:
                await one(i)

        started = cpu_seconds()
        await asyncio.gather(*(limited(i) for i in range(count)))
        return (cpu_seconds() - started) * 1000 / count

    return round_, connections


async def main(sim: dict[str, Any], ids: list[int], rounds: int, count: int) -> None:
    def make() -> ClearStreetClient:
        return ClearStreetClient(
            base_url=sim["base_url"], api_key=SecretStr(sim["token"]), concurrency=CONCURRENCY
        )

    makers = {
        "httpx transport (anyio)": _httpx_transport,
        "httpcore pool + asyncio": _engine("httpcore"),
        "our pool + asyncio": _engine("pool"),
        "httpx models, bare": _BareTransport,
    }
    clients = {}
    for name, maker in makers.items():
        with _transports(maker):
            clients[name] = make()
    contenders: dict[str, Callable[[int], Awaitable[float]]] = {
        name: (lambda n, c=client: _round(c, ids, n)) for name, client in clients.items()
    }
    bare, connections = await _without_library(sim["base_url"], sim["token"], ids)
    contenders["no HTTP library"] = bare
    seen: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for contender in contenders.values():
            await contender(CONCURRENCY * 4)  # warm-up: connections open
        for _ in range(rounds):
            for name, contender in contenders.items():
                seen[name].append(await contender(count))
    finally:
        for client in clients.values():
            await client.aclose()
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
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
