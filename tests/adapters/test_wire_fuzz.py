"""The broker-response parser never crashes. Whatever comes back — arbitrary bytes,
arbitrary JSON, or a near-valid envelope (a documented example reply with fields
removed, retyped, renamed, nulled, nested, numbers as JSON numbers or absurdly large,
unknown statuses, extra fields) — under whatever HTTP status (documented or odd), every
read and write method of the real client either returns typed models or raises an
``exerciser.errors.BrokerError`` subclass, and so do the ports over it that read
positions, contracts and instructions the lean way (``readers``) into domain values:
never another exception, never an unbounded loop (a GET retries at most
``RetryPolicy.attempts`` times; pages stop at a repeated token). And the models alone:
``Instruction.model_validate`` validates or raises ``pydantic.ValidationError``.

Three kinds of reply once broke this and are pinned by their own tests (the random
strategies stay clear of them: JSON nested at most ~50 deep, no gzip/deflate label):
JSON nested ~1000 deep (was a RecursionError), a body that does not decode as its
Content-Encoding says (was an httpx.DecodingError), and an account id beyond int64
written as a JSON number (was a ValueError once the id went into a path).

The example replies are those of the vendor's documentation (``shared/api``: the OpenAPI
examples, and the SDK pages of submit and cancel), copied here so this runs from a
fresh clone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import (
    BatchReply,
    ClearStreetClient,
    InstructionRequest,
    RetryPolicy,
)
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clearstreet.models import (
    Account,
    Balances,
    Instruction,
    OptionContract,
    Position,
    Snapshot,
)
from exerciser.domain import book
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import BrokerInstruction, LedgerRow
from exerciser.errors import BrokerError
from exerciser.ports import SubmitReply

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_REQUESTS = 25  # more than any bounded retry and pagination could make with 3 replies

# ---------------------------------------------------------------- example replies

INSTRUCTION: dict[str, Any] = {
    "id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e02",
    "account_id": 122503,
    "instruction_id": "ui-20260424-001",
    "instruction_type": "EXERCISE",
    "instrument_id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01",
    "quantity": "1",
    "status": "SENT",
    "symbol": "AAPL  280121C00195000",
    "accepted_quantity": None,
    "created_at": "2026-04-24T14:30:00Z",
    "rejection_reason": None,
    "updated_at": "2026-04-24T14:30:00Z",
}
REJECTED_ROW: dict[str, Any] = {
    **INSTRUCTION,
    "id": "00000000-0000-0000-0000-000000000000",
    "status": "ENGINE_REJECTED",
    "rejection_reason": "Duplicate exercise instruction",
}
PREVIEW_ROW: dict[str, Any] = {  # the later revision: client_instruction_id, rejection object
    **{k: v for k, v in REJECTED_ROW.items() if k != "instruction_id"},
    "client_instruction_id": "ui-20260424-001",
    "status": "REJECTED",
    "rejection": {
        "reason": "DUPLICATE_INSTRUCTION",
        "description": "Duplicate exercise instruction",
        "domain": "POSITION_INSTRUCTIONS",
        "metadata": {"existing_id": "019e7415-de03-70c3-8ca1-9fdb72dfdbbc"},
    },
}
META = {"request_id": "0a5c9ebf-a9a7-4f2d-9c7e-f2b5f0b1bd01"}


def _ok(data: Any, **metadata: Any) -> dict[str, Any]:
    return {"data": data, "error": None, "metadata": {**META, **metadata}}


def _failed(code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}, "metadata": META}
    if data is not None:
        body["data"] = data
    return body


ACCOUNTS = _ok(
    [
        {
            "account_holder_entity_id": 987654321,
            "close_date": None,
            "full_name": "Test Trading Account",
            "id": 19816,
            "open_date": "2023-01-15",
            "options_level": 1,
            "short_name": "TST-ACCOUNT-01",
            "status": "ACTIVE",
            "subtype": "MARGIN",
            "type": "CUSTOMER",
        }
    ],
    next_page_token="cGFnZT0yJmxhc3RfaWQ9MTk4MTc=",
    page_number=1,
    total_items=25,
    total_pages=3,
)
BALANCES = _ok(
    {
        "account_id": 19816,
        "buying_power": "45000.00",
        "currency": "USD",
        "equity": "100000.00",
        "margin_type": "NONE",
        "settled_cash": "60000.00",
        "sod": {"asof": "2023-09-27", "buying_power": "45000.00", "equity": "100000.00"},
        "trade_cash": "60000.00",
        "withdrawable_cash": "55000.00",
    }
)
POSITIONS = _ok(
    [
        {
            "account_id": 19816,
            "available_quantity": "100",
            "closing_price": "150.50",
            "instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
            "instrument_price": "151.00",
            "instrument_type": "COMMON_STOCK",
            "position_type": "LONG",
            "quantity": "100",
            "symbol": "AAPL",
        },
        {
            "account_id": 19816,
            "available_quantity": "10",
            "closing_price": "2.70",
            "instrument_id": "e5e6e7e8-f5f6-a5a6-b5b6-b7b8b9babcbe",
            "instrument_type": "OPTION",
            "position_type": "LONG_CALL",
            "quantity": "10",
            "symbol": "AAPL250117C00190000",
            "underlying_instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
        },
    ],
    next_page_token="cGFnZT0yJmxhc3Rfc3ltYm9sPVRTM0E=",
)
CONTRACTS = _ok(
    [
        {
            "contract_type": "CALL",
            "exercise_style": "AMERICAN",
            "expiry": "2026-03-20",
            "id": "b6f4b5e2-94a8-4fe4-9a85-2b4a81d30cc5",
            "is_settle_on_open": False,
            "listing_type": "STANDARD",
            "multiplier": "100",
            "strike_price": "180",
            "symbol": "AAPL  260320C00180000",
            "underlying_instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
        }
    ],
    page_number=1,
    total_items=1,
    total_pages=1,
)
SNAPSHOTS = _ok(
    [
        {
            "instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
            "last_trade": {"price": "210.12", "size": 150, "timestamp": "2026-11-20T20:59:59Z"},
            "name": "Apple Inc.",
            "session": {"change": "4.68", "previous_close": "205.44"},
            "symbol": "AAPL",
        }
    ]
)
LISTED = _ok([INSTRUCTION, {**INSTRUCTION, "status": "ACCEPTED", "accepted_quantity": "1"}])
SUBMITTED = [
    _ok([INSTRUCTION]),
    {**_ok([INSTRUCTION, REJECTED_ROW]), "error": {"code": 409, "message": "Duplicate"}},
    {**_ok([INSTRUCTION, PREVIEW_ROW]), "error": {"code": 409, "message": "Duplicate"}},
    _failed(400, "DO_NOT_EXERCISE must be submitted on the contract's expiration date"),
    _failed(409, "Duplicate exercise instruction", [{**REJECTED_ROW, "status": "REJECTED"}]),
    _failed(503, "Clearing service unavailable", [REJECTED_ROW]),
    _failed(404, "Instrument not found: 0195f6d0", []),
]
CANCELLED = _ok({**INSTRUCTION, "status": "CANCEL_REQUESTED"})
RATE_LIMITED = _failed(429, "Rate limit exceeded")

# ---------------------------------------------------------------- the calls


def _submit(client: ClearStreetClient) -> Awaitable[BatchReply]:
    row = InstructionRequest(
        instruction_id="ui-20260424-001",
        instruction_type=InstructionType.DO_NOT_EXERCISE,
        instrument_id="0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01",
        quantity=Decimal(1),
    )
    return client.submit_instructions(122503, [row])


def _port_submit(client: ClearStreetClient) -> Awaitable[SubmitReply]:
    row = LedgerRow(
        instruction_id="ui-20260424-001",
        business_date=date(2026, 4, 24),
        account_id=122503,
        instrument_id="0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01",
        symbol="AAPL  280121C00195000",
        instruction_type=InstructionType.DO_NOT_EXERCISE,
        quantity=Decimal(1),
    )
    return ClearStreetInstructions(client).submit(122503, [row])


def _port_batch(result: Any) -> bool:
    return (
        isinstance(result, SubmitReply)
        and result.http_status < 300
        and all(isinstance(r, BrokerInstruction) for r in result.rows)
    )


def _list_of(model: type) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, list) and all(isinstance(x, model) for x in result)


def _batch(result: Any) -> bool:
    return (
        isinstance(result, BatchReply)
        and result.http_status < 300  # 1xx only through a mock: HTTP stacks consume them
        and all(isinstance(r, Instruction) for r in result.rows)
    )


Call = Callable[[ClearStreetClient], Awaitable[Any]]
CALLS: dict[str, tuple[Call, Callable[[Any], bool], list[dict[str, Any]]]] = {
    "list_accounts": (lambda c: c.list_accounts(), _list_of(Account), [ACCOUNTS]),
    "get_positions": (lambda c: c.get_positions(19816), _list_of(Position), [POSITIONS]),
    "get_balances": (
        lambda c: c.get_balances(19816),
        lambda r: isinstance(r, Balances),
        [BALANCES],
    ),
    "get_option_contracts": (
        lambda c: c.get_option_contracts(["AAPL  260320C00180000"]),
        _list_of(OptionContract),
        [CONTRACTS],
    ),
    "get_snapshots": (lambda c: c.get_snapshots(["AAPL"]), _list_of(Snapshot), [SNAPSHOTS]),
    "list_instructions": (lambda c: c.list_instructions(122503), _list_of(Instruction), [LISTED]),
    "submit_instructions": (_submit, _batch, SUBMITTED),
    "cancel_instruction": (
        lambda c: c.cancel_instruction(122503, "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e02"),
        lambda r: isinstance(r, Instruction),
        [CANCELLED],
    ),
    # The ports, which read these replies the lean way (``readers``) first.
    "port_positions": (
        lambda c: ClearStreetBookSource(c).positions(19816),
        _list_of(book.Position),
        [POSITIONS],
    ),
    "port_contracts": (
        lambda c: ClearStreetBookSource(c).contracts(["AAPL  260320C00180000"]),
        _list_of(book.Contract),
        [CONTRACTS],
    ),
    "port_list_instructions": (
        lambda c: ClearStreetInstructions(c).list_instructions(122503),
        _list_of(BrokerInstruction),
        [LISTED],
    ),
    "port_submit": (_port_submit, _port_batch, SUBMITTED),
}
EVERY_EXAMPLE = [e for _, _, examples in CALLS.values() for e in examples] + [RATE_LIMITED]

# ---------------------------------------------------------------- strategies


def _body(value: Any) -> bytes:
    return encode(value).encode()


class Raw(str):
    """JSON text put into a body as is: numbers json.dumps would not write."""


def encode(value: Any) -> str:
    """JSON text of ``value``; ``Raw`` parts verbatim, NaN and Infinity as Python writes them."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value)


