"""An httpcore network backend written directly on asyncio's transports and protocols.

httpcore's default backend on asyncio goes through anyio, which costs CPU on every
request: each read and write passes anyio's checkpoints and cancel scopes, each read
resumes and pauses the transport's reading (two ``epoll_ctl`` calls), and the pool asks
every idle connection ``is_readable`` per request, which anyio answers by rebuilding its
``extra_attributes`` dict (with a ``getpeername`` call) and polling the socket. Here one
``asyncio.Protocol`` per connection is also the stream: the loop reads into its buffer
as data arrives, so ``is_readable`` is "something is buffered, or the peer has gone",
with no system call. Figures in ``transport.py``.

Errors are those of httpcore's anyio backend, so httpx raises the same types:
connecting raises ``ConnectError``/``ConnectTimeout``, the TLS handshake the same,
``read`` raises ``ReadError``/``ReadTimeout`` and ``write`` ``WriteError``/``WriteTimeout``.
A read at the end of the stream returns ``b""``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any

import httpcore

# httpcore's own alias (httpcore._backends.base.SOCKET_OPTION), which it does not export.
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
# What httpcore may ask ``get_extra_info`` for, and the transport's name for it.
_TRANSPORT_INFO = {
    "ssl_object": "ssl_object",
    "client_addr": "sockname",
    "server_addr": "peername",
    "socket": "socket",
}

# anyio's default for connect_tcp: start the next address if one has not connected in 250 ms.
HAPPY_EYEBALLS_DELAY = 0.25
# Stop reading from the socket while this much is buffered and unread.
READ_BUFFER_LIMIT = 256 * 1024


class AsyncioStream(asyncio.Protocol, httpcore.AsyncNetworkStream):
    """One connection: the protocol asyncio feeds, and the stream httpcore reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._at_eof = False  # the peer sent EOF, or the connection is gone
        self._lost: Exception | None = None  # why the connection was lost, if not cleanly
        self._closed = False  # we closed it
        self._reading_paused = False
        self._writing_paused = False
        self._read_waiter: asyncio.Future[bool] | None = None
        self._drain_waiter: asyncio.Future[bool] | None = None

    # -------------------------------------------------- asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # As anyio does: a write returns once the kernel has taken all of it, so a slow
        # peer makes ``write`` wait (and time out), not the buffer grow.
        transport.set_write_buffer_limits(0)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > READ_BUFFER_LIMIT and not self._reading_paused:
            self._reading_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        _wake(self._read_waiter)

    def eof_received(self) -> None:
        self._at_eof = True  # returning None lets the transport close itself
        _wake(self._read_waiter)

    def connection_lost(self, exc: Exception | None) -> None:
        self._at_eof = True
        self._lost = exc
        _wake(self._read_waiter)
        _wake(self._drain_waiter)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        _wake(self._drain_waiter)

    # -------------------------------------------------- httpcore.AsyncNetworkStream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self._buffer and not self._at_eof and not self._closed:
            self._read_waiter = self._loop.create_future()
            try:
                if not await _wait(self._loop, self._read_waiter, timeout):
                    raise httpcore.ReadTimeout("timed out reading")
            finally:
                self._read_waiter = None
        if self._closed:
            raise httpcore.ReadError("the connection was closed")
        if not self._buffer:
            if self._lost is not None:
                raise httpcore.ReadError(str(self._lost)) from self._lost
            return b""
        if len(self._buffer) <= max_bytes:
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:max_bytes])
            del self._buffer[:max_bytes]
        if self._reading_paused and len(self._buffer) <= READ_BUFFER_LIMIT // 2:
            self._reading_paused = False
            assert self._transport is not None
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        transport = self._transport
        if self._closed or transport is None:
            raise httpcore.WriteError("the connection was closed")
        if self._lost is not None or transport.is_closing():
            raise httpcore.WriteError(str(self._lost or "the connection was lost"))
        transport.write(buffer)
        if self._writing_paused:
            self._drain_waiter = self._loop.create_future()
            try:
                if not await _wait(self._loop, self._drain_waiter, timeout):
                    raise httpcore.WriteTimeout("timed out writing")
            finally:
                self._drain_waiter = None
            if self._closed or self._lost is not None:
                raise httpcore.WriteError(str(self._lost or "the connection was closed"))

    async def aclose(self) -> None:
        # As anyio does: drop the connection now (no TLS close_notify, no lingering).
        self._closed = True
        if self._transport is not None:
            self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        assert self._transport is not None
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(
                    self._transport, self, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except OSError as exc:  # ssl.SSLError (a bad certificate) is one, as are resets
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the peer closed during the handshake
            await self.aclose()
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self.connection_made(transport)
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # The loop reads whatever arrives, so the socket is readable exactly when
            # something is buffered or the peer has closed (as of the loop's last poll).
            return bool(self._buffer) or self._at_eof or self._closed
        name = _TRANSPORT_INFO.get(info)
        if name is None or self._transport is None:
            return None
        return self._transport.get_extra_info(name)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens ``AsyncioStream`` connections on the running loop."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local_addr = None if local_address is None else (local_address, 0)
        stream = await _connect(
            loop.create_connection(
                lambda: AsyncioStream(loop),
                host,
                port,
                local_addr=local_addr,
                happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
            ),
            timeout,
        )
        _apply(stream, socket_options)  # asyncio has already set TCP_NODELAY
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        stream = await _connect(
            loop.create_unix_connection(lambda: AsyncioStream(loop), path), timeout
        )
        _apply(stream, socket_options)
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(
    opening: Awaitable[tuple[asyncio.BaseTransport, AsyncioStream]], timeout: float | None
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            _, stream = await opening
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        raise httpcore.ConnectTimeout("timed out connecting") from exc
    except OSError as exc:  # refused, unreachable, unresolvable
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    return stream


def _apply(stream: AsyncioStream, options: Iterable[SocketOption] | None) -> None:
    sock = stream.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)


def _wake(waiter: asyncio.Future[bool] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def _wait(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[bool], timeout: float | None
) -> bool:
    """Wait for ``waiter``: True when woken, False when ``timeout`` seconds passed first.
    A timer handle on the loop, not ``asyncio.timeout``: no task cancellation to undo."""
    if timeout is None:
        return await waiter
    timer = loop.call_later(timeout, _expire, waiter)
    try:
        return await waiter
    finally:
        timer.cancel()
