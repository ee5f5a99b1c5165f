"""A small HTTP/1.1 connection pool: the engine of ``AsyncioTransport``.

Why: with the asyncio-native network backend (``asyncio_backend.py``) under it, most of
the CPU left in a bare request was httpcore's pool and connection layers, not HTTP:
``_assign_requests_to_connections`` runs about four times a request and each run asks
every connection ``is_idle()`` in a quadratic list comprehension (encode/httpcore#1035)
and ``has_expired()``; and every request takes anyio locks, events and cancel scopes
(``httpcore._synchronization``) and asks sniffio which loop is running. This pool does
what the client needs and no more: one origin's keep-alive connections in a LIFO idle
list, a plain ``asyncio.Semaphore`` for ``max_connections``, and for the protocol
``http11.py`` (h11 until the change that brought that module; why, there).

Measured on the 2-core development machine (shared, so CPU seconds, least of interleaved
rounds): ``python -m bench.http_backend --rounds 9``, bare ``GET balances`` through
``ClearStreetClient`` at 32 connections (four pools of 8) against the simulator, 1,000
requests a round, in two runs: 0.662 and 0.809 ms CPU a request with httpcore's pool over
the same backend (ranges 0.662-0.872 and 0.809-0.959), 0.426 and 0.569 ms with this one
(0.426-0.599 and 0.569-0.626), about 30 % less, lower in every round. The cycle of
``python -m bench --quick`` (200 accounts, 1,023 requests), runs alternating with the
code before: 2.69, 3.06 and 2.73 s of CPU before, 2.20, 2.07 and 2.02 s after; the full
cycle (``python -m bench``, 2,000 accounts, 10,027 requests), the same way: 23.9 and
26.6 s before, 22.3 and 19.0 s after (a noisy machine: its bare-GET probe read 0.91-0.98
ms before and 0.57-0.60 ms after). What was
left of a bare request was mostly h11's own work and httpx's (its URL parsing, models).

Two ways in: ``handle`` takes an ``httpx.Request`` and returns an ``httpx.Response``
whose body is still to read (the httpx transport interface), and ``exchange`` takes a
request's head and whole body and returns the whole reply, without httpx's objects (the
client's path: the bench cycle 31.33 -> 29.43 million instructions an account,
``python -m bench.instructions``; a bare GET 0.192 ms of CPU, where httpx's models over
a transport that does no HTTP at all took 0.231, ``python -m bench.http_backend``).

Behaviour kept from httpcore, so the client sees the same things:

- the timeouts of ``request.extensions["timeout"]`` (connect, read, write, pool);
- httpx's exception types: the network backend's httpcore errors are translated as
  httpx's own transport translates them (``httpx_error``); ``http11.py`` raises httpx's
  ``LocalProtocolError`` and ``RemoteProtocolError`` itself;
- a write error while sending the request is put aside and the reply read anyway (a
  server may answer early and close); a connection reused just as the server closed it
  therefore fails with ``RemoteProtocolError`` ("Server disconnected without sending a
  response.") or ``ReadError``, and is never retried here;
- a connection is reused only when both sides finished the exchange and the reply was
  framed by its headers (``Connection: close``, an HTTP/1.0 reply, a reply read to the
  end of the connection, an unread or broken reply, bytes after the reply, any error:
  it is closed);
- an idle connection whose peer closed or sent something (``is_readable``) or whose
  ``keepalive_expiry`` passed is closed, and the request goes on another one;
- TLS with ALPN ``http/1.1`` and the URL's host as server name (or the request's
  ``sni_hostname`` extension).

Not supported (nothing in the client uses them): proxies, HTTP/2, upgrades, Unix
sockets, socket options, local addresses, and httpcore's ``trace`` extension and debug
logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import NamedTuple

import httpcore
import httpx

from exerciser.adapters.clearstreet.http11 import (
    END,
    NEED_DATA,
    Event,
    Head,
    ReplyReader,
    chunk,
    request_head,
)

DEFAULT_PORTS = {b"http": 80, b"https": 443}
READ_SIZE = 64 * 1024  # as httpcore reads

# The errors the network backend raises (httpcore's), and the httpx ones httpx's
# own transport raises for them (httpx/_transports/default.py, httpcore/_exceptions.py);
# the most specific class of the error picks.
_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}

Origin = tuple[bytes, bytes, int]  # scheme, host, port
Timeouts = Mapping[str, float | None]  # connect, read, write, pool: httpx's "timeout"


class Reply(NamedTuple):
    """A whole reply, as ``Pool.exchange`` read it: the body as sent (not decoded)."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