NUMBERS = [
    "0",
    "-0",
    "1",
    "1.0",
    "-1",
    "45000.00",
    "1e3",
    "1E400",
    "-1e400",
    "1e-400",
    "1e9999",
    "123456789012345678901234567890",
    "0.1000000000000000000000000000000000001",
    "9" * 5000,  # more digits than int() reads: json.loads refuses it
    "NaN",
    "Infinity",
    "-Infinity",
]
STATUSES = [
    "SENT",
    "ACCEPTED",
    "REJECTED",
    "ENGINE_REJECTED",
    "CANCEL_REQUESTED",
    "CANCELLED",
    "CANCEL_FAILED",
    "UNKNOWN",
    "PENDING_OCC",
    " accepted ",
    "",
    "Sent\x00",
]
HTTP_STATUSES = [200, 207, 400, 404, 409, 429, 500, 503, 302, 418, 100, 201, 204, 299, 301]
HTTP_STATUSES += [304, 401, 403, 405, 422, 451, 502, 504, 599]
ENCODINGS = ["identity", "x-unknown"]  # gzip and deflate over plain bytes: pinned below
RETRY_AFTER = ["1", "0", "-5", "nan", "inf", "1e400", "", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(NUMBERS).map(Raw)
)
json_values = st.recursive(
    json_leaves,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=10,
)


