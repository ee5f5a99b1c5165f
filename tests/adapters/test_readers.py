"""The lean readers (reply data straight to domain values) against the exact way (the
pydantic models, then the ``to_*`` copies): whatever the lean way returns, the exact way
returns too, value for value; whatever it does not handle goes the exact way, so what
is refused and every error message stay the models'. Every API revision's rows must
take the lean way, and numbers in money and quantity fields must stay exact."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from exerciser.adapters.clearstreet import readers
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, InstructionRequest
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.domain.book import Right
from exerciser.domain.instructions import InstructionStatus, InstructionType
from exerciser.domain.ledger import LedgerRow
from exerciser.errors import BrokerAmbiguousError, BrokerProtocolError

pytestmark = pytest.mark.anyio

POSITION: dict[str, Any] = {
    "account_id": 19816,
    "instrument_id": "e5e6e7e8-f5f6-a5a6-b5b6-b7b8b9babcbe",
    "symbol": "AAPL  261120C00190000",
    "instrument_type": "OPTION",
    "quantity": "-10",
    "available_quantity": "7.5",
    "market_value": "2700.00",
    "position_type": "SHORT",
    "instrument_price": "2.70",
    "closing_price": "2.65",
    "closing_price_date": "2026-11-20",
    "underlying_instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
    "avg_price": None,
}
SHARES: dict[str, Any] = {
    **POSITION,
    "instrument_type": "COMMON_STOCK",
    "symbol": "AAPL",
    "quantity": "100",
    "position_type": "LONG",
    "underlying_instrument_id": None,
}
CONTRACT: dict[str, Any] = {
    "id": "b6f4b5e2-94a8-4fe4-9a85-2b4a81d30cc5",
    "symbol": "AAPL  261120C00190000",
    "contract_type": "CALL",
    "currency": "USD",
    "exercise_style": "AMERICAN",
    "expiry": "2026-11-20",
    "strike_price": "190",
    "multiplier": "100",
    "listing_type": "STANDARD",
    "is_settle_on_open": False,
    "last_trade_cutoff": "2026-11-20T21:00:00Z",
    "underlying_instrument_id": "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8",
}
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
    "updated_at": "2026-04-24T14:30:00.123456+00:00",
}
# The three API revisions of a rejected row (the simulator's names for them).
SDK_DOCS: dict[str, Any] = {
    **INSTRUCTION,
    "id": "00000000-0000-0000-0000-000000000000",
    "status": "ENGINE_REJECTED",
    "rejection_reason": "Duplicate exercise instruction",
}
OPENAPI: dict[str, Any] = {**SDK_DOCS, "status": "REJECTED"}
PREVIEW: dict[str, Any] = {
    **{k: v for k, v in OPENAPI.items() if k != "instruction_id"},
    "client_instruction_id": "ui-20260424-001",
    "rejection": {
        "reason": "DUPLICATE_INSTRUCTION",
        "description": "Duplicate exercise instruction",
        "domain": "POSITION_INSTRUCTIONS",
        "metadata": {"existing_id": "019e7415-de03-70c3-8ca1-9fdb72dfdbbc", "attempt": 2},
    },
}
ACCEPTED: dict[str, Any] = {**INSTRUCTION, "status": "ACCEPTED", "accepted_quantity": "1"}

Reader = Callable[[Any], list[Any]]
KINDS: dict[str, tuple[Reader, Reader, list[dict[str, Any]]]] = {
    "positions": (readers.lean_positions, readers.exact_positions, [POSITION, SHARES]),
    "contracts": (readers.lean_contracts, readers.exact_contracts, [CONTRACT]),
    "instructions": (
        readers.lean_instructions,
        readers.exact_instructions,
        [INSTRUCTION, SDK_DOCS, OPENAPI, PREVIEW, ACCEPTED],
    ),
}


def wire(value: Any) -> Any:
    """``value`` as the client has it: through JSON text, numbers read exactly."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def same(lean: list[Any], exact: list[Any]) -> bool:
    """Equal, and written the same: Decimal("1.50") is not read as Decimal("1.5")."""
    return lean == exact and repr(lean) == repr(exact)