def httpx_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx error for an httpcore one; None for anything else."""
    if isinstance(exc, httpx.TransportError):
        return exc
    for cls in type(exc).__mro__:
        mapped = _ERRORS.get(cls)
        if mapped is not None:
            return mapped(str(exc))
    return None


class _Connection:
    """One HTTP/1.1 connection: a network stream, and the reader of its current reply."""

    __slots__ = ("done_sending", "idle_until", "origin", "reader", "stream")

    def __init__(self, origin: Origin, stream: httpcore.AsyncNetworkStream) -> None:
        self.origin = origin
        self.stream = stream
        self.reader = ReplyReader("GET")
        self.done_sending = False  # the whole request went out, and may be followed
        self.idle_until = 0.0  # loop time after which an idle connection is not reused

    async def send(self, request: httpx.Request, timeout: float | None) -> None:
        """The request's head and body; a body of one chunk goes in the head's write."""
        self.reader = ReplyReader(request.method)
        self.done_sending = False
        raw = request.headers.raw
        pending = request_head(request.method, request.url.raw_path, raw)
        chunked, declared, closing = _request_framing(raw)
        sent = 0
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for part in request.stream:
            if part:
                sent += len(part)
                await self.stream.write(pending + (chunk(part) if chunked else part), timeout)
                pending = b""
        if declared is not None and sent != declared:
            raise httpx.LocalProtocolError("the body does not match its Content-Length")
        await self.stream.write(pending + chunk(b"") if chunked else pending, timeout)
        self.done_sending = not closing

    async def send_whole(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        timeout: float | None,
    ) -> None:
        """A request whose body is in hand, framed by its Content-Length: head and body
        in one write."""
        self.reader = ReplyReader(method)
        self.done_sending = False
        chunked, declared, closing = _request_framing(headers)
        if chunked or (declared or 0) != len(content):
            raise httpx.LocalProtocolError("the body does not match its Content-Length")
        await self.stream.write(request_head(method, target, headers) + content, timeout)
        self.done_sending = not closing

    async def next_event(self, timeout: float | None) -> Event:
        """The reply's next event, reading from the stream as the reader needs."""
        reader = self.reader
        while (event := reader.next_event()) is NEED_DATA:
            reader.feed(await self.stream.read(READ_SIZE, timeout))  # b"": the peer closed
        return event

    async def receive_head(self, timeout: float | None) -> Head:
        event = await self.next_event(timeout)
        assert isinstance(event, Head)  # a reader's first event (1xx are skipped)
        return event

    def reusable(self) -> bool:
        """Both sides finished the exchange, and the peer sent nothing after its reply."""
        return self.done_sending and self.reader.reusable


def _request_framing(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None, bool]:
    """Whether a request's body is chunked, the length it declares, and whether it asks
    for the connection to be closed after it."""
    chunked, declared, closing = False, None, False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            declared = int(value) if value.isdigit() else None
        elif lowered == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
        elif lowered == b"connection":
            closing = any(t.strip().lower() == b"close" for t in value.split(b","))
    return chunked, declared, closing


