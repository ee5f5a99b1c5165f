"""What tests can arrange and inspect on ``sim.book`` and ``sim.faults`` while it runs."""

from __future__ import annotations

import httpx
import pytest

from exerciser.sim import Faults, Simulator
from exerciser.sim.wire import ApiFailure

from .helpers import ACCOUNT, CALL_150, CLOSE_AT, EMPTY_ACCOUNT, FakeClock, instructions_path, row


def test_set_position_adds_a_holding_that_can_then_be_exercised(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.book.set_position(EMPTY_ACCOUNT, "AAPL261120C00150000", "2")

    positions = client.get(f"/v1/accounts/{EMPTY_ACCOUNT}/positions").json()["data"]
    reply = client.post(instructions_path(EMPTY_ACCOUNT), json=[row(sim, CALL_150, "2")])

    assert [(p["symbol"], p["quantity"]) for p in positions] == [(CALL_150, "2")]
    assert reply.status_code == 200


def test_set_position_can_shrink_what_is_available(sim: Simulator, client: httpx.Client) -> None:
    sim.book.set_position(ACCOUNT, CALL_150, 10, available_quantity=1)

    reply = client.post(instructions_path(), json=[row(sim, CALL_150, "2")])

    assert reply.status_code == 400


def test_set_position_refuses_unknown_symbols(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="neither a contract nor an underlying"):
        sim.book.set_position(ACCOUNT, "XYZ", 1)


def test_set_prices_last_only_changes_the_after_hours_price(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    sim.book.set_prices("aapl", last="200.00", previous_close="190.00")
    before = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})
    clock.now = CLOSE_AT.replace(minute=5)
    after = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})

    assert before.json()["data"][0]["last_trade"]["price"] == "190.40"
    assert after.json()["data"][0]["last_trade"]["price"] == "200.00"
    assert after.json()["data"][0]["session"]["change"] == "10.00"


def test_a_price_change_moves_option_marks(sim: Simulator, client: httpx.Client) -> None:
    sim.book.set_prices("AAPL", close="160.00")

    positions = client.get(f"/v1/accounts/{ACCOUNT}/positions").json()["data"]

    call = next(p for p in positions if p["symbol"] == CALL_150)
    assert (call["instrument_price"], call["market_value"]) == ("10.00", "10000.00")


def test_marks_move_with_a_price_change_after_positions_were_read(
    sim: Simulator, client: httpx.Client
) -> None:
    path = f"/v1/accounts/{ACCOUNT}/positions"
    first = client.get(path).json()["data"]  # every holding's symbol resolved once
    sim.book.set_prices("AAPL", close="160.00")
    second = client.get(path).json()["data"]

    call = [next(p for p in rows if p["symbol"] == CALL_150) for rows in (first, second)]
    shares = [next(p for p in rows if p["symbol"] == "AAPL") for rows in (first, second)]
    assert (call[0]["instrument_price"], shares[0]["closing_price"]) == ("40.40", "190.40")
    assert (call[1]["instrument_price"], call[1]["market_value"]) == ("10.00", "10000.00")
    assert shares[1]["closing_price"] == "160.00"


def test_faults_can_be_replaced_whole(sim: Simulator, client: httpx.Client) -> None:
    sim.faults = Faults(rate_limit_429=1)

    assert client.get("/v1/accounts").status_code == 429
    assert sim.faults.rate_limit_429 == 0


def test_instructions_of_an_unknown_account_cannot_be_inspected(sim: Simulator) -> None:
    with pytest.raises(ApiFailure, match="Account not found: 999"):
        sim.book.instructions(999)
