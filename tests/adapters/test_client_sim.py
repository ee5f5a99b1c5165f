"""The client against the real simulator, over HTTP on 127.0.0.1: pagination, reads, every
batch outcome, the instruction lifecycle, retries and their bound on real faults, timeouts,
auth, and each API revision read tolerantly. Exact wire bytes are pinned in
``test_client_wire.py``; here neither side is a double."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exerciser.adapters.clearstreet.client import (
    ClearStreetClient,
    IdField,
    InstructionRequest,
    RetryPolicy,
)
from exerciser.adapters.clearstreet.pool import Origin, Reply
from exerciser.adapters.clearstreet.transport import AsyncioTransport
from exerciser.domain.instructions import InstructionStatus, InstructionType
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
from exerciser.sim import Simulator, parse_scenario, running_simulator

pytestmark = pytest.mark.anyio

ACCOUNT = 1001
CLOSE_AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York
SETTLE = timedelta(seconds=60)  # the book's lifecycle is driven by sim time only
ZERO_ID = "00000000-0000-0000-0000-000000000000"
RETRY_AFTER = 3
UNKNOWN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "no-such-contract"))
SENT, ACCEPTED, REJECTED = (
    InstructionStatus.SENT,
    InstructionStatus.ACCEPTED,
    InstructionStatus.REJECTED,
)

CALL_150 = "AAPL  261120C00150000"
CALL_190 = "AAPL  261120C00190000"
DEC_180 = "AAPL  261218C00180000"  # expires after the business date
PUT_200_REJECTED = "AAPL  261120P00200000"
CALL_160_PARTIAL = "AAPL  261120C00160000"
CALL_170_CANCEL_FAILS = "AAPL  261120C00170000"
HELD = [CALL_150, CALL_190, DEC_180, PUT_200_REJECTED, CALL_160_PARTIAL, CALL_170_CANCEL_FAILS]

BOOK = """
business_date: 2026-11-20
close_at: 2026-11-20T16:00:00-05:00
lifecycle: {settle_after_polls: null, settle_after_seconds: 60}
underlyings:
  - {symbol: AAPL, close: "190.40", last: "191.10", previous_close: "188.00"}
contracts:
  - {symbol: "AAPL  261120C00150000", underlying: AAPL}
  - {symbol: "AAPL261120C00190000", underlying: AAPL}
  - {symbol: "AAPL  261218C00180000", underlying: AAPL}
  - {symbol: "AAPL  261120P00200000", underlying: AAPL, outcome: reject,
     reject_reason: "Rejected by OCC"}
  - {symbol: "AAPL  261120C00160000", underlying: AAPL, outcome: partial,
     accepted_fraction: "0.5"}
  - {symbol: "AAPL  261120C00170000", underlying: AAPL, cancel_outcome: cancel_failed,
     cancel_failed_reason: "Too late to cancel"}
accounts:
  - id: 1001
    balances: {buying_power: "250000.50", equity: "400000.00"}
    positions:
      - {symbol: "AAPL  261120C00150000", quantity: "10"}
      - {symbol: "AAPL  261120C00190000", quantity: "5"}
      - {symbol: "AAPL  261218C00180000", quantity: "3"}
      - {symbol: "AAPL  261120P00200000", quantity: "4"}
      - {symbol: "AAPL  261120C00160000", quantity: "3"}
      - {symbol: "AAPL  261120C00170000", quantity: "2"}
      - {symbol: AAPL, quantity: "400"}
  - {id: 1002}
  - {id: 1003}
  - {id: 1004}
  - {id: 1005}
"""


class Clock:
    """The simulator's clock: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)  # 14:00 New York

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    """A running simulator, its clock, and what the clients did to it: each request's
    method and path, and each backoff delay (recorded, never slept)."""

    sim: Simulator
    clock: Clock
    requests: list[tuple[str, str]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)

    def connect(self, **options: Any) -> ClearStreetClient:
        """A client of the simulator (3 tries per GET); keyword arguments override."""
        settings: dict[str, Any] = {
            "base_url": self.sim.base_url,
            "api_key": SecretStr(self.sim.token),
            "retry": RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.04),
            "sleep": self.sleep,
            "rng": random.Random(7),
            "transport": _Recording(self.requests),
            **options,
        }
        return ClearStreetClient(**settings)

    def count(self, method: str, path_end: str) -> int:
        return sum(1 for m, path in self.requests if m == method and path.endswith(path_end))

    def contract_id(self, symbol: str) -> str:
        instrument = self.sim.book.resolve(symbol)
        assert instrument is not None, symbol
        return instrument.id

    def req(
        self, symbol: str, quantity: str = "1", *, key: str = "k-1", kind: str = "EXERCISE"
    ) -> InstructionRequest:
        return InstructionRequest(
            instruction_id=key,
            instruction_type=InstructionType(kind),
            instrument_id=self.contract_id(symbol),
            quantity=Decimal(quantity),
        )

    def stored(self) -> list[str]:
        """The keys the broker holds, whatever the revision calls the field."""
        rows = self.sim.book.instructions(ACCOUNT)
        return [r.get("instruction_id") or r["client_instruction_id"] for r in rows]


