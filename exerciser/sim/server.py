"""HTTP plumbing: routing, bearer auth and fault injection, served by one asyncio event
loop with h11 for the HTTP/1.1 framing.

Per request, in order: read the body; ``rate_limit_429``; ``latency_ms``; auth; route to
the :class:`Book`; ``lost_ack`` (submits only: the reply is dropped and the connection
closed); ``malformed_body`` (the reply body is replaced by truncated JSON, status 200).

One event loop, on the simulator's background thread, serves every connection (one
task each): the Book is only ever called from that thread, and a request waiting out the
``latency_ms`` fault costs no thread. The threaded ``http.server`` this replaces spent
about twice the application's own CPU per request on header parsing and threads, enough
to saturate a core under the benchmark's 32 connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hmac
import http
import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import h11

from exerciser.sim import wire
from exerciser.sim.book import Book, Query
from exerciser.sim.faults import Faults
from exerciser.sim.wire import ApiFailure, Reply

logger = logging.getLogger(__name__)

MALFORMED_BODY = b'{"data": ['
_ACCOUNT = r"/v1/accounts/(?P<account>[^/]+)"


class Payload(NamedTuple):
    """Bytes ready for the socket."""

    status: int
    headers: dict[str, str]
    body: bytes


Endpoint = Callable[[Book, dict[str, str], Query, bytes, Faults], Reply]


def _account_id(params: dict[str, str]) -> int:
    try:
        return int(params["account"])
    except ValueError:
        raise ApiFailure(400, f"Invalid account_id: {params['account']!r}") from None


def _submit(book: Book, params: dict[str, str], _q: Query, body: bytes, faults: Faults) -> Reply:
    return book.submit(
        _account_id(params), body, clearing_unavailable=lambda: faults.consume("submit_503")
    )


ROUTES: tuple[tuple[re.Pattern[str], dict[str, Endpoint]], ...] = (
    (re.compile(r"/v1/accounts"), {"GET": lambda b, _p, q, _b, _f: b.list_accounts(q)}),
    (re.compile(_ACCOUNT), {"GET": lambda b, p, _q, _b, _f: b.account(_account_id(p))}),
    (
        re.compile(_ACCOUNT + r"/balances"),
        {"GET": lambda b, p, _q, _b, _f: b.balances(_account_id(p))},
    ),
    (
        re.compile(_ACCOUNT + r"/positions"),
        {"GET": lambda b, p, q, _b, _f: b.positions(_account_id(p), q)},
    ),
    (
        re.compile(_ACCOUNT + r"/positions/instructions"),
        {
            "GET": lambda b, p, q, _b, _f: b.list_instructions(_account_id(p), q),
            "POST": _submit,
        },
    ),
    (
        re.compile(_ACCOUNT + r"/positions/instructions/(?P<instruction>[^/]+)"),
        {"DELETE": lambda b, p, _q, _b, _f: b.cancel(_account_id(p), p["instruction"])},
    ),
    (
        re.compile(r"/v1/instruments/options/contracts"),
        {"GET": lambda b, _p, q, _b, _f: b.contracts(q)},
    ),
    (re.compile(r"/v1/market-data/snapshot"), {"GET": lambda b, _p, q, _b, _f: b.snapshot(q)}),
)


@dataclass(kw_only=True)
class App:
    """Turns one request into one payload (or ``None``: say nothing and hang up).

    ``sleep`` is how the ``latency_ms`` fault waits. ``None`` (the default) waits on the
    event loop, so other connections are served meanwhile. A plain callable, such as a
    test's recorder or a fake clock's ``advance``, is called with the seconds on a worker
    thread instead, so one that blocks holds up only its own request.
    """

    book: Book
    faults: Faults
    token: str
    sleep: Callable[[float], None] | None = None

    async def respond(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> Payload | None:
        if self.faults.consume("rate_limit_429"):
            retry_after = str(self.faults.retry_after_seconds)
            return _encode(
                wire.failure(429, "Rate limit exceeded", headers={"Retry-After": retry_after})
            )
        if self.faults.latency_ms > 0:
            await self._wait(self.faults.latency_ms / 1000)
        reply, is_submit = self._route(method, target, authorization, body)
        if is_submit and self.faults.consume("lost_ack"):
            return None
        if self.faults.consume("malformed_body"):
            return Payload(200, {}, MALFORMED_BODY)
        return _encode(reply)

    async def _wait(self, seconds: float) -> None:
        if self.sleep is None:
            await asyncio.sleep(seconds)
        else:
            await asyncio.to_thread(self.sleep, seconds)

    def _route(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> tuple[Reply, bool]:
        if not self._authorized(authorization):
            reply = wire.failure(
                401, "Missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
            return reply, False
        parts = urlsplit(target)
        query = {
            key: ",".join(values)
            for key, values in parse_qs(parts.query, keep_blank_values=True).items()
        }
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(parts.path)
            if match is None:
                continue
            endpoint = methods.get(method)
            if endpoint is None:
                allowed = ", ".join(sorted(methods))
                return wire.failure(
                    405, f"Method {method} not allowed", headers={"Allow": allowed}
                ), False
            try:
                return endpoint(
                    self.book, match.groupdict(), query, body, self.faults
                ), endpoint is _submit
            except ApiFailure as failure:
                return failure.reply(), endpoint is _submit
        return wire.failure(404, f"Not found: {parts.path}"), False

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token.encode())


def _encode(reply: Reply) -> Payload:
    return Payload(reply.status, reply.headers, json.dumps(reply.body).encode())


READ_SIZE = 65536
CLOSE_TIMEOUT = 5.0  # how long close() lets requests in progress finish


async def serve_connection(
    app: App, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one keep-alive connection, one request at a time, until either side hangs up.

    A request h11 cannot parse, or a body it cannot read, is answered 400 and the
    connection closed. A simulator bug answers 500 and the connection carries on.
    """
    connection = h11.Connection(h11.SERVER)
    while True:
        request: h11.Request | None = None
        try:
            event = await _next_event(connection, reader)
            if not isinstance(event, h11.Request):
                return  # the client hung up between requests
            request = event
            body = await _read_body(connection, reader)
        except h11.RemoteProtocolError:
            problem = "Malformed request" if request is None else "Unreadable request body"
            reply = _encode(wire.failure(400, problem, headers={"Connection": "close"}))
            writer.write(_response_bytes(connection, reply, app.book, head=False))
            await writer.drain()
            return
        if body is None:
            return  # the client hung up in the middle of the body
        payload = await _answer(app, request, body)
        if payload is None:
            return  # lost ack: processed, never answered
        writer.write(_response_bytes(connection, payload, app.book, head=request.method == b"HEAD"))
        await writer.drain()
        if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
            return  # either side asked to close after this exchange
        connection.start_next_cycle()