class Pool:
    """At most ``max_connections`` HTTP/1.1 connections, idle ones kept for reuse."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore.AsyncNetworkBackend,
        max_connections: int | None,
        max_keepalive_connections: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        ssl_context.set_alpn_protocols(["http/1.1"])  # as httpcore does without HTTP/2
        self._ssl_context = ssl_context
        self._backend = network_backend
        self._max_connections = max_connections or 2**31
        self._max_idle = self._max_connections
        if max_keepalive_connections is not None:
            self._max_idle = min(max_keepalive_connections, self._max_connections)
        self._keepalive_expiry = keepalive_expiry
        # One slot a request from the moment it has a connection until its reply is
        # closed, so at most max_connections are in use; more requests wait here.
        self._slots = asyncio.Semaphore(self._max_connections)
        self._idle: list[_Connection] = []  # oldest first; reused from the end
        self._open: set[_Connection] = set()  # idle and in use
        self._closed = False

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the reply with its body still to read."""
        origin = origin_of(request.url)
        timeouts = request.extensions.get("timeout", {})
        await self._acquire(timeouts.get("pool"))
        connection: _Connection | None = None
        try:
            sni = request.extensions.get("sni_hostname")
            connection = await self._connection(origin, sni, timeouts.get("connect"))
            # A write error is put aside: the reply may still come (an early answer).
            with contextlib.suppress(httpcore.WriteError):
                await connection.send(request, timeouts.get("write"))
            head = await connection.receive_head(timeouts.get("read"))
        except BaseException as exc:  # cancellation too: the connection is in an unknown state
            error = await self._failed(connection, exc)
            if error is exc:
                raise
            raise error from exc
        return httpx.Response(
            status_code=head.status,
            headers=head.headers,
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={
                "http_version": head.http_version,
                "reason_phrase": head.reason,
                "network_stream": connection.stream,
            },
        )

    async def exchange(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        *,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        timeouts: Timeouts,
    ) -> Reply:
        """Send a request whose body is in hand and read the whole reply: ``handle`` and
        reading the body, without httpx's request and response objects (the client's
        path; ``AsyncioTransport.exchange``). ``headers`` are sent as given: Host and
        Content-Length included. The errors are ``handle``'s."""
        await self._acquire(timeouts.get("pool"))
        connection: _Connection | None = None
        try:
            connection = await self._connection(origin, None, timeouts.get("connect"))
            with contextlib.suppress(httpcore.WriteError):  # as in handle: read the reply
                await connection.send_whole(method, target, headers, content, timeouts.get("write"))
            read = timeouts.get("read")
            head = await connection.receive_head(read)
            parts = []
            while (event := await connection.next_event(read)) is not END:
                assert isinstance(event, bytes)
                parts.append(event)
        except BaseException as exc:  # as in handle
            error = await self._failed(connection, exc)
            if error is exc:
                raise
            raise error from exc
        await self._release(connection)
        return Reply(head.status, head.reason, head.headers, b"".join(parts))

    async def _failed(self, connection: _Connection | None, exc: BaseException) -> BaseException:
        """A request failed before its reply was whole, or was cancelled: its connection
        is in an unknown state, so it is closed, and its slot freed. Returns the error to
        raise: httpx's for the network backend's, else ``exc`` itself."""
        if connection is not None:
            await self._close(connection)
        self._slots.release()
        return httpx_error(exc) or exc

    async def aclose(self) -> None:
        """Close every connection, idle or in use."""
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            await self._close(connection)

    async def _acquire(self, timeout: float | None) -> None:
        if not self._slots.locked():  # the common case: no waiting, no timer
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("timed out waiting for a connection") from exc

    async def _connection(
        self, origin: Origin, sni: str | None, timeout: float | None
    ) -> _Connection:
        """The most recently used idle connection to ``origin`` that is still good, or a
        new one. Idle connections past their expiry or that the peer has closed (or sent
        something to, unasked) are closed on the way."""
        idle = self._idle
        now = asyncio.get_running_loop().time()
        while idle and idle[0].idle_until <= now:  # oldest first: expired ones lead
            await self._close(idle.pop(0))
        for i in range(len(idle) - 1, -1, -1):
            connection = idle[i]
            if connection.origin != origin:
                continue
            del idle[i]
            if connection.stream.get_extra_info("is_readable"):
                await self._close(connection)
                continue
            return connection
        if len(self._open) >= self._max_connections and idle:
            await self._close(idle.pop(0))  # room for this origin: drop another's
        return await self._connect(origin, sni, timeout)

    async def _connect(self, origin: Origin, sni: str | None, timeout: float | None) -> _Connection:
        """A new connection; TLS for https, naming ``sni`` or else the host."""
        scheme, host, port = origin
        stream = await self._backend.connect_tcp(host.decode("ascii"), port, timeout=timeout)
        if scheme == b"https":
            try:
                stream = await stream.start_tls(
                    self._ssl_context, sni or host.decode("ascii"), timeout
                )
            except BaseException:
                await stream.aclose()
                raise
        connection = _Connection(origin, stream)
        self._open.add(connection)
        return connection

    async def _release(self, connection: _Connection) -> None:
        """A reply is closed: keep its connection if both sides finished the exchange."""
        try:
            if connection.reusable() and not self._closed:
                expiry = self._keepalive_expiry
                loop_time = asyncio.get_running_loop().time()
                connection.idle_until = float("inf") if expiry is None else loop_time + expiry
                self._idle.append(connection)
                if len(self._idle) > self._max_idle:
                    await self._close(self._idle.pop(0))
            else:
                await self._close(connection)
        finally:
            self._slots.release()

    async def _close(self, connection: _Connection) -> None:
        self._open.discard(connection)
        await connection.stream.aclose()


class _Body(httpx.AsyncByteStream):
    """A reply's body, read from its connection; closing it gives the connection back."""

    def __init__(self, pool: Pool, connection: _Connection, timeout: float | None) -> None:
        self._pool = pool
        self._connection = connection
        self._timeout = timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            try:
                event = await connection.next_event(self._timeout)
            except Exception as exc:
                # httpx closes the stream after this; the exchange is unfinished, so the
                # connection is closed then.
                translated = httpx_error(exc)
                if translated is None or translated is exc:
                    raise
                raise translated from exc
            if event is END:
                return
            assert isinstance(event, bytes)  # after the head: pieces of the body, then END
            yield event

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            await self._pool._release(self._connection)


def origin_of(url: httpx.URL) -> Origin:
    scheme = url.raw_scheme
    port = DEFAULT_PORTS.get(scheme)
    if port is None:
        raise httpx.UnsupportedProtocol(
            f"Request URL has an unsupported protocol '{url.scheme}://'."
            if scheme
            else "Request URL is missing an 'http://' or 'https://' protocol."
        )
    if not url.raw_host:
        raise httpx.UnsupportedProtocol("Request URL is missing a host.")
    return scheme, url.raw_host, url.port or port