class _Recording(AsyncioTransport):
    """Real HTTP through the client's own path (our pool, asked for whole replies), with
    each request's method and path noted."""

    def __init__(self, requests: list[tuple[str, str]]) -> None:
        super().__init__(limits=httpx.Limits(max_connections=8))
        self._requests = requests

    async def exchange(self, origin: Origin, method: str, target: bytes, **request: Any) -> Reply:
        self._requests.append((method, target.split(b"?")[0].decode("ascii")))
        return await super().exchange(origin, method, target, **request)


@pytest.fixture
def book_options() -> dict[str, object]:
    """Top-level scenario keys to add; a test overrides it with ``parametrize``."""
    return {}


@pytest.fixture
def env(book_options: dict[str, object]) -> Iterator[Env]:
    extra = "".join(f"{key}: {value}\n" for key, value in book_options.items())
    scenario = parse_scenario(extra + BOOK, source="client-sim-book")
    clock = Clock()
    with running_simulator(scenario, clock=clock) as sim:
        sim.faults.retry_after_seconds = RETRY_AFTER
        yield Env(sim, clock)


@pytest.fixture
async def client(env: Env) -> AsyncIterator[ClearStreetClient]:
    async with env.connect() as opened:
        yield opened


# ------------------------------------------------------------------------------ reads


@pytest.mark.parametrize(
    ("book_options", "page_size", "pages"),
    [
        pytest.param({"page_size": 2}, 1000, (4, 3), id="broker-caps-pages-at-2"),
        pytest.param({}, 3, (3, 2), id="client-asks-for-3"),
        pytest.param({}, 1000, (1, 1), id="one-page"),
    ],
)
async def test_paginated_reads_return_every_item_once_in_order(
    env: Env, page_size: int, pages: tuple[int, int]
) -> None:
    async with env.connect(page_size=page_size) as client:
        positions = await client.get_positions(ACCOUNT)
        accounts = await client.list_accounts()

    assert [p.symbol for p in positions] == [*HELD, "AAPL"]
    assert [p.is_option for p in positions] == [True] * 6 + [False]
    assert positions[0].quantity == Decimal(10)
    assert [a.id for a in accounts] == [1001, 1002, 1003, 1004, 1005]
    assert (env.count("GET", "/positions"), env.count("GET", "/v1/accounts")) == pages


async def test_balances_read_buying_power_as_an_exact_decimal(client: ClearStreetClient) -> None:
    balances = await client.get_balances(ACCOUNT)

    assert balances.account_id == ACCOUNT
    assert balances.buying_power == Decimal("250000.50")
    assert str(balances.buying_power) == "250000.50"
    assert balances.equity == Decimal("400000.00")


async def test_option_contracts_are_found_by_id_and_by_osi_symbol(
    env: Env, client: ClearStreetClient
) -> None:
    wanted = [env.contract_id(CALL_150), "AAPL261120C00190000"]

    contracts = await client.get_option_contracts(wanted)

    assert [(c.id, c.symbol, c.contract_type, c.strike_price) for c in contracts] == [
        (wanted[0], CALL_150, "CALL", Decimal(150)),
        (env.contract_id(CALL_190), CALL_190, "CALL", Decimal(190)),
    ]
    assert {(c.expiry, c.multiplier) for c in contracts} == {(date(2026, 11, 20), Decimal(100))}


