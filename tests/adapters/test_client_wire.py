"""The client's exact wire behaviour, pinned with httpx.MockTransport: headers, query
encoding, request bodies, error classification, retries and their bound."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exerciser.adapters.clearstreet.client import (
    POOL_SIZE,
    ClearStreetClient,
    IdField,
    InstructionRequest,
    RetryPolicy,
    _shard_sizes,
)
from exerciser.adapters.clearstreet.transport import AsyncioTransport
from exerciser.domain.instructions import InstructionStatus, InstructionType
from exerciser.errors import (
    BrokerAmbiguousError,
    BrokerAuthError,
    BrokerConflictError,
    BrokerNotFoundError,
    BrokerProtocolError,
    BrokerTransientError,
    BrokerValidationError,
)

pytestmark = pytest.mark.anyio

KEY = "test-key-do-not-log"
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(data: Any, status: int = 200, **extra: Any) -> httpx.Response:
    body = {"data": data, "error": None, "metadata": {"request_id": "req-1", **extra}}
    return httpx.Response(status, json=body)


def failure(status: int, message: str, data: Any = None, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"error": {"code": status, "message": message}}
    body["metadata"] = {"request_id": "req-err"}
    if data is not None:
        body["data"] = data
    return httpx.Response(status, json=body, headers=headers)


def row(key: str = "k-1", status: str = "SENT", **extra: Any) -> dict[str, Any]:
    return {
        "id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e02",
        "account_id": 1,
        "instruction_id": key,
        "instruction_type": "EXERCISE",
        "instrument_id": "c-1",
        "quantity": "10",
        "status": status,
        "symbol": "AAPL  261120C00190000",
        **extra,
    }


class Recorder:
    """Answers from a list of handlers in turn (the last repeats) and keeps requests."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests), len(self.handlers)) - 1
        return self.handlers[index](request)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_client(
    recorder: Recorder, *, id_field: IdField = "instruction_id", sleeps: Sleeps | None = None
) -> ClearStreetClient:
    return ClearStreetClient(
        base_url="https://broker.test/",
        api_key=SecretStr(KEY),
        transport=httpx.MockTransport(recorder),
        id_field=id_field,
        retry=RetryPolicy(attempts=3, base_delay=0.1, max_delay=1.0),
        sleep=sleeps or Sleeps(),
        page_size=2,
    )


def request_row(key: str = "k-1", quantity: str = "10") -> InstructionRequest:
    return InstructionRequest(
        instruction_id=key,
        instruction_type=InstructionType.DO_NOT_EXERCISE,
        instrument_id="c-1",
        quantity=Decimal(quantity),
    )


async def test_every_request_carries_bearer_auth_and_accepts_json() -> None:
    rec = Recorder(lambda r: envelope([]))
    async with make_client(rec) as client:
        await client.list_accounts()
    headers = rec.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("exerciser")
    assert rec.requests[0].url.path == "/v1/accounts"


async def test_array_query_params_are_comma_joined_and_chunked_by_100() -> None:
    rec = Recorder(lambda r: envelope([]))
    ids = [f"id-{n:03d}" for n in range(250)] + ["id-000"]  # one duplicate
    async with make_client(rec) as client:
        await client.get_snapshots(ids)
    queries = sorted(r.url.query.decode() for r in rec.requests)
    assert len(queries) == 3
    assert all(q.startswith("instrument_ids=id-") for q in queries)
    sizes = sorted(len(q.removeprefix("instrument_ids=").split(",")) for q in queries)
    assert sizes == [50, 100, 100]
    assert "%2C" not in "".join(queries)


async def test_osi_symbols_in_queries_are_percent_encoded() -> None:
    rec = Recorder(lambda r: envelope([]))
    async with make_client(rec) as client:
        await client.get_option_contracts(["AAPL  261120C00190000", "c-2"])
    assert rec.requests[0].url.query == b"contract_ids=AAPL%20%20261120C00190000,c-2&page_size=2"


@pytest.mark.parametrize("id_field", ["instruction_id", "client_instruction_id"])
async def test_submit_body_is_an_array_of_rows_with_the_configured_key(id_field: IdField) -> None:
    rec = Recorder(lambda r: envelope([row()]))
    async with make_client(rec, id_field=id_field) as client:
        reply = await client.submit_instructions(
            42, [request_row("k-1", "10"), request_row("k-2", "3.0")]
        )
    request = rec.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/accounts/42/positions/instructions"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == [
        {
            id_field: "k-1",
            "instruction_type": "DO_NOT_EXERCISE",
            "instrument_id": "c-1",
            "quantity": "10",
        },
        {
            id_field: "k-2",
            "instruction_type": "DO_NOT_EXERCISE",
            "instrument_id": "c-1",
            "quantity": "3",
        },
    ]
    assert reply.http_status == 200
    assert not reply.partial
    assert reply.rows[0].status is InstructionStatus.SENT
    assert reply.request_id == "req-1"