def _places(value: Any, parent: Any = None, key: Any = None) -> list[tuple[Any, Any]]:
    """Every (container, key) of ``value``'s tree; (None, None) stands for the root."""
    found = [(parent, key)]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _places(v, value, k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _places(v, value, i)
    return found


SWAPS = {"instruction_id": "client_instruction_id", "client_instruction_id": "instruction_id"}
EDITS = st.integers(0, 4)
NEW_KEYS = st.sampled_from(["id", "data", "status", "instruction_id", "error", "Data"]) | st.text(
    max_size=12
)
NESTING = st.integers(1, 50)  # shallow: deep nesting is pinned below
NUMBER_TEXT = st.sampled_from(NUMBERS)
STATUS_TEXT = st.sampled_from(STATUSES)
SHORT_TEXT = st.text(max_size=30)


def _numeric(current: Any, draw: st.DrawFn) -> Any:
    """A number as a JSON number: the same digits when it was a string, or an odd one."""
    if isinstance(current, str) and current.replace(".", "", 1).isdigit():
        return Raw(current)
    return Raw(draw(NUMBER_TEXT))


def _with_extra(current: Any, draw: st.DrawFn) -> Any:
    if isinstance(current, dict):
        current[draw(NEW_KEYS)] = draw(json_values)
    return current


def _unwrapped(current: Any, _draw: st.DrawFn) -> Any:
    items = list(current.values()) if isinstance(current, dict) else current
    return items[0] if isinstance(items, list) and items else current


def _nested(current: Any, draw: st.DrawFn) -> Any:
    for _ in range(draw(NESTING)):
        current = [current]
    return current


REPLACEMENTS: dict[str, Callable[[Any, st.DrawFn], Any]] = {
    "null": lambda _current, _draw: None,
    "json": lambda _current, draw: draw(json_values),
    "number": _numeric,
    "string": lambda current, _draw: encode(current),
    "status": lambda _current, draw: draw(STATUS_TEXT),
    "extra": _with_extra,
    "wrap": lambda current, _draw: [current],
    "unwrap": _unwrapped,
    "nest": _nested,
    "text": lambda _current, draw: draw(SHORT_TEXT),
    "repeat": lambda current, _draw: (
        current + current if isinstance(current, list | str) else current
    ),
}
OPS = st.sampled_from(["delete", "rename", *REPLACEMENTS])


@st.composite
def mutated(draw: st.DrawFn, examples: list[dict[str, Any]]) -> Any:
    """An example reply with a few random edits anywhere in its tree: a field removed or
    renamed (``instruction_id`` <-> ``client_instruction_id``), or a value replaced."""
    value: Any = copy.deepcopy(draw(st.sampled_from(examples)))
    for _ in range(draw(EDITS)):
        parent, key = draw(st.sampled_from(_places(value)))
        op = draw(OPS)
        if op in {"delete", "rename"}:
            if isinstance(parent, dict):
                moved = parent.pop(key)
                if op == "rename":
                    parent[SWAPS.get(key) or draw(NEW_KEYS)] = moved
            elif isinstance(parent, list):
                parent.pop(key)
            else:
                value = {}
        elif parent is None:
            value = REPLACEMENTS[op](value, draw)
        else:
            parent[key] = REPLACEMENTS[op](parent[key], draw)
    return value


_ANY_EXAMPLE_MUTATED = mutated(EVERY_EXAMPLE).map(_body)


def _response(
    status: int, retry_after: str | None, encoding: str | None, body: bytes
) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return httpx.Response(status, headers=headers, content=body)


def replies(examples: list[dict[str, Any]]) -> st.SearchStrategy[list[httpx.Response]]:
    """One to three replies, served in turn (the last again and again). Built once per
    method: a strategy built inside a draw costs Hypothesis milliseconds to describe."""
    body = st.one_of(
        st.binary(max_size=300),
        json_values.map(_body),
        mutated(examples).map(_body),
        _ANY_EXAMPLE_MUTATED,
    )
    reply = st.builds(
        _response,
        st.sampled_from(HTTP_STATUSES),
        st.none() | st.sampled_from(RETRY_AFTER),
        st.none() | st.sampled_from(ENCODINGS),
        body,
    )
    return st.lists(reply, min_size=1, max_size=3)


# ---------------------------------------------------------------- the client


async def _no_sleep(_seconds: float) -> None:
    return None


class Server:
    """Answers with the given replies in turn, and refuses to be asked forever."""

    def __init__(self, answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise AssertionError(f"unbounded: {self.requests} requests to {request.url.path}")
        answer = self.answers[min(self.requests, len(self.answers)) - 1]
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


def client_for(server: Server) -> ClearStreetClient:
    return ClearStreetClient(
        base_url="https://broker.test",
        api_key=SecretStr("fuzz-key"),
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        sleep=_no_sleep,
    )


async def typed_or_broker_error(method: str, answers: list[httpx.Response]) -> None:
    call, typed, _ = CALLS[method]
    server = Server(answers)
    async with client_for(server) as client:
        try:
            result = await call(client)
        except BrokerError:
            return
    assert typed(result), f"{method} returned {result!r}"


def fuzzed(method: str) -> Callable[..., Awaitable[None]]:
    """The property for one method, over its own example replies (and everyone's).
    Everything is drawn before the coroutine starts: Hypothesis's control flow is a
    BaseException, which must not cross the event loop."""

    @FUZZ
    @given(answers=replies(CALLS[method][2]))
    async def test(answers: list[httpx.Response]) -> None:
        await typed_or_broker_error(method, answers)

    return test


test_list_accounts_reads_any_reply = fuzzed("list_accounts")
test_get_positions_reads_any_reply = fuzzed("get_positions")
test_get_balances_reads_any_reply = fuzzed("get_balances")
test_get_option_contracts_reads_any_reply = fuzzed("get_option_contracts")
test_get_snapshots_reads_any_reply = fuzzed("get_snapshots")
test_list_instructions_reads_any_reply = fuzzed("list_instructions")
test_submit_instructions_reads_any_reply = fuzzed("submit_instructions")
test_cancel_instruction_reads_any_reply = fuzzed("cancel_instruction")
test_port_positions_reads_any_reply = fuzzed("port_positions")
test_port_contracts_reads_any_reply = fuzzed("port_contracts")
test_port_list_instructions_reads_any_reply = fuzzed("port_list_instructions")
test_port_submit_reads_any_reply = fuzzed("port_submit")


def test_every_client_method_is_fuzzed() -> None:
    fuzzed_names = {n for n in globals() if n.endswith("_reads_any_reply")}
    assert fuzzed_names == {f"test_{m}_reads_any_reply" for m in CALLS}


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("status", [200, 503])
async def test_a_deeply_nested_reply_is_a_broker_error(method: str, status: int) -> None:
    depth = 100_000
    body = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    await typed_or_broker_error(method, [httpx.Response(status, content=body)])


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_is_a_broker_error(method: str, encoding: str) -> None:
    body = encode(CALLS[method][2][0]).encode()
    call, typed, _ = CALLS[method]

    def mislabelled(request: httpx.Request) -> httpx.Response:
        # built here, inside the transport: httpx decodes (and fails) as it builds it
        return httpx.Response(200, headers={"Content-Encoding": encoding}, content=body)

    async with ClearStreetClient(
        base_url="https://broker.test",
        api_key=SecretStr("fuzz-key"),
        transport=httpx.MockTransport(mislabelled),
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
        sleep=_no_sleep,
    ) as client:
        try:
            result = await call(client)
        except BrokerError:
            return
    assert typed(result), f"{method} returned {result!r}"


async def test_an_account_id_beyond_int64_is_a_broker_error_not_a_crash() -> None:
    account = {"id": Raw("1e5000"), "status": "ACTIVE", "short_name": "X"}
    body = encode({"data": [account], "error": None, "metadata": META}).encode()
    async with client_for(Server([httpx.Response(200, content=body)])) as client:
        source = ClearStreetBookSource(client)
        try:
            for account_id in await source.account_ids():
                await source.positions(account_id)
        except BrokerError:
            return


# ---------------------------------------------------------------- the models alone

field_names = st.sampled_from(
    [*Instruction.model_fields, "client_instruction_id", "rejection_reason", "status"]
)
python_values = (
    json_values
    | st.decimals()
    | st.sampled_from(
        [Decimal("1E+999"), Decimal("-1E+999"), Decimal("NaN"), Decimal("sNaN"), Decimal("-0")]
    )
)


def _decoded(value: Any) -> Any:
    """What json.loads makes of it, as the client reads it; None when it refuses."""
    try:
        return json.loads(encode(value), parse_float=Decimal)
    except ValueError:
        return None


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


@FUZZ
@given(
    payload=st.one_of(
        st.dictionaries(field_names | st.text(max_size=10), python_values, max_size=14),
        st.fixed_dictionaries({k: st.just(v) | python_values for k, v in INSTRUCTION.items()}),
        mutated([INSTRUCTION, REJECTED_ROW, PREVIEW_ROW]).map(_decoded).filter(_is_dict),
        json_values,
    )
)
def test_an_instruction_validates_or_raises_validation_error(payload: Any) -> None:
    try:
        row = Instruction.model_validate(payload)
    except ValidationError:
        return
    assert isinstance(row.instruction_id, str)
    assert isinstance(row.account_id, int)
    assert isinstance(row.quantity, Decimal)
    assert row.raw_status == str(payload["status"])