async def test_more_than_100_contract_ids_are_split_and_unknown_ones_left_out(
    env: Env, client: ClearStreetClient
) -> None:
    unknown = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"no-such-contract:{n}")) for n in range(120)]
    wanted = [env.contract_id(CALL_150), *unknown[:60], DEC_180, *unknown[60:], PUT_200_REJECTED]

    contracts = await client.get_option_contracts(wanted)

    assert [c.symbol for c in contracts] == [CALL_150, DEC_180, PUT_200_REJECTED]
    assert env.count("GET", "/contracts") == 2


@pytest.mark.parametrize("book_options", [{"page_size": 2}], ids=["broker-caps-pages-at-2"])
async def test_option_contracts_follow_next_page_token_within_a_chunk(
    client: ClearStreetClient,
) -> None:
    contracts = await client.get_option_contracts([CALL_150, CALL_190, DEC_180])

    assert [c.symbol for c in contracts] == [CALL_150, CALL_190, DEC_180]


async def test_snapshots_switch_from_close_to_last_when_the_clock_passes_close_at(
    env: Env, client: ClearStreetClient
) -> None:
    stock, option = await client.get_snapshots(["AAPL", CALL_150])
    env.clock.now = CLOSE_AT + timedelta(minutes=5)
    [later] = await client.get_snapshots(["AAPL"])

    assert stock.last_trade is not None
    assert stock.session is not None
    assert (stock.last_trade.price, stock.session.previous_close) == (
        Decimal("190.40"),
        Decimal("188.00"),
    )
    assert stock.last_trade.timestamp == CLOSE_AT - timedelta(seconds=1)
    assert (option.symbol, option.last_trade) == (CALL_150, None)
    assert later.last_trade is not None
    assert (later.last_trade.price, later.last_trade.timestamp) == (
        Decimal("191.10"),
        env.clock.now,
    )


async def test_a_snapshot_of_an_unknown_instrument_is_not_found_and_not_retried(
    env: Env, client: ClearStreetClient
) -> None:
    with pytest.raises(BrokerNotFoundError, match="Instrument not found"):
        await client.get_snapshots(["AAPL", "NOPE"])

    assert env.count("GET", "/snapshot") == 1


async def test_list_instructions_can_be_filtered_by_instrument_id_or_symbol(
    env: Env, client: ClearStreetClient
) -> None:
    await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="a"), env.req(CALL_190)])

    every = await client.list_instructions(ACCOUNT)
    by_symbol = await client.list_instructions(ACCOUNT, instrument_id=CALL_190)
    by_id = await client.list_instructions(ACCOUNT, instrument_id=env.contract_id(CALL_150))

    assert [i.instruction_id for i in every] == ["a", "k-1"]
    assert [i.instruction_id for i in by_symbol] == ["k-1"]
    assert [i.instruction_id for i in by_id] == ["a"]


# ----------------------------------------------------------------------------- submit


async def test_a_clean_batch_is_200_with_every_row_sent(
    env: Env, client: ClearStreetClient
) -> None:
    batch = [env.req(CALL_150, "10", key="a"), env.req(CALL_190, "5", key="b"), env.req(DEC_180)]

    reply = await client.submit_instructions(ACCOUNT, batch)

    assert (reply.http_status, reply.partial, reply.message) == (200, False, None)
    assert reply.request_id
    assert [(r.instruction_id, r.status, r.quantity, r.symbol) for r in reply.rows] == [
        ("a", SENT, Decimal(10), CALL_150),
        ("b", SENT, Decimal(5), CALL_190),
        ("k-1", SENT, Decimal(1), DEC_180),
    ]
    assert all(r.id not in (None, ZERO_ID) for r in reply.rows)
    assert env.stored() == ["a", "b", "k-1"]


@pytest.mark.parametrize(
    ("key", "quantity", "reason"),
    [
        pytest.param("a", "1", "Duplicate exercise instruction; existing_id=", id="dup-key"),
        pytest.param("b", "6", "Insufficient position: requested 6, available 5", id="short"),
    ],
)
async def test_a_partial_batch_is_207_with_every_row_and_reasons_on_the_rejected(
    env: Env, client: ClearStreetClient, key: str, quantity: str, reason: str
) -> None:
    batch = [env.req(CALL_150, key="a"), env.req(CALL_190, quantity, key=key)]

    reply = await client.submit_instructions(ACCOUNT, batch)

    assert (reply.http_status, reply.partial) == (207, True)
    assert reply.message
    sent, refused = reply.rows
    assert (sent.instruction_id, sent.status, sent.reason) == ("a", SENT, None)
    assert (refused.instruction_id, refused.status, refused.id) == (key, REJECTED, ZERO_ID)
    assert (refused.reason or "").startswith(reason)
    assert env.stored() == ["a"]


