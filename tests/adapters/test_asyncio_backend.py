"""``AsyncioTransport`` and its asyncio-native network backend against real peers on
127.0.0.1: plain HTTP and TLS (a trustme CA), keep-alive, and each failure raising the
httpx exception that httpx's own transport (httpcore over anyio) raises for it: the
failure tests run against both transports, so the two cannot drift apart unnoticed."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import select
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest
import trustme
from pydantic import SecretStr

from exerciser.adapters.clearstreet.asyncio_backend import READ_BUFFER_LIMIT, AsyncioStream
from exerciser.adapters.clearstreet.client import (
    ClearStreetClient,
    InstructionRequest,
    RetryPolicy,
)
from exerciser.adapters.clearstreet.pool import origin_of
from exerciser.adapters.clearstreet.transport import AsyncioTransport, Engine
from exerciser.domain.instructions import InstructionType
from exerciser.errors import BrokerAmbiguousError, BrokerProtocolError, BrokerTransientError

pytestmark = pytest.mark.anyio

LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)
SHORT = 0.1  # seconds: the one timeout these tests wait out
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'

# What the peer does with one connection: reads requests and answers them.
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Peer:
    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head (the tests send no bodies but the write-timeout one)."""
    return await reader.readuntil(b"\r\n\r\n")