def lean_or_none(lean: Reader, data: Any) -> list[Any] | None:
    try:
        return lean(data)
    except readers.Unusual:
        return None


def exact_or_none(exact: Reader, data: Any) -> list[Any] | None:
    try:
        return exact(data)
    except ValidationError:
        return None


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_documented_row_takes_the_lean_way_and_reads_as_the_models_do(kind: str) -> None:
    lean, exact, rows = KINDS[kind]
    data = wire(rows)
    assert same(lean(data), exact(data))
    assert len(lean(data)) == len(rows)


@pytest.mark.parametrize(
    ("row", "status", "reason", "code"),
    [
        pytest.param(SDK_DOCS, InstructionStatus.ENGINE_REJECTED, "Duplicate", None, id="sdk-docs"),
        pytest.param(OPENAPI, InstructionStatus.REJECTED, "Duplicate", None, id="openapi"),
        pytest.param(
            PREVIEW, InstructionStatus.REJECTED, "Duplicate", "DUPLICATE_INSTRUCTION", id="preview"
        ),
        pytest.param(
            {k: v for k, v in PREVIEW.items() if k != "rejection_reason"},
            InstructionStatus.REJECTED,
            "Duplicate",
            "DUPLICATE_INSTRUCTION",
            id="preview-object-only",
        ),
    ],
)
def test_each_revision_reads_the_same_way_lean(
    row: dict[str, Any], status: InstructionStatus, reason: str, code: str | None
) -> None:
    (read,) = readers.lean_instructions(wire([row]))
    assert read.instruction_id == "ui-20260424-001"
    assert read.status is status
    assert read.raw_status == row["status"]
    assert read.reason is not None
    assert read.reason.startswith(reason)
    assert read.reason_code == code
    assert not read.stored


def test_lean_values_are_the_domain_values() -> None:
    short, shares = readers.lean_positions(wire([POSITION, SHARES]))
    assert (short.is_option, short.is_short, short.quantity) == (True, True, Decimal("-10"))
    assert short.available_quantity == Decimal("7.5")
    assert (shares.is_option, shares.is_short, shares.underlying_id) == (False, False, None)
    (contract,) = readers.lean_contracts(wire([{**CONTRACT, "contract_type": " put "}]))
    assert (contract.right, contract.expiry) == (Right.PUT, date(2026, 11, 20))
    assert (contract.strike, contract.multiplier) == (Decimal(190), Decimal(100))
    (accepted,) = readers.lean_instructions(wire([ACCEPTED]))
    assert (accepted.status, accepted.accepted_quantity) == (InstructionStatus.ACCEPTED, 1)


EXACT = "12345678901234567890.123456789"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_json_numbers_in_money_and_quantity_fields_stay_exact(kind: str) -> None:
    lean, exact, rows = KINDS[kind]
    fields = {
        "positions": ["quantity", "available_quantity", "closing_price"],
        "contracts": ["strike_price", "multiplier"],
        "instructions": ["quantity", "accepted_quantity"],
    }[kind]
    text = json.dumps(rows[0])
    for field in fields:
        text = text.replace(f'"{field}": "{rows[0][field]}"', f'"{field}": {EXACT}')
        text = text.replace(f'"{field}": null', f'"{field}": {EXACT}')
    data = json.loads(f"[{text}]", parse_float=Decimal)
    assert all(isinstance(data[0][f], Decimal) for f in fields)
    assert same(lean(data), exact(data))
    values = [getattr(lean(data)[0], name) for name in _domain_names(kind)]
    assert values
    assert all(v == Decimal(EXACT) and str(v) == EXACT for v in values)


def _domain_names(kind: str) -> list[str]:
    return {
        "positions": ["quantity", "available_quantity"],
        "contracts": ["strike", "multiplier"],
        "instructions": ["quantity", "accepted_quantity"],
    }[kind]