async def test_resubmitting_a_stored_key_is_a_conflict_that_carries_the_rows(
    env: Env, client: ClearStreetClient
) -> None:
    first = await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="a")])

    with pytest.raises(BrokerConflictError) as caught:
        await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="a")])

    [row] = caught.value.rows
    assert (caught.value.status, row.instruction_id, row.status) == (409, "a", REJECTED)
    assert row.reason == f"Duplicate exercise instruction; existing_id={first.rows[0].id}"
    assert env.stored() == ["a"]


OFF_EXPIRY = "must be submitted on the contract's expiration date"


@pytest.mark.parametrize(
    ("instrument", "quantity", "kind", "error"),
    [
        pytest.param(UNKNOWN_ID, "1", "EXERCISE", BrokerNotFoundError, id="unknown-id"),
        pytest.param("AAPL261120C00150000", "1", "EXERCISE", BrokerNotFoundError, id="osi-as-id"),
        pytest.param(CALL_150, "1.5", "EXERCISE", BrokerValidationError, id="fraction"),
        pytest.param(CALL_150, "0", "EXERCISE", BrokerValidationError, id="zero"),
        pytest.param(DEC_180, "1", "DO_NOT_EXERCISE", BrokerValidationError, id="dne-off-expiry"),
        pytest.param(DEC_180, "1", "CONTRARY_EXERCISE", BrokerValidationError, id="cea-off-expiry"),
    ],
)
async def test_a_batch_refused_whole_raises_and_stores_nothing(
    env: Env, instrument: str, quantity: str, kind: str, error: type[BrokerError]
) -> None:
    row = InstructionRequest(
        instruction_id="k-1",
        instruction_type=InstructionType(kind),
        # a padded symbol of the book is sent as its id; anything else is sent as it is
        instrument_id=env.contract_id(instrument) if instrument in HELD else instrument,
        quantity=Decimal(quantity),
    )
    async with env.connect() as client:
        with pytest.raises(error) as caught:
            await client.submit_instructions(ACCOUNT, [row])

    # Pre-flight refusals carry no rows; off-expiry ones carry the judged row.
    reasons = [] if kind == "EXERCISE" else [f"{kind} {OFF_EXPIRY}"]
    assert [r.reason for r in caught.value.rows] == reasons
    assert env.stored() == []
    assert (env.sim.book.submit_count, env.count("POST", "/instructions")) == (1, 1)


@pytest.mark.parametrize(
    ("fault", "error", "stored"),
    [
        pytest.param("submit_503", BrokerTransientError, [], id="clearing-503"),
        pytest.param("rate_limit_429", BrokerTransientError, [], id="rate-limited"),
        pytest.param("lost_ack", BrokerAmbiguousError, ["k-1"], id="lost-ack"),
        pytest.param("malformed_body", BrokerAmbiguousError, ["k-1"], id="malformed-reply"),
    ],
)
async def test_a_failed_submit_is_sent_once_and_ambiguity_is_resolved_by_listing(
    env: Env, client: ClearStreetClient, fault: str, error: type[BrokerError], stored: list[str]
) -> None:
    setattr(env.sim.faults, fault, 2)

    with pytest.raises(error):
        await client.submit_instructions(ACCOUNT, [env.req(CALL_150, "2")])

    assert getattr(env.sim.faults, fault) == 1  # exactly one try
    setattr(env.sim.faults, fault, 0)
    assert (env.count("POST", "/instructions"), env.delays) == (1, [])
    assert env.stored() == stored
    listed = await client.list_instructions(ACCOUNT, instrument_id=CALL_150)
    assert [(i.instruction_id, i.quantity, i.status) for i in listed] == [
        (key, Decimal(2), SENT) for key in stored
    ]


# -------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize(
    ("symbol", "quantity", "settled"),
    [
        pytest.param(CALL_150, "4", (ACCEPTED, Decimal(4), None), id="accepted"),
        pytest.param(CALL_160_PARTIAL, "3", (ACCEPTED, Decimal(1), None), id="partial"),
        pytest.param(PUT_200_REJECTED, "2", (REJECTED, None, "Rejected by OCC"), id="rejected"),
    ],
)
async def test_a_sent_instruction_settles_as_clearing_decides(
    env: Env, client: ClearStreetClient, symbol: str, quantity: str, settled: tuple[Any, ...]
) -> None:
    await client.submit_instructions(ACCOUNT, [env.req(symbol, quantity)])

    [before] = await client.list_instructions(ACCOUNT)
    env.clock.now += SETTLE
    [after] = await client.list_instructions(ACCOUNT)

    assert (before.status, before.accepted_quantity) == (SENT, None)
    assert (after.status, after.accepted_quantity, after.reason) == settled
    assert after.status.is_terminal