@asynccontextmanager
async def peer(serve: Serve, tls: ssl.SSLContext | None = None) -> AsyncIterator[Peer]:
    state = Peer(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.writers.append(writer)
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        for writer in state.writers:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


def keep_alive(state: list[bytes] | None = None) -> Serve:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            if state is not None:
                state.append(request)
            writer.write(OK)
            await writer.drain()

    return serve


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class Exchanging(httpx.AsyncBaseTransport):
    """Our transport's ``exchange`` (the client's path, without httpx's models) behind
    httpx's interface, so that the failure tests below run through it too."""

    def __init__(self, limits: httpx.Limits = LIMITS) -> None:
        self._inner = AsyncioTransport(limits=limits, engine="pool")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reply = await self._inner.exchange(
            origin_of(request.url),
            request.method,
            request.url.raw_path,
            headers=request.headers.raw,
            content=await request.aread(),
            timeouts=request.extensions["timeout"],
        )
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    async def aclose(self) -> None:
        await self._inner.aclose()


TRANSPORTS = [
    pytest.param(lambda: AsyncioTransport(limits=LIMITS, engine="pool"), id="our-pool"),
    pytest.param(Exchanging, id="our-pool-exchange"),
    pytest.param(lambda: AsyncioTransport(limits=LIMITS, engine="httpcore"), id="httpcore-pool"),
    pytest.param(lambda: httpx.AsyncHTTPTransport(limits=LIMITS), id="httpx-anyio"),
]
ENGINES = [pytest.param("pool", id="our-pool"), pytest.param("httpcore", id="httpcore-pool")]


def http(
    transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, timeout=timeout or httpx.Timeout(5.0))


# ------------------------------------------------------------------ the happy paths


@pytest.mark.parametrize("engine", ENGINES)
async def test_plain_requests_reuse_one_keep_alive_connection(engine: Engine) -> None:
    seen: list[bytes] = []
    transport = AsyncioTransport(limits=LIMITS, engine=engine)
    async with peer(keep_alive(seen)) as server, http(transport) as client:
        url = f"http://127.0.0.1:{server.port}/v1/accounts/1/balances"
        replies = [await client.get(url) for _ in range(3)]
        stream = replies[0].extensions["network_stream"]
        local = stream.get_extra_info("client_addr")
        assert [r.json() for r in replies] == [{"ok": True}] * 3
        assert server.connections == 1
        assert seen[0].startswith(b"GET /v1/accounts/1/balances HTTP/1.1\r\n")
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
        assert stream.get_extra_info("socket").getsockname() == local
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("no such thing") is None


@pytest.mark.parametrize("engine", ENGINES)
async def test_tls_verifies_the_peer_and_names_the_host(
    engine: Engine, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    transport = AsyncioTransport(limits=LIMITS, ssl_context=client_tls, engine=engine)
    async with peer(keep_alive(), tls=server_tls) as server, http(transport) as client:
        first = await client.get(f"https://localhost:{server.port}/")
        second = await client.get(f"https://localhost:{server.port}/")
        ssl_object = first.extensions["network_stream"].get_extra_info("ssl_object")
        assert (first.json(), second.json()) == ({"ok": True}, {"ok": True})
        assert server.connections == 1
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.server_hostname == "localhost"
        assert ssl_object.getpeercert()["subjectAltName"] == (
            ("IP Address", "127.0.0.1"),
            ("DNS", "localhost"),
        )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_bodies_larger_than_the_buffers_arrive_whole_both_ways(
    tls: bool, engine: Engine, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    """4 MiB up and back: the write waits for the socket to drain, the read side pauses
    the socket above its buffer limit and resumes as httpcore reads."""
    body = bytes(range(256)) * (16 * 1024)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received = await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length + received)
        await writer.drain()
        await reader.read()

    transport = AsyncioTransport(limits=LIMITS, ssl_context=client_tls, engine=engine)
    async with peer(echo, tls=server_tls if tls else None) as server, http(transport) as client:
        scheme = "https" if tls else "http"
        reply = await client.post(f"{scheme}://localhost:{server.port}/", content=body)
        assert reply.content == body


class RecordingTransport(asyncio.Transport):
    """Records the flow control the stream asks of its transport."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.calls.append(f"limits {high}")

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


async def test_a_reply_nobody_reads_stops_the_socket_reading_until_it_is_read() -> None:
    stream = AsyncioStream(asyncio.get_running_loop())
    transport = RecordingTransport()
    stream.connection_made(transport)
    chunk = b"x" * (64 * 1024)
    assert READ_BUFFER_LIMIT == 256 * 1024
    for _ in range(5):  # 320 KiB arrive
        stream.data_received(chunk)
    assert transport.calls == ["limits 0", "pause"]
    assert await stream.read(64 * 1024) == chunk  # 256 KiB left: still paused
    assert transport.calls == ["limits 0", "pause"]
    assert await stream.read(128 * 1024) == chunk * 2  # 128 KiB left: half the limit
    assert transport.calls == ["limits 0", "pause", "resume"]
    assert stream.get_extra_info("is_readable") is True
    assert await stream.read(1024 * 1024) == chunk * 2
    assert stream.get_extra_info("is_readable") is False


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_peer_closing_an_idle_connection_is_noticed_and_the_next_request_reconnects(
    engine: Engine,
) -> None:
    transport = AsyncioTransport(limits=LIMITS, engine=engine)
    async with peer(keep_alive()) as server, http(transport) as client:
        url = f"http://127.0.0.1:{server.port}/"
        first = await client.get(url)
        stream = first.extensions["network_stream"]
        assert stream.get_extra_info("is_readable") is False  # idle and open
        server.writers[0].close()  # the server drops the idle keep-alive connection
        await server.writers[0].wait_closed()  # its socket is closed: the FIN is sent
        # Block until the kernel has the FIN (at most 5 s; no fixed wait), then let the
        # loop's next poll hand it to the stream.
        readable, _, _ = select.select([stream.get_extra_info("socket").fileno()], [], [], 5)
        assert readable
        for _ in range(10):
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0)
        assert stream.get_extra_info("is_readable") is True
        second = await client.get(url)
        assert second.json() == {"ok": True}
        assert server.connections == 2


# ------------------------------------------------ failures, as httpx's own transport


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_refused_connection_is_a_connect_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    with socket.socket() as bound:  # bound, not listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        async with http(make()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_never_answers_is_a_read_timeout(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()  # until the client hangs up

    async with peer(silent) as server, http(make(), httpx.Timeout(5.0, read=SHORT)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"http://127.0.0.1:{server.port}/")
        assert server.connections == 1


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_never_reads_a_large_body_is_a_write_timeout(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.wait_closed()

    body = b"x" * (32 * 1024 * 1024)  # beyond what both sockets' buffers hold (Linux: ~10 MB)
    async with peer(deaf) as server, http(make(), httpx.Timeout(5.0, write=SHORT)) as client:
        with pytest.raises(httpx.WriteTimeout):
            await client.post(f"http://127.0.0.1:{server.port}/", content=body)


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_closes_mid_reply_is_a_remote_protocol_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()  # then the handler returns and the peer closes

    async with peer(truncated) as server, http(make()) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.get(f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_resets_mid_reply_is_a_read_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # closing with a zero linger sends RST

    async with peer(reset) as server, http(make()) as client:
        with pytest.raises(httpx.ReadError):
            await client.get(f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_resets_before_replying_is_a_read_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with peer(reset) as server, http(make()) as client:
        with pytest.raises(httpx.ReadError):
            await client.get(f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_certificate_from_an_unknown_ca_is_a_connect_error(
    make: Callable[[], httpx.AsyncBaseTransport], server_tls: ssl.SSLContext
) -> None:
    async with peer(keep_alive(), tls=server_tls) as server, http(make()) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://localhost:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_peer_that_hangs_up_in_the_tls_handshake_is_a_connect_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello begins; no answer

    async with peer(hang_up) as server, http(make()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"https://localhost:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_reply_that_is_not_http_is_a_remote_protocol_error(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await reader.read()

    async with peer(garbage) as server, http(make()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"http://127.0.0.1:{server.port}/")


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_reused_connection_the_peer_closes_unanswered_fails_without_a_retry(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    """The keep-alive race: the second request goes out on the kept connection and the
    peer closes it without a word. Not retried (it may be a POST the peer acted on)."""
    seen: list[bytes] = []

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(OK)
        await writer.drain()
        seen.append(await read_request(reader))  # then close, unanswered

    async with peer(once) as server, http(make()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert (await client.get(url)).json() == {"ok": True}
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post(url, content=b"{}")
        assert (server.connections, len(seen)) == (1, 2)


@pytest.mark.parametrize("make", TRANSPORTS)
async def test_a_url_that_is_not_http_is_an_unsupported_protocol(
    make: Callable[[], httpx.AsyncBaseTransport],
) -> None:
    transport = make()
    try:
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))
    finally:
        await transport.aclose()


# ------------------------------------------------------ our pool's connections


def our_transport(limits: httpx.Limits = LIMITS) -> AsyncioTransport:
    return AsyncioTransport(limits=limits, engine="pool")


Ours = Callable[..., httpx.AsyncBaseTransport]


@pytest.fixture(params=["handle", "exchange"])
def ours(request: pytest.FixtureRequest) -> Ours:
    """Our pool, through httpx's interface (``handle``) or through the client's
    (``exchange``, whole replies): the tests of whole replies run both ways."""
    return our_transport if request.param == "handle" else Exchanging


async def test_keep_alive_reuses_as_many_connections_as_requests_ran_at_once(ours: Ours) -> None:
    seen: list[bytes] = []
    async with peer(keep_alive(seen)) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(5):
            assert (await client.get(url)).json() == {"ok": True}
        assert server.connections == 1
        for _ in range(3):  # four at a time: four connections, kept and reused
            replies = await asyncio.gather(*(client.get(url) for _ in range(4)))
            assert [r.json() for r in replies] == [{"ok": True}] * 4
        assert (server.connections, len(seen)) == (4, 17)


async def test_requests_beyond_the_limit_wait_for_a_connection_then_time_out() -> None:
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=SHORT)
    async with peer(keep_alive()) as server, http(our_transport(limits), timeout) as client:
        url = f"http://127.0.0.1:{server.port}/"
        first = await client.send(client.build_request("GET", url), stream=True)
        with pytest.raises(httpx.PoolTimeout):  # the one connection is still in use
            await client.get(url)
        waiting = asyncio.create_task(client.get(url, timeout=httpx.Timeout(5.0)))
        await asyncio.sleep(0)  # no time passes: the task reaches the pool and waits
        assert not waiting.done()
        await first.aread()  # read to the end and closed: the connection is free
        assert (await waiting).json() == {"ok": True}
        assert server.connections == 1


async def test_an_exchange_beyond_the_limit_waits_for_a_connection_then_times_out() -> None:
    """``exchange`` holds its connection until the reply is whole: a request beyond the
    limit meanwhile waits in the pool, and times out there."""
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            arrived.set()
            await answer.wait()
            writer.write(OK)
            await writer.drain()

    limits = httpx.Limits(max_connections=1)
    async with peer(held) as server, http(Exchanging(limits)) as client:
        url = f"http://127.0.0.1:{server.port}/"
        first = asyncio.create_task(client.get(url))
        await arrived.wait()  # the first request has the one connection
        with pytest.raises(httpx.PoolTimeout):
            await client.get(url, timeout=httpx.Timeout(5.0, pool=SHORT))
        answer.set()
        assert (await first).json() == {"ok": True}
        assert (await client.get(url)).json() == {"ok": True}
        assert server.connections == 1


async def test_a_request_cancelled_mid_reply_frees_its_connection_slot(ours: Ours) -> None:
    sent = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        sent.set()
        await reader.read()  # never answers

    limits = httpx.Limits(max_connections=1)
    async with peer(slow) as server, http(ours(limits)) as client:
        url = f"http://127.0.0.1:{server.port}/"
        task = asyncio.create_task(client.get(url))
        await sent.wait()  # the request is out: the client waits for the reply
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(httpx.ReadTimeout):  # it got the slot, on a new connection
            await client.get(url, timeout=httpx.Timeout(5.0, read=SHORT))
        assert server.connections == 2


async def test_an_idle_connection_past_keepalive_expiry_is_closed_not_reused(ours: Ours) -> None:
    """An expiry of 0: every idle connection has expired by the next request."""
    closed: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        closed.put_nowait(await reader.read())  # b"" once the client closes it

    limits = httpx.Limits(max_connections=4, keepalive_expiry=0)
    async with peer(serve) as server, http(ours(limits)) as client:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(3):
            assert (await client.get(url)).json() == {"ok": True}
        assert server.connections == 3
        # The two expired ones were closed (the last is idle, still open).
        assert [await closed.get(), await closed.get()] == [b"", b""]
        assert closed.empty()


async def test_an_idle_connection_the_peer_wrote_to_is_closed_not_reused(ours: Ours) -> None:
    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK + b"HTTP/1.1 200 OK\r\n")  # and the start of a reply nobody asked for
        await writer.drain()
        await read_request(reader)
        writer.write(OK)

    async with peer(chatty) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        # The extra bytes come with the reply (the reader holds them) or just after it (the
        # stream does, and is readable): either way the connection is not reused.
        assert (await client.get(url)).json() == {"ok": True}
        assert (await client.get(url)).json() == {"ok": True}
        assert server.connections == 2


async def test_a_reply_closed_before_its_end_closes_its_connection() -> None:
    body = b"x" * 100_000
    seen: list[bytes] = []

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()

    async with peer(big) as server, http(our_transport()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        async with client.stream("GET", url) as reply:
            async for part in reply.aiter_raw():
                assert part
                break  # the rest is left unread
        assert (await client.get(url)).content == body
        assert (await client.get(url)).content == body
        assert (server.connections, len(seen)) == (2, 3)


async def test_replies_without_bodies_leave_the_connection_reusable(ours: Ours) -> None:
    """204, 304 and a reply to HEAD carry no body whatever their headers say."""
    replies = [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 11\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",  # to the HEAD
        OK,
    ]

    async def bodiless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_request(reader)
            writer.write(reply)
            await writer.drain()
        await reader.read()

    async with peer(bodiless) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        got = [
            await client.delete(url),
            await client.get(url),
            await client.head(url),
            await client.get(url),
        ]
        assert [(r.status_code, r.content) for r in got] == [
            (204, b""),
            (304, b""),
            (200, b""),
            (200, b'{"ok":true}'),
        ]
        assert got[2].headers["content-length"] == "11"
        assert server.connections == 1


async def test_a_chunked_reply_arrives_whole_and_the_connection_is_reused(ours: Ours) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b'{"ok"', b":", b"true}"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")

    async with peer(chunked) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert [(await client.get(url)).json() for _ in range(2)] == [{"ok": True}] * 2
        assert server.connections == 1


async def test_a_chunked_request_body_is_framed_for_the_peer() -> None:
    received: list[bytes] = []

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        assert b"transfer-encoding: chunked" in head.lower()
        received.append(await reader.readuntil(b"0\r\n\r\n"))
        writer.write(OK)
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cde"

    async with peer(sink) as server, http(our_transport()) as client:
        reply = await client.post(f"http://127.0.0.1:{server.port}/", content=parts())
        assert reply.json() == {"ok": True}
        assert received == [b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"]


async def test_a_reply_saying_connection_close_is_not_reused(ours: Ours) -> None:
    closing = OK.replace(b"Content-Type", b"Connection: close\r\nContent-Type")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(closing)
        await writer.drain()
        await reader.read()  # the server leaves it to the client to close

    async with peer(serve) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert [(await client.get(url)).json() for _ in range(2)] == [{"ok": True}] * 2
        assert server.connections == 2


async def test_a_reply_framed_by_the_end_of_the_connection_arrives_whole(ours: Ours) -> None:
    """No Content-Length, no chunks: the body runs to the peer's close (HTTP/1.0 style),
    and the connection is not reused."""

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}')
        await writer.drain()  # then the handler returns and the peer closes

    async with peer(until_close) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        assert [(await client.get(url)).json() for _ in range(2)] == [{"ok": True}] * 2
        assert server.connections == 2


async def test_a_connection_that_timed_out_is_not_reused(ours: Ours) -> None:
    answered: list[bool] = []

    async def once_slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            if answered:
                writer.write(OK)
                await writer.drain()
            answered.append(True)  # the first request is never answered

    async with peer(once_slow) as server, http(ours()) as client:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(httpx.ReadTimeout):
            await client.get(url, timeout=httpx.Timeout(5.0, read=SHORT))
        assert (await client.get(url)).json() == {"ok": True}
        assert server.connections == 2


# --------------------------------------------------------- the client's default


async def test_the_client_verifies_tls_against_the_public_cas_by_default(
    server_tls: ssl.SSLContext,
) -> None:
    async with peer(keep_alive(), tls=server_tls) as server:
        client = ClearStreetClient(
            base_url=f"https://localhost:{server.port}",
            api_key=SecretStr("k"),
            retry=RetryPolicy(attempts=1),
        )
        async with client:
            with pytest.raises(BrokerTransientError, match="could not connect") as caught:
                await client.get_balances(1)
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.__cause__)


class Through(httpx.AsyncBaseTransport):
    """Our transport behind httpx's interface only: the client sends it httpx requests."""

    def __init__(self) -> None:
        self._inner = AsyncioTransport(limits=LIMITS, engine="pool")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def read_whole_request(reader: asyncio.StreamReader) -> bytes:
    head = await read_request(reader)
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    return head + await reader.readexactly(length)


@pytest.mark.parametrize("prefix", ["", "/api/v2"])
async def test_the_client_sends_the_same_bytes_with_or_without_httpx_models(prefix: str) -> None:
    """The client asks its own pool for whole replies without building httpx requests;
    what goes on the wire must be what an httpx request would have put there."""
    seen: list[bytes] = []
    empty = b'{"data":[],"metadata":{"request_id":"r-1"},"error":null}'

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_whole_request(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(empty), empty))
            await writer.drain()

    sent: list[list[bytes]] = []
    async with peer(record) as server:
        for transport in (None, Through()):
            client = ClearStreetClient(
                base_url=f"http://127.0.0.1:{server.port}{prefix}",
                api_key=SecretStr("k-1"),
                transport=transport,
                retry=RetryPolicy(attempts=1),
            )
            async with client:
                assert all(t is not None for t in client._exchanging) is (transport is None)
                await client.get_option_contracts(
                    ["AAPL  261120C00190000", "MSFT  261120P00400000"]
                )
                await client.submit_instructions(
                    7,
                    [
                        InstructionRequest(
                            instruction_id="xr-1",
                            instruction_type=InstructionType.DO_NOT_EXERCISE,
                            instrument_id="AAPL  261120C00190000",
                            quantity=Decimal(3),
                        )
                    ],
                )
                with contextlib.suppress(BrokerAmbiguousError):  # the reply has no instruction
                    await client.cancel_instruction(7, "s/1")
            sent.append(seen[:])
            seen.clear()
            assert server.connections == len(sent)  # one kept-alive connection each
    direct, through = sent
    assert len(direct) == 3
    assert direct == through
    assert direct[0].startswith(f"GET {prefix}/v1/instruments/options/contracts?".encode())
    assert b"\r\nHost: 127.0.0.1:" in direct[0]
    assert direct[1].endswith(b'"quantity": "3"}]')
    assert direct[2].startswith(
        f"DELETE {prefix}/v1/accounts/7/positions/instructions/s%2F1 ".encode()
    )


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_the_client_reads_compressed_replies_through_its_own_pool(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = compress(b'{"data":{"account_id":7,"buying_power":"1000.50"},"metadata":{}}')
    broken = b"not " + encoding.encode()

    def serve(payload: bytes) -> Serve:
        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await read_request(reader)
                head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n"
                writer.write(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()

        return reply

    for payload, fine in ((body, True), (broken, False)):
        async with peer(serve(payload)) as server:
            client = ClearStreetClient(
                base_url=f"http://127.0.0.1:{server.port}",
                api_key=SecretStr("k"),
                retry=RetryPolicy(attempts=1),
            )
            async with client:
                if fine:
                    assert (await client.get_balances(7)).buying_power == Decimal("1000.50")
                    continue
                with pytest.raises(BrokerProtocolError, match="unreadable reply") as caught:
                    await client.get_balances(7)
                assert isinstance(caught.value.__cause__, httpx.DecodingError)