async def test_207_returns_every_row_with_rejections_and_the_summary() -> None:
    rejected = row(
        "k-2",
        "ENGINE_REJECTED",
        id="00000000-0000-0000-0000-000000000000",
        rejection_reason="Duplicate exercise instruction",
    )
    rec = Recorder(
        lambda r: httpx.Response(
            207,
            json={
                "data": [row("k-1"), rejected],
                "error": {"code": 409, "message": "dup"},
                "metadata": {"request_id": "r"},
            },
        )
    )
    async with make_client(rec) as client:
        reply = await client.submit_instructions(1, [request_row("k-1"), request_row("k-2")])
    assert reply.partial
    assert reply.message == "dup"
    assert [r.status for r in reply.rows] == [
        InstructionStatus.SENT,
        InstructionStatus.ENGINE_REJECTED,
    ]
    assert reply.rows[1].reason == "Duplicate exercise instruction"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BrokerValidationError),
        (401, BrokerAuthError),
        (403, BrokerAuthError),
        (404, BrokerNotFoundError),
        (409, BrokerConflictError),
        (422, BrokerValidationError),
        (500, BrokerTransientError),
        (503, BrokerTransientError),
    ],
)
async def test_error_statuses_map_to_the_hierarchy_and_posts_are_sent_once(
    status: int, error_type: type[Exception]
) -> None:
    rec = Recorder(lambda r: failure(status, "nope"))
    async with make_client(rec) as client:
        with pytest.raises(error_type) as info:
            await client.submit_instructions(1, [request_row()])
    assert len(rec.requests) == 1
    assert "nope" in str(info.value)
    assert "req-err" in str(info.value)


@pytest.mark.parametrize("with_rows", [True, False], ids=["spec-rows", "docs-no-data"])
async def test_all_rejected_409_carries_the_rows_when_the_revision_sends_them(
    with_rows: bool,
) -> None:
    data = [row(status="REJECTED", rejection_reason="Duplicate exercise instruction")]
    rec = Recorder(lambda r: failure(409, "Duplicate", data if with_rows else None))
    async with make_client(rec) as client:
        with pytest.raises(BrokerConflictError) as info:
            await client.submit_instructions(1, [request_row()])
    assert len(info.value.rows) == (1 if with_rows else 0)


async def test_429_retry_after_is_honoured_on_gets() -> None:
    rec = Recorder(
        lambda r: failure(429, "slow down", **{"Retry-After": "0.75"}),
        lambda r: envelope([]),
    )
    sleeps = Sleeps()
    async with make_client(rec, sleeps=sleeps) as client:
        assert await client.list_accounts() == []
    assert len(rec.requests) == 2
    assert sleeps.delays[0] >= 0.75


async def test_gets_retry_transient_errors_up_to_the_bound() -> None:
    rec = Recorder(lambda r: failure(503, "down"))
    sleeps = Sleeps()
    async with make_client(rec, sleeps=sleeps) as client:
        with pytest.raises(BrokerTransientError):
            await client.get_balances(1)
    assert len(rec.requests) == 3
    assert len(sleeps.delays) == 2
    assert all(0 < d <= 1.0 for d in sleeps.delays)


async def test_gets_do_not_retry_permanent_errors() -> None:
    rec = Recorder(lambda r: failure(404, "no such account"))
    async with make_client(rec) as client:
        with pytest.raises(BrokerNotFoundError):
            await client.get_balances(9)
    assert len(rec.requests) == 1


async def test_get_retries_a_dropped_connection_then_succeeds() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    rec = Recorder(drop, lambda r: envelope({"account_id": 1, "buying_power": "5.50"}))
    async with make_client(rec) as client:
        balances = await client.get_balances(1)
    assert balances.buying_power == Decimal("5.50")


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError],
)
async def test_a_post_whose_reply_never_arrived_is_ambiguous(exc: type[Exception]) -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        raise exc("lost", request=request)  # type: ignore[call-arg]

    rec = Recorder(lost)
    async with make_client(rec) as client:
        with pytest.raises(BrokerAmbiguousError):
            await client.submit_instructions(1, [request_row()])
        with pytest.raises(BrokerAmbiguousError):
            await client.cancel_instruction(1, "srv-1")
    assert len(rec.requests) == 2


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_a_post_that_never_left_is_transient(exc: type[Exception]) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise exc("refused", request=request)  # type: ignore[call-arg]

    async with make_client(Recorder(refused)) as client:
        with pytest.raises(BrokerTransientError):
            await client.submit_instructions(1, [request_row()])


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"metadata": {}}', b"\xff\xfe"],
    ids=["truncated", "not-object", "no-data", "not-utf8"],
)
async def test_unreadable_replies_are_protocol_errors_on_get_after_retries(body: bytes) -> None:
    rec = Recorder(lambda r: httpx.Response(200, content=body))
    async with make_client(rec) as client:
        with pytest.raises(BrokerProtocolError):
            await client.list_accounts()
    assert len(rec.requests) == 3


