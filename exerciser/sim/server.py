"""HTTP plumbing: a threaded HTTP/1.1 server, routing, bearer auth and fault injection.

Per request, in order: read the body; ``rate_limit_429``; ``latency_ms``; auth; route to
the :class:`Book`; ``lost_ack`` (submits only: the reply is dropped and the connection
closed); ``malformed_body`` (the reply body is replaced by truncated JSON, status 200).
"""

from __future__ import annotations

import contextlib
import email.utils
import hmac
import json
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

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
    """Turns one request into one payload (or ``None``: say nothing and hang up)."""

    book: Book
    faults: Faults
    token: str
    sleep: Callable[[float], None]

    def respond(
        self, method: str, target: str, authorization: str | None, body: bytes
    ) -> Payload | None:
        if self.faults.consume("rate_limit_429"):
            retry_after = str(self.faults.retry_after_seconds)
            return _encode(
                wire.failure(429, "Rate limit exceeded", headers={"Retry-After": retry_after})
            )
        if self.faults.latency_ms > 0:
            self.sleep(self.faults.latency_ms / 1000)
        reply, is_submit = self._route(method, target, authorization, body)
        if is_submit and self.faults.consume("lost_ack"):
            return None
        if self.faults.consume("malformed_body"):
            return Payload(200, {}, MALFORMED_BODY)
        return _encode(reply)

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


class Handler(BaseHTTPRequestHandler):
    """One keep-alive connection; every response carries Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "exerciser-sim"
    sys_version = ""
    server: SimServer

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header follows the simulated clock."""
        moment = self.server.app.book.now().timestamp() if timestamp is None else timestamp
        return email.utils.formatdate(moment, usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: object) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sim.http %s", format % args)

    def _handle(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            self._write(_encode(wire.failure(400, "Unreadable request body")))
            self.close_connection = True
            return
        try:
            payload = self.server.app.respond(
                method, self.path, self.headers.get("Authorization"), body
            )
        except Exception:  # a simulator bug must answer 500, not kill the connection
            logger.exception("sim.internal_error")
            payload = _encode(wire.failure(500, "Internal simulator error"))
        if payload is None:
            self.close_connection = True  # lost ack: processed, never answered
            return
        self._write(payload)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _write(self, payload: Payload) -> None:
        self.send_response(payload.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload.body)))
        for name, value in payload.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload.body)


class SimServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that can close its open keep-alive connections on exit."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host's FQDN, which can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="sim-connection",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-reply is routine here; do not print tracebacks.
        logger.debug("sim.connection_error client=%s", client_address)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Hang up every open connection and wait for their threads to finish."""
        with self._open_lock:
            open_now = list(self._open.items())
            for sock, _ in open_now:
                with contextlib.suppress(OSError):  # already closed by its peer
                    sock.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(timeout)