def test_integers_and_text_with_spaces_read_as_the_models_read_them() -> None:
    row = {**POSITION, "quantity": 12, "available_quantity": " 3 ", "closing_price": "  "}
    data = wire([row])
    assert same(readers.lean_positions(data), readers.exact_positions(data))


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("positions", {"quantity": "NaN"}),
        ("positions", {"quantity": "-Infinity"}),
        ("positions", {"closing_price": "abc"}),
        ("positions", {"account_id": 2**63}),
        ("positions", {"account_id": True}),
        ("positions", {"symbol": None}),
        ("contracts", {"contract_type": "STRADDLE"}),
        ("contracts", {"expiry": "2026-02-30"}),
        ("contracts", {"expiry": 20261120}),
        ("contracts", {"is_settle_on_open": "yes"}),
        ("instructions", {"created_at": "2026-13-01T00:00:00Z"}),
        ("instructions", {"created_at": "yesterday"}),
        ("instructions", {"instruction_id": None}),
        ("instructions", {"status": 7}),
        ("instructions", {"rejection": ["not", "an", "object"]}),
        ("instructions", {"rejection": {"metadata": ["x"]}}),
        ("instructions", {"quantity": 1.5}),  # a float: only parse_float=Decimal is exact
    ],
)
def test_anything_unusual_goes_the_exact_way(kind: str, change: dict[str, Any]) -> None:
    lean, exact, rows = KINDS[kind]
    data = [{**rows[0], **change}]
    with pytest.raises(readers.Unusual):
        lean(data)
    read = {"positions": readers.positions, "contracts": readers.contracts}.get(
        kind, readers.instructions
    )
    assert exact_or_none(exact, data) == _or_none(read, data)


def _or_none(read: Reader, data: Any) -> list[Any] | None:
    try:
        return read(data)
    except ValidationError:
        return None


def test_a_missing_key_of_either_revision_goes_the_exact_way() -> None:
    row = {k: v for k, v in INSTRUCTION.items() if k != "instruction_id"}
    with pytest.raises(readers.Unusual):
        readers.lean_instructions([row])
    with pytest.raises(ValidationError, match="instruction_id"):
        readers.instructions([row])


# ------------------------------------------------------------ fuzzed rows

ODD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        2**63,
        -(2**63),
        Decimal("1.50"),
        Decimal("-0"),
        Decimal("NaN"),
        Decimal("Infinity"),
        1.5,
        "",
        " ",
        "0",
        "-0",
        "007",
        " 12 ",
        "1e5",
        "+1",
        "1_000",
        "NaN",
        "inf",
        "abc",
        "call",
        " put ",
        "Call",
        "OPTION",
        "option",
        "short_call",
        "SHORT",
        "ACCEPTED",
        " accepted ",
        "PENDING_OCC",
        "2026-11-20",
        "2026-11-20T21:00:00Z",
        "2026-11-20T21:00:00+14:00",
        "2026-11-20T21:00:00.1234567Z",
        "2026-11-20 21:00:00Z",
        "2026-11-20T21:00:00",
        "2026-02-30",
        "0000-01-01",
        "true",
        "1",
        [],
        {},
        ["x"],
        {"reason": "R", "description": None, "metadata": {"n": 1, "none": None}},
        {"reason": "", "description": ""},
    ]
)


@st.composite
def mutated_rows(draw: st.DrawFn, rows: list[dict[str, Any]]) -> list[Any]:
    """Rows of one kind, each with a few keys dropped, renamed or given odd values."""
    out: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        row = copy.deepcopy(draw(st.sampled_from(rows)))
        for _ in range(draw(st.integers(0, 3))):
            key = draw(st.sampled_from([*row, "client_instruction_id", "rejection"]))
            op = draw(st.sampled_from(["drop", "rename", "odd", "odd", "odd"]))
            if op == "drop":
                row.pop(key, None)
            elif op == "rename" and key in row:
                row[draw(st.sampled_from(["instruction_id", "client_instruction_id", "x"]))] = (
                    row.pop(key)
                )
            else:
                row[key] = draw(ODD_VALUES)
        out.append(row)
    return out


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_lean_way_never_disagrees_with_the_models(kind: str) -> None:
    lean, exact, rows = KINDS[kind]

    @FUZZ
    @given(data=mutated_rows(rows) | st.sampled_from([None, {}, "x", [None], [[]]]))
    def check(data: Any) -> None:
        fast = lean_or_none(lean, data)
        if fast is not None:
            assert same(fast, exact(data))

    check()


