"""Async client for the parts of the Clear Street Trading API the daemon needs.

All I/O goes through our ``AsyncioTransport`` (``transport.py``), several small pools
of it, asked for whole replies (``exchange``) without building httpx requests and
responses; tests swap in another transport (``httpx.MockTransport``), which gets httpx
requests, or point the client at the simulator. Errors come out as the
``exerciser.errors`` tree:

- GETs retry transient failures (5xx, 429, timeouts, resets, unreadable replies) with
  jittered exponential backoff, honouring ``Retry-After``, up to ``RetryPolicy.attempts``.
- POST and DELETE are sent once. A failure before the request left is transient; a
  failure after it left (timeout, reset, unreadable 2xx) is ``BrokerAmbiguousError``:
  the caller must look before it resends.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, NamedTuple, Self, TypeVar, cast
from urllib.parse import quote

import httpx
import structlog
from pydantic import SecretStr, TypeAdapter, ValidationError

from exerciser.adapters.clearstreet.models import (
    Account,
    Balances,
    Instruction,
    OptionContract,
    Position,
    Snapshot,
)
from exerciser.adapters.clearstreet.pool import origin_of
from exerciser.adapters.clearstreet.transport import AsyncioTransport, environment_proxy
from exerciser.domain.instructions import InstructionType
from exerciser.errors import (
    BrokerAmbiguousError,
    BrokerAuthError,
    BrokerConflictError,
    BrokerError,
    BrokerNotFoundError,
    BrokerProtocolError,
    BrokerTransientError,
    BrokerValidationError,
)

log = structlog.get_logger("exerciser.clearstreet")

IdField = Literal["instruction_id", "client_instruction_id"]
M = TypeVar("M")
R = TypeVar("R")
# Reads one reply's ``data`` into values; raises pydantic's ValidationError when the data
# is not what the API documents (the models' adapters, or ``readers``' lean-or-exact ones).
Read = Callable[[Any], M]

MAX_IDS_PER_CALL = 100
MAX_PAGES = 100_000
_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How GETs retry transient failures: ``attempts`` tries in all, exponential backoff
    from ``base_delay`` capped at ``max_delay``, with full jitter."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 5.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            return max(jittered, min(retry_after, _MAX_RETRY_AFTER))
        return jittered


@dataclass(frozen=True, kw_only=True)
class InstructionRequest:
    """One row of a submit batch. ``instruction_id`` is our idempotency key."""

    instruction_id: str
    instruction_type: InstructionType
    instrument_id: str
    quantity: Decimal


@dataclass(frozen=True, kw_only=True)
class BatchReply(Generic[R]):
    """A submit the broker answered with 200 (all SENT) or 207 (some rejected)."""

    http_status: int
    rows: tuple[R, ...]
    message: str | None
    request_id: str | None

    @property
    def partial(self) -> bool:
        return self.http_status == 207


class _Raw(NamedTuple):
    """A reply as the transports give it: status, reason phrase, decoded body, and its
    Retry-After header."""

    status: int
    reason: str
    body: bytes
    retry_after: str | None


@dataclass(frozen=True)
class _Reply:
    status: int
    data: Any
    message: str | None
    request_id: str | None
    next_page_token: str | None


_ACCOUNTS = TypeAdapter(list[Account])
_POSITIONS = TypeAdapter(list[Position])
_BALANCES = TypeAdapter(Balances)
_CONTRACTS = TypeAdapter(list[OptionContract])
_SNAPSHOTS = TypeAdapter(list[Snapshot])
_INSTRUCTIONS = TypeAdapter(list[Instruction])
_INSTRUCTION = TypeAdapter(Instruction)


def encode_quantity(quantity: Decimal) -> str:
    """Quantities travel as strings; whole numbers without exponent or trailing zeros."""
    if quantity == quantity.to_integral_value():
        return str(int(quantity))
    return format(quantity.normalize(), "f")


def _query(params: Mapping[str, str | int | Sequence[str] | None]) -> str:
    """Encode a query string with arrays comma-joined (OpenAPI form, explode=false)."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, str | int):
            encoded = quote(str(value), safe="")
        else:
            encoded = ",".join(quote(v, safe="") for v in value)
        parts.append(f"{quote(key, safe='')}={encoded}")
    return "&".join(parts)