async def test_an_unreadable_success_reply_to_a_post_is_ambiguous() -> None:
    rec = Recorder(lambda r: httpx.Response(200, content=b'{"data": ['))
    async with make_client(rec) as client:
        with pytest.raises(BrokerAmbiguousError, match="not a JSON object"):
            await client.submit_instructions(1, [request_row()])


async def test_a_success_reply_of_the_wrong_shape_to_a_post_is_ambiguous() -> None:
    rec = Recorder(lambda r: envelope([{"id": "x"}]))
    async with make_client(rec) as client:
        with pytest.raises(BrokerAmbiguousError, match=r"data\.0\.account_id"):
            await client.submit_instructions(1, [request_row()])


async def test_an_error_status_with_an_html_body_is_classified_by_status() -> None:
    rec = Recorder(lambda r: httpx.Response(502, content=b"<html>bad gateway</html>"))
    async with make_client(rec) as client:
        with pytest.raises(BrokerTransientError, match="502"):
            await client.submit_instructions(1, [request_row()])


async def test_pagination_follows_next_page_token_until_absent() -> None:
    pages = {
        None: ([{"id": 1}, {"id": 2}], "t1"),
        "t1": ([{"id": 3}, {"id": 4}], "t2"),
        "t2": ([{"id": 5}], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("page_token")
        data, nxt = pages[token]
        return envelope(data, next_page_token=nxt)

    rec = Recorder(handler)
    async with make_client(rec) as client:
        accounts = await client.list_accounts()
    assert [a.id for a in accounts] == [1, 2, 3, 4, 5]
    assert rec.requests[0].url.params["page_size"] == "2"
    assert "page_size" not in rec.requests[1].url.params


async def test_a_repeating_page_token_is_a_protocol_error_not_a_loop() -> None:
    rec = Recorder(lambda r: envelope([{"id": 1}], next_page_token="same"))
    async with make_client(rec) as client:
        with pytest.raises(BrokerProtocolError, match="repeats"):
            await client.list_accounts()


async def test_cancel_uses_the_server_id_in_the_path() -> None:
    rec = Recorder(lambda r: envelope(row(status="CANCEL_REQUESTED")))
    async with make_client(rec) as client:
        result = await client.cancel_instruction(7, "0195f6d0-a1b2")
    assert rec.requests[0].method == "DELETE"
    assert rec.requests[0].url.path == "/v1/accounts/7/positions/instructions/0195f6d0-a1b2"
    assert result.status is InstructionStatus.CANCEL_REQUESTED


async def test_the_api_key_never_appears_in_errors() -> None:
    rec = Recorder(lambda r: failure(401, "bad token"))
    async with make_client(rec) as client:
        with pytest.raises(BrokerAuthError) as info:
            await client.list_accounts()
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.__dict__)


async def test_listing_instructions_sends_no_page_size_and_filters_by_contract() -> None:
    rec = Recorder(lambda r: envelope([row()]))
    async with make_client(rec) as client:
        rows = await client.list_instructions(5, instrument_id="AAPL  261120C00190000")
    assert rec.requests[0].url.query == b"instrument_id=AAPL%20%20261120C00190000"
    assert [r.instruction_id for r in rows] == ["k-1"]


@pytest.mark.parametrize(
    ("concurrency", "sizes"),
    [(32, [8, 8, 8, 8]), (10, [5, 5]), (8, [8]), (3, [3]), (1, [1]), (33, [7, 7, 7, 6, 6])],
)
def test_connections_are_split_into_small_even_pools(concurrency: int, sizes: list[int]) -> None:
    assert _shard_sizes(concurrency, POOL_SIZE) == sizes
    assert sum(sizes) == concurrency


async def test_an_injected_transport_serves_every_pool_and_is_closed_once() -> None:
    rec = Recorder(lambda r: envelope([]))
    closed: list[bool] = []

    class Closing(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    client = ClearStreetClient(
        base_url="https://broker.test/",
        api_key=SecretStr(KEY),
        transport=Closing(rec),
        concurrency=16,
    )
    async with client:
        await client.get_snapshots([f"id-{n}" for n in range(1000)])
    assert len(rec.requests) == 10
    assert closed == [True]


def test_the_default_client_has_a_transport_of_its_own_per_pool() -> None:
    client = ClearStreetClient(
        base_url="https://broker.test/", api_key=SecretStr(KEY), concurrency=16
    )
    transports = client._transports
    assert [type(t) for t in transports] == [AsyncioTransport, AsyncioTransport]
    assert transports[0] is not transports[1]


async def test_requests_carry_the_default_headers_and_the_timeouts() -> None:
    rec = Recorder(lambda r: envelope([]))
    client = ClearStreetClient(
        base_url="https://broker.test/",
        api_key=SecretStr(KEY),
        transport=httpx.MockTransport(rec),
        connect_timeout=2.5,
        read_timeout=7.0,
    )
    async with client:
        await client.list_instructions(5)
    sent = rec.requests[0]
    assert sent.extensions["timeout"] == {"connect": 2.5, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert sent.headers["host"] == "broker.test"
    assert sent.headers["accept-encoding"] == "gzip, deflate"
    assert "content-type" not in sent.headers