# ------------------------------------------------------------ through the client


def _client(*bodies: bytes, status: int = 200) -> ClearStreetClient:
    replies = iter(bodies)

    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=next(replies))

    return ClearStreetClient(
        base_url="https://broker.test", api_key=SecretStr("k"), transport=httpx.MockTransport(reply)
    )


def _envelope(data_text: str) -> bytes:
    return ('{"data": ' + data_text + ', "error": null, "metadata": {}}').encode()


async def test_the_book_source_reads_numbers_exactly_over_the_wire() -> None:
    text = json.dumps([POSITION]).replace('"-10"', EXACT)
    async with _client(_envelope(text)) as client:
        (position,) = await ClearStreetBookSource(client).positions(19816)
    assert str(position.quantity) == EXACT


async def test_the_instruction_port_reads_every_revision_over_the_wire() -> None:
    rows = json.dumps([INSTRUCTION, SDK_DOCS, OPENAPI, PREVIEW, ACCEPTED])
    reply = '{"data": ' + rows + ', "error": {"code": 409, "message": "dup"}, "metadata": {}}'
    async with _client(_envelope(rows), reply.encode()) as client:
        port = ClearStreetInstructions(client)
        listed = await port.list_instructions(122503)
        ledger_row = LedgerRow(
            instruction_id="ui-20260424-001",
            business_date=date(2026, 4, 24),
            account_id=122503,
            instrument_id="0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01",
            symbol="AAPL  280121C00195000",
            instruction_type=InstructionType.EXERCISE,
            quantity=Decimal(1),
        )
        submitted = await port.submit(122503, [ledger_row])
    expected = readers.exact_instructions(wire(json.loads(rows)))
    assert same(listed, expected)
    assert same(list(submitted.rows), expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data": [', "reply is not a JSON object"),
        (_envelope('[{"quantity": "abc"}]'), "unexpected reply: data.0.account_id: Field required"),
        (_envelope("{}"), "unexpected reply: data: Input should be a valid list"),
    ],
)
async def test_broken_replies_are_protocol_errors_worded_as_before(
    body: bytes, message: str
) -> None:
    async with _client(body, body, body, body) as client:
        with pytest.raises(BrokerProtocolError) as lean_way:
            await ClearStreetBookSource(client).positions(1)
    async with _client(body, body, body, body) as client:
        with pytest.raises(BrokerProtocolError) as model_way:
            await client.get_positions(1)
    assert str(lean_way.value) == str(model_way.value)
    assert message in str(lean_way.value)
    assert "\n" not in str(lean_way.value)


async def test_a_submit_reply_of_the_wrong_shape_is_ambiguous_either_way() -> None:
    body = _envelope('[{"id": "x"}]')
    request = InstructionRequest(
        instruction_id="k",
        instruction_type=InstructionType.EXERCISE,
        instrument_id="i",
        quantity=Decimal(1),
    )
    async with _client(body, body) as client:
        with pytest.raises(BrokerAmbiguousError, match=r"data\.0\.account_id"):
            await client.submit_instructions_as(1, [request], readers.instructions)
        with pytest.raises(BrokerAmbiguousError, match=r"data\.0\.account_id"):
            await client.submit_instructions(1, [request])


def test_recurring_text_is_read_once_and_the_caches_are_bounded() -> None:
    first, second = readers.lean_positions(wire([POSITION, POSITION]))
    assert first == second
    assert first.quantity is second.quantity
    for n in range(readers._KEPT + 10):
        readers._decimal(f"{n}.25")
    assert len(readers._decimals) <= readers._KEPT
    assert readers._decimal("123456.25") == Decimal("123456.25")