POOL_SIZE = 8


def _shard_sizes(concurrency: int, pool_size: int) -> list[int]:
    """Split ``concurrency`` connections into pools of at most ``pool_size``, as even as
    possible: 32 -> [8, 8, 8, 8], 10 -> [5, 5], 3 -> [3]."""
    shards = max(1, -(-concurrency // pool_size))
    base, extra = divmod(concurrency, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def _limits(size: int) -> httpx.Limits:
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _exchanging(transport: httpx.AsyncBaseTransport) -> AsyncioTransport | None:
    """``transport`` when it reads whole replies without httpx's models: ours, over our
    own pool (not httpcore's). Asked of the object rather than with ``isinstance``:
    ``bench/http_backend.py`` replaces the name this module builds its transports with
    while a client is built, to measure other transports in the same pools."""
    if getattr(transport, "exchanges", False) is True:
        return cast(AsyncioTransport, transport)
    return None


def _retry_after(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP-date; fall back to our own backoff


class ClearStreetClient:
    """The broker, over HTTPS. Use as ``async with ClearStreetClient(...) as client``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        concurrency: int = 8,
        page_size: int = 1000,
        id_field: IdField = "instruction_id",
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        user_agent: str = "exerciser",
    ) -> None:
        # Several small connection pools rather than one big one: httpcore's pool did
        # work per queued request for every connection, which at 32 connections cost
        # ~4.7 ms CPU a request against ~1 ms with pools of 8 (bench/README.md). With our
        # pool the split matters less, but still measures a little cheaper: 0.36-0.42
        # against 0.46-0.47 ms a bare GET (the bench's one-pool probe, three runs).
        sizes = _shard_sizes(concurrency, POOL_SIZE)
        # Requests carry absolute URLs: httpx parses a relative one, then parses the
        # merged one again, character by character in Python (~17 us a request, and
        # ~0.3 us a character of a 100-id query).
        self._base_url = base_url.rstrip("/")
        # Requests go straight to a transport, not through ``httpx.AsyncClient``: its
        # redirect, auth, cookie and event-hook machinery, none of which this client
        # uses, cost 0.13 ms CPU a request (0.656 against 0.520 ms a bare GET). So the
        # client does here the little it did for us: default headers, timeouts, and the
        # proxy the environment names (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY).
        # Our own transport unless one is injected: httpx's own runs httpcore over anyio,
        # ours a small HTTP/1.1 pool over an asyncio-native network backend (transport.py,
        # pool.py, http11.py), 0.43-0.57 (on h11 then) against 0.74-0.97 ms CPU a bare
        # request.
        # One SSL context for all the pools: httpx's for verify=True (certifi's CAs).
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": user_agent,
            "Authorization": f"Bearer {api_key.get_secret_value()}",
        }
        self._timeouts = httpx.Timeout(read_timeout, connect=connect_timeout).as_dict()
        if transport is not None:
            self._transports = [transport] * len(sizes)
        else:
            ssl_context = httpx.create_ssl_context()
            proxy = environment_proxy(self._base_url)
            self._transports = [
                AsyncioTransport(limits=_limits(size), ssl_context=ssl_context)
                if proxy is None
                else httpx.AsyncHTTPTransport(proxy=proxy, limits=_limits(size), verify=ssl_context)
                for size in sizes
            ]
        # Our own transports are asked for whole replies (``exchange``), without httpx's
        # request and response objects: the origin, Host header and default headers are
        # worked out once, here, as httpx.Request would work them out for each request.
        # Any other transport (injected, or httpx's for a proxy) gets httpx requests.
        base = httpx.URL(self._base_url)
        self._exchanging = [_exchanging(t) for t in self._transports]
        try:
            self._origin = origin_of(base)
        except httpx.UnsupportedProtocol:  # the httpx path fails each request, as ever
            self._exchanging = [None] * len(self._transports)
        self._prefix = base.raw_path.rstrip(b"/")
        self._raw_headers = [(b"Host", base.netloc)] + [
            (name.encode("ascii"), value.encode("ascii")) for name, value in self._headers.items()
        ]
        self._in_flight = [0] * len(sizes)
        self._slots = asyncio.Semaphore(concurrency)
        self._page_size = page_size
        self._id_field = id_field
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for transport in dict.fromkeys(self._transports):  # an injected one serves them all
            await transport.aclose()

    # ----------------------------------------------------------------- reads

    async def list_accounts(self) -> list[Account]:
        return await self._paginate("/v1/accounts", {}, _ACCOUNTS.validate_python)

    async def get_positions(self, account_id: int) -> list[Position]:
        return await self.get_positions_as(account_id, _POSITIONS.validate_python)

    async def get_positions_as(self, account_id: int, read: Read[list[M]]) -> list[M]:
        """The positions, each page's ``data`` read by ``read`` (e.g. straight into
        domain values: ``readers.positions``)."""
        path = f"/v1/accounts/{account_id}/positions"
        return await self._paginate(path, {}, read)

    async def get_balances(self, account_id: int) -> Balances:
        path = f"/v1/accounts/{account_id}/balances"
        reply = await self._get(path, {})
        return _parse(_BALANCES.validate_python, reply, "GET", path)

    async def get_option_contracts(self, contract_ids: Sequence[str]) -> list[OptionContract]:
        """Contract details by id or OSI symbol, 100 per call, calls in parallel."""
        return await self.get_option_contracts_as(contract_ids, _CONTRACTS.validate_python)

    async def get_option_contracts_as(
        self, contract_ids: Sequence[str], read: Read[list[M]]
    ) -> list[M]:
        """``get_option_contracts``, each page's ``data`` read by ``read``."""
        path = "/v1/instruments/options/contracts"
        return await self._by_ids(path, "contract_ids", contract_ids, read, sized=True)

    async def get_snapshots(self, instrument_ids: Sequence[str]) -> list[Snapshot]:
        """Market-data snapshots by id or symbol, 100 per call, calls in parallel."""
        return await self._by_ids(
            "/v1/market-data/snapshot",
            "instrument_ids",
            instrument_ids,
            _SNAPSHOTS.validate_python,
            sized=False,
        )

    async def list_instructions(
        self, account_id: int, *, instrument_id: str | None = None
    ) -> list[Instruction]:
        return await self.list_instructions_as(
            account_id, _INSTRUCTIONS.validate_python, instrument_id=instrument_id
        )

    async def list_instructions_as(
        self, account_id: int, read: Read[list[M]], *, instrument_id: str | None = None
    ) -> list[M]:
        """``list_instructions``, each page's ``data`` read by ``read``."""
        path = f"/v1/accounts/{account_id}/positions/instructions"
        params = {"instrument_id": instrument_id}
        # This endpoint takes no page_size; follow a next_page_token if one comes.
        return await self._paginate(path, params, read, sized=False)

    # ---------------------------------------------------------------- writes

    async def submit_instructions(
        self, account_id: int, rows: Sequence[InstructionRequest]
    ) -> BatchReply[Instruction]:
        """Send one batch, once.

        200 and 207 return a ``BatchReply``; an all-rejected batch raises the error
        its status calls for, with whatever rows the reply carried in ``.rows``
        (``Instruction`` models, whichever ``read`` the call used).
        """
        return await self.submit_instructions_as(account_id, rows, _INSTRUCTIONS.validate_python)

    async def submit_instructions_as(
        self, account_id: int, rows: Sequence[InstructionRequest], read: Read[list[M]]
    ) -> BatchReply[M]:
        """``submit_instructions``, the reply's ``data`` read by ``read``."""
        path = f"/v1/accounts/{account_id}/positions/instructions"
        body = [
            {
                self._id_field: row.instruction_id,
                "instruction_type": str(row.instruction_type),
                "instrument_id": row.instrument_id,
                "quantity": encode_quantity(row.quantity),
            }
            for row in rows
        ]
        reply = await self._once("POST", path, body=body)
        stored = _parse(read, reply, "POST", path)
        return BatchReply(
            http_status=reply.status,
            rows=tuple(stored),
            message=reply.message,
            request_id=reply.request_id,
        )

    async def cancel_instruction(self, account_id: int, server_id: str) -> Instruction:
        """Ask the broker to cancel one instruction by its server-assigned ``id``."""
        path = f"/v1/accounts/{account_id}/positions/instructions/{quote(server_id, safe='')}"
        reply = await self._once("DELETE", path)
        return _parse(_INSTRUCTION.validate_python, reply, "DELETE", path)

    # ------------------------------------------------------------- plumbing

    async def _by_ids(
        self,
        path: str,
        param: str,
        ids: Sequence[str],
        read: Read[list[M]],
        *,
        sized: bool,
    ) -> list[M]:
        """At most 100 ids a call, calls in parallel, each following its own pages."""
        unique = list(dict.fromkeys(ids))

        async def chunk(part: Sequence[str]) -> list[M]:
            return await self._paginate(path, {param: part}, read, sized=sized)

        parts = await asyncio.gather(*(chunk(p) for p in _chunks(unique, MAX_IDS_PER_CALL)))
        return [item for part in parts for item in part]

    async def _paginate(
        self,
        path: str,
        params: Mapping[str, str | Sequence[str] | None],
        read: Read[list[M]],
        *,
        sized: bool = True,
    ) -> list[M]:
        query: dict[str, Any] = {**params, "page_size": self._page_size if sized else None}
        seen: set[str] = set()
        items: list[M] = []
        for _ in range(MAX_PAGES):
            reply = await self._get(path, query)
            items += _parse(read, reply, "GET", path)
            token = reply.next_page_token
            if not token:
                return items
            if token in seen:
                raise BrokerProtocolError(
                    "pagination loops: next_page_token repeats",
                    method="GET",
                    path=path,
                    status=reply.status,
                    request_id=reply.request_id,
                )
            seen.add(token)
            query = {**params, "page_token": token}
        raise BrokerProtocolError(f"more than {MAX_PAGES} pages", method="GET", path=path)

    async def _get(self, path: str, params: Mapping[str, Any]) -> _Reply:
        attempt = 1
        while True:
            try:
                return await self._once("GET", path, params=params)
            except (BrokerTransientError, BrokerProtocolError) as exc:
                if attempt >= self._retry.attempts:
                    raise
                retry_after = exc.retry_after if isinstance(exc, BrokerTransientError) else None
                delay = self._retry.delay(attempt, self._rng, retry_after)
                log.warning(
                    "broker_retry_scheduled",
                    method="GET",
                    path=path,
                    attempt=attempt,
                    delay_s=round(delay, 3),
                    status=exc.status,
                    request_id=exc.request_id,
                    error=exc.message,
                )
                await self._sleep(delay)
                attempt += 1

    async def _once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> _Reply:
        query = _query(params or {})
        target = f"{path}?{query}" if query else path
        content = None if body is None else json.dumps(body).encode()
        try:
            async with self._slots:
                shard = self._in_flight.index(min(self._in_flight))
                self._in_flight[shard] += 1
                try:
                    raw = await self._exchange(shard, method, target, content)
                finally:
                    self._in_flight[shard] -= 1
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise BrokerTransientError(
                f"could not connect: {type(exc).__name__}", method=method, path=path
            ) from exc
        except httpx.TransportError as exc:
            # The request left; we don't know whether the broker acted on it.
            what = f"no reply: {type(exc).__name__}"
            if method == "GET":
                raise BrokerTransientError(what, method=method, path=path) from exc
            raise BrokerAmbiguousError(what, method=method, path=path) from exc
        except httpx.HTTPError as exc:
            # A reply arrived but could not be read (e.g. a body that does not match its
            # Content-Encoding): for a write, it may have taken effect.
            what = f"unreadable reply: {type(exc).__name__}"
            if method == "GET":
                raise BrokerProtocolError(what, method=method, path=path) from exc
            raise BrokerAmbiguousError(what, method=method, path=path) from exc
        return self._read(method, path, raw)

    async def _exchange(self, shard: int, method: str, target: str, content: bytes | None) -> _Raw:
        """One request, its whole reply read: straight through our own pool, or as an
        httpx request through any other transport."""
        ours = self._exchanging[shard]
        if ours is not None:
            headers = self._raw_headers
            if content is not None:
                length = str(len(content)).encode()
                headers = [
                    *headers,
                    (b"Content-Type", b"application/json"),
                    (b"Content-Length", length),
                ]
            reply = await ours.exchange(
                self._origin,
                method,
                self._prefix + target.encode("ascii"),
                headers=headers,
                content=content or b"",
                timeouts=self._timeouts,
            )
            retry_after = next(
                (v.decode("latin-1") for k, v in reply.headers if k.lower() == b"retry-after"),
                None,
            )
            reason = reply.reason.decode("ascii", errors="ignore")
            return _Raw(reply.status, reason, reply.body, retry_after)
        named = self._headers
        if content is not None:
            named = {**named, "Content-Type": "application/json"}
        request = httpx.Request(
            method,
            f"{self._base_url}{target}",
            headers=named,
            content=content,
            extensions={"timeout": self._timeouts},
        )
        response = await self._transports[shard].handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return _Raw(
            response.status_code,
            response.reason_phrase,
            response.content,
            response.headers.get("retry-after"),
        )

    def _read(self, method: str, path: str, raw: _Raw) -> _Reply:
        status = raw.status
        envelope = _envelope(raw.body)
        if envelope is None and status < 400:
            # A success we cannot read: for a write, it may well have taken effect.
            error_cls = BrokerProtocolError if method == "GET" else BrokerAmbiguousError
            raise error_cls("reply is not a JSON object", method=method, path=path, status=status)
        envelope = envelope or {}
        metadata = envelope.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        request_id = _text(metadata.get("request_id"))
        error = envelope.get("error")
        message = _text(error.get("message")) if isinstance(error, dict) else None
        if status < 300:
            if "data" not in envelope:
                error_cls = BrokerProtocolError if method == "GET" else BrokerAmbiguousError
                raise error_cls(
                    "reply is not the documented envelope: no data",
                    method=method,
                    path=path,
                    status=status,
                    request_id=request_id,
                )
            token = _text(metadata.get("next_page_token"))
            return _Reply(status, envelope["data"], message, request_id, token)
        raise _classify(
            status,
            message or raw.reason or "error",
            method=method,
            path=path,
            request_id=request_id,
            rows=_error_rows(envelope),
            retry_after=_retry_after(raw.retry_after),
        )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _envelope(body: bytes) -> dict[str, Any] | None:
    """The JSON object the reply carries, or None when it carries none."""
    try:
        parsed = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurd nesting
        return None
    return parsed if isinstance(parsed, dict) else None


def _error_rows(envelope: Mapping[str, Any]) -> tuple[Instruction, ...]:
    data = envelope.get("data")
    if not isinstance(data, list):
        return ()
    try:
        return tuple(_INSTRUCTIONS.validate_python(data))
    except ValidationError:
        return ()  # the status and message still say what happened


def _classify(
    status: int,
    message: str,
    *,
    method: str,
    path: str,
    request_id: str | None,
    rows: Sequence[Instruction],
    retry_after: float | None,
) -> BrokerError:
    kw: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "request_id": request_id,
        "rows": rows,
    }
    if status == 429 or status >= 500:
        return BrokerTransientError(message, retry_after=retry_after, **kw)
    if status in (401, 403):
        return BrokerAuthError(message, **kw)
    if status == 404:
        return BrokerNotFoundError(message, **kw)
    if status == 409:
        return BrokerConflictError(message, **kw)
    return BrokerValidationError(message, **kw)


def _parse(read: Read[M], reply: _Reply, method: str, path: str) -> M:
    """Read ``reply.data``; a reply of the wrong shape is a protocol error, or, for a
    write that was answered with success, an ambiguous one (it may have taken effect)."""
    try:
        return read(reply.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"unexpected reply: data{'.' if where else ''}{where}: {first['msg']}"
        error_cls = BrokerProtocolError if method == "GET" else BrokerAmbiguousError
        raise error_cls(
            message, method=method, path=path, status=reply.status, request_id=reply.request_id
        ) from exc