@pytest.mark.parametrize(
    ("symbol", "status", "reason"),
    [
        pytest.param(CALL_150, InstructionStatus.CANCELLED, None, id="cancelled"),
        pytest.param(
            CALL_170_CANCEL_FAILS,
            InstructionStatus.CANCEL_FAILED,
            "Too late to cancel",
            id="failed",
        ),
    ],
)
async def test_a_cancel_goes_through_cancel_requested_and_a_terminal_one_conflicts(
    env: Env, client: ClearStreetClient, symbol: str, status: InstructionStatus, reason: str | None
) -> None:
    reply = await client.submit_instructions(ACCOUNT, [env.req(symbol)])
    server_id = reply.rows[0].id
    assert server_id is not None

    requested = await client.cancel_instruction(ACCOUNT, server_id)
    [listed] = await client.list_instructions(ACCOUNT)
    env.clock.now += SETTLE
    [final] = await client.list_instructions(ACCOUNT)
    with pytest.raises(BrokerConflictError, match="terminal"):
        await client.cancel_instruction(ACCOUNT, server_id)

    assert (requested.id, requested.status) == (server_id, InstructionStatus.CANCEL_REQUESTED)
    assert listed.status == InstructionStatus.CANCEL_REQUESTED
    assert (final.status, final.reason) == (status, reason)
    assert env.count("DELETE", server_id) == 2


async def test_cancelling_an_unknown_instruction_is_not_found(
    env: Env, client: ClearStreetClient
) -> None:
    with pytest.raises(BrokerNotFoundError):
        await client.cancel_instruction(ACCOUNT, str(uuid.uuid4()))

    assert len(env.requests) == 1


async def test_a_hand_entered_instruction_of_an_unknown_type_is_read_tolerantly(
    env: Env, client: ClearStreetClient
) -> None:
    env.sim.book.add_instruction(
        ACCOUNT, instrument=CALL_190, quantity=2, instruction_type="EARLY", status="ACCEPTED"
    )

    [row] = await client.list_instructions(ACCOUNT)

    assert (row.instruction_type, row.status, row.raw_status, row.accepted_quantity) == (
        "EARLY",
        ACCEPTED,
        "ACCEPTED",
        Decimal(2),
    )


# ----------------------------------------------------------------- retries, timeouts