async def _next_event(connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Event:
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]  # PAUSED cannot happen mid-request
        connection.receive_data(await reader.read(READ_SIZE))  # b"" at end of stream


async def _read_body(connection: h11.Connection, reader: asyncio.StreamReader) -> bytes | None:
    """The whole body, however it is framed (h11 undoes chunking); None if cut short."""
    chunks: list[bytes] = []
    while True:
        event = await _next_event(connection, reader)
        if isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            return None


async def _answer(app: App, request: h11.Request, body: bytes) -> Payload | None:
    method, target = request.method.decode("ascii"), request.target.decode("latin-1")
    authorization = next(
        (value.decode("latin-1") for name, value in request.headers if name == b"authorization"),
        None,
    )
    try:
        payload = await app.respond(method, target, authorization, body)
    except Exception:  # a simulator bug must answer 500, not kill the connection
        logger.exception("sim.internal_error")
        payload = _encode(wire.failure(500, "Internal simulator error"))
    logger.debug("sim.http %s %s %s", method, target, payload.status if payload else "dropped")
    return payload


def _response_bytes(
    connection: h11.Connection, payload: Payload, book: Book, *, head: bool
) -> bytes:
    """The whole response, framed by Content-Length; its Date is the simulated clock's."""
    headers = [
        ("Server", "exerciser-sim"),
        ("Date", email.utils.formatdate(book.now().timestamp(), usegmt=True)),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload.body))),
        *payload.headers.items(),
    ]
    reason = http.HTTPStatus(payload.status).phrase.encode()
    events: list[h11.Event] = [
        h11.Response(status_code=payload.status, headers=headers, reason=reason),
        h11.Data(data=b"" if head else payload.body),  # a reply to HEAD has no body
        h11.EndOfMessage(),
    ]
    return b"".join(connection.send(event) or b"" for event in events)


class SimServer:
    """The :class:`App` on a bound socket, served by one asyncio event loop on a thread.

    The socket is bound on construction; :meth:`start` starts the loop's thread and
    :meth:`close` stops it from any other thread.
    """

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.create_server(address, family=family, backlog=128)
        self.server_name, self.server_port = address[0], int(self.socket.getsockname()[1])
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = asyncio.Event()  # binds to the loop on first use, not here
        self._open: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Serve on a background thread named ``sim-server``."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sim-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving: stop listening, hang up every open connection, let requests in
        progress finish (for up to ``CLOSE_TIMEOUT``), release the socket. Idempotent."""
        if self._loop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join()
            self._thread = None
        self.socket.close()

    def _run(self) -> None:
        assert self._loop is not None
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._connection, sock=self.socket)
        await self._stopping.wait()
        server.close()
        for writer in self._open:
            writer.transport.abort()  # a request in progress still finishes, unanswered
        if self._open:
            _, late = await asyncio.wait(self._open.values(), timeout=CLOSE_TIMEOUT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping.is_set():
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._open[writer] = task
        try:
            await serve_connection(self.app, reader, writer)
        except ConnectionError:  # a client hanging up mid-reply is routine here
            logger.debug("sim.connection_error peer=%s", writer.get_extra_info("peername"))
        except Exception:  # a bug in the plumbing: log it, lose this connection only
            logger.exception("sim.connection_error")
        finally:
            del self._open[writer]
            writer.close()  # sends what is still buffered, then hangs up