@pytest.mark.parametrize(
    ("fault", "times", "min_delay"),
    [
        pytest.param("rate_limit_429", 2, RETRY_AFTER, id="rate-limited-twice"),
        pytest.param("malformed_body", 1, 0, id="malformed-once"),
    ],
)
async def test_a_get_retries_real_faults_then_succeeds(
    env: Env, client: ClearStreetClient, fault: str, times: int, min_delay: float
) -> None:
    setattr(env.sim.faults, fault, times)

    balances = await client.get_balances(ACCOUNT)

    assert balances.buying_power == Decimal("250000.50")
    assert getattr(env.sim.faults, fault) == 0
    assert (env.count("GET", "/balances"), len(env.delays)) == (times + 1, times)
    assert all(delay > 0 and delay >= min_delay for delay in env.delays)


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        pytest.param("rate_limit_429", BrokerTransientError, 429, id="rate-limited"),
        pytest.param("malformed_body", BrokerProtocolError, 200, id="malformed"),
    ],
)
async def test_a_get_gives_up_after_the_retry_bound(
    env: Env, client: ClearStreetClient, fault: str, error: type[BrokerError], status: int
) -> None:
    setattr(env.sim.faults, fault, 5)

    with pytest.raises(error) as caught:
        await client.get_positions(ACCOUNT)

    assert (type(caught.value), caught.value.status) == (error, status)
    assert getattr(env.sim.faults, fault) == 2  # three of the five were used
    assert (env.count("GET", "/positions"), len(env.delays)) == (3, 2)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_reply_slower_than_the_read_timeout_is_transient_on_get_ambiguous_on_post(
    env: Env, method: str
) -> None:
    released, held = threading.Event(), []

    def gate(seconds: float) -> None:  # the sim's latency, held until the test lets go
        held.append(seconds)
        released.wait(timeout=5)

    env.sim.sleep, env.sim.faults.latency_ms = gate, 300
    try:
        async with env.connect(read_timeout=0.05, retry=RetryPolicy(attempts=2)) as client:
            if method == "GET":
                with pytest.raises(BrokerTransientError, match="ReadTimeout"):
                    await client.get_balances(ACCOUNT)
            else:
                with pytest.raises(BrokerAmbiguousError, match="ReadTimeout"):
                    await client.submit_instructions(ACCOUNT, [env.req(CALL_150)])
    finally:
        released.set()
    env.sim.close()  # waits for the held requests to finish

    tries = 2 if method == "GET" else 1
    assert (held, len(env.requests)) == ([0.3] * tries, tries)
    assert env.stored() == ([] if method == "GET" else ["k-1"])  # the POST took effect late


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_wrong_token_is_an_auth_error_that_never_shows_a_token(
    env: Env, method: str
) -> None:
    wrong = "wrong-token-0f9e8d7c"
    async with env.connect(api_key=SecretStr(wrong)) as client:
        call = (
            client.get_balances(ACCOUNT)
            if method == "GET"
            else client.submit_instructions(ACCOUNT, [env.req(CALL_150)])
        )
        with pytest.raises(BrokerAuthError) as caught:
            await call

    shown = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert caught.value.status == 401
    assert wrong not in shown
    assert env.sim.token not in shown
    assert (len(env.requests), env.stored()) == (1, [])


# -------------------------------------------------------------------------- revisions


@pytest.mark.parametrize(
    ("revision", "rejected", "conflict_rows", "code"),
    [
        pytest.param("2025-10-31", REJECTED, 1, None, id="2025-10-31"),
        pytest.param("sdk-docs", InstructionStatus.ENGINE_REJECTED, 0, None, id="sdk-docs"),
        pytest.param("2026-preview", REJECTED, 1, "DUPLICATE_INSTRUCTION", id="2026-preview"),
    ],
)
async def test_each_revision_reads_a_partial_batch_and_an_all_duplicate_conflict(
    env: Env, revision: Any, rejected: InstructionStatus, conflict_rows: int, code: str | None
) -> None:
    env.sim.revision = revision
    async with env.connect() as client:
        batch = [env.req(CALL_150, key="a"), env.req(CALL_190, key="a")]
        reply = await client.submit_instructions(ACCOUNT, batch)
        with pytest.raises(BrokerConflictError) as caught:
            await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="a")])

    sent, refused = reply.rows
    assert (reply.http_status, sent.instruction_id, sent.status) == (207, "a", SENT)
    assert (refused.instruction_id, refused.status, refused.id) == ("a", rejected, ZERO_ID)
    assert refused.status.is_rejection
    assert refused.reason == f"Duplicate exercise instruction; existing_id={sent.id}"
    assert refused.reason_code == code
    if code is not None:
        assert refused.rejection is not None
        assert refused.rejection.metadata["existing_id"] == sent.id
        assert refused.rejection.domain == "POSITION_INSTRUCTIONS"
    assert [r.reason_code for r in caught.value.rows] == [code] * conflict_rows
    assert env.stored() == ["a"]


@pytest.mark.parametrize("revision", ["2025-10-31", "sdk-docs", "2026-preview"])
@pytest.mark.parametrize("id_field", ["instruction_id", "client_instruction_id"])
async def test_the_configured_key_field_round_trips_in_every_revision(
    env: Env, id_field: IdField, revision: Any
) -> None:
    env.sim.revision = revision
    async with env.connect(id_field=id_field) as client:
        reply = await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="our-key")])
        listed = await client.list_instructions(ACCOUNT)
        with pytest.raises(BrokerConflictError):  # the broker knows it by either field
            await client.submit_instructions(ACCOUNT, [env.req(CALL_150, key="our-key")])

    echoed = "client_instruction_id" if revision == "2026-preview" else "instruction_id"
    assert [r.instruction_id for r in reply.rows] == ["our-key"]
    assert [i.instruction_id for i in listed] == ["our-key"]
    assert [i[echoed] for i in env.sim.book.instructions(ACCOUNT)] == ["our-key"]
