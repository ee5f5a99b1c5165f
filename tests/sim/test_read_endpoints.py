"""Accounts, balances, positions, option contracts and snapshots, as the spec shapes them."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from exerciser.sim import Simulator, running_simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_195_SHORT,
    CLOSE_AT,
    EMPTY_ACCOUNT,
    FakeClock,
    book_scenario,
    conforming_client,
    contract_id,
)


def test_accounts_lists_every_account_with_the_required_fields(client: httpx.Client) -> None:
    reply = client.get("/v1/accounts")

    assert reply.status_code == 200
    body = reply.json()
    assert body["error"] is None
    assert [a["id"] for a in body["data"]] == [ACCOUNT, EMPTY_ACCOUNT]
    first = body["data"][0]
    assert first["subtype"] == "MARGIN"
    assert first["status"] == "ACTIVE"
    assert first["type"] == "CUSTOMER"
    assert body["metadata"]["request_id"]
    assert body["metadata"]["total_items"] == 2


def test_accounts_can_be_filtered_by_id_prefix_and_name(client: httpx.Client) -> None:
    by_id = client.get("/v1/accounts", params={"account_id": "1002"}).json()["data"]
    by_name = client.get("/v1/accounts", params={"account_name": "ACCOUNT 1001"}).json()["data"]

    assert [a["id"] for a in by_id] == [EMPTY_ACCOUNT]
    assert [a["id"] for a in by_name] == [ACCOUNT]


def test_one_account_can_be_fetched_by_id(client: httpx.Client) -> None:
    assert client.get(f"/v1/accounts/{EMPTY_ACCOUNT}").json()["data"]["subtype"] == "CASH"
    assert client.get("/v1/accounts/999").status_code == 404


def test_balances_carry_every_required_field_as_money_strings(client: httpx.Client) -> None:
    reply = client.get(f"/v1/accounts/{ACCOUNT}/balances")

    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["account_id"] == ACCOUNT
    assert data["buying_power"] == "250000.00"
    assert data["equity"] == "400000.00"
    assert data["settled_cash"] == "0.00"
    assert data["currency"] == "USD"
    assert data["margin_type"] == "REG_T"
    assert data["sod"]["buying_power"] == "250000.00"
    assert data["sod"]["asof"] == "2026-11-20"


def test_a_cash_account_has_no_margin(client: httpx.Client) -> None:
    data = client.get(f"/v1/accounts/{EMPTY_ACCOUNT}/balances").json()["data"]

    assert data["margin_type"] == "NONE"


def test_balances_of_an_unknown_account_are_404(client: httpx.Client) -> None:
    reply = client.get("/v1/accounts/999/balances")

    assert reply.status_code == 404
    assert reply.json()["error"] == {"code": 404, "message": "Account not found: 999"}


def test_positions_show_options_with_padded_osi_and_their_underlying(
    sim: Simulator, client: httpx.Client
) -> None:
    data = client.get(f"/v1/accounts/{ACCOUNT}/positions").json()["data"]

    by_symbol = {p["symbol"]: p for p in data}
    call = by_symbol[CALL_150]
    assert call["instrument_type"] == "OPTION"
    assert call["instrument_id"] == contract_id(sim, CALL_150)
    assert call["underlying_instrument_id"] == contract_id(sim, "AAPL")
    assert (call["quantity"], call["available_quantity"], call["position_type"]) == (
        "10",
        "10",
        "LONG",
    )
    assert call["market_value"] == "40400.00"  # intrinsic 40.40 x 100 x 10 before the close
    short = by_symbol[CALL_195_SHORT]
    assert (short["quantity"], short["available_quantity"], short["position_type"]) == (
        "-2",
        "2",
        "SHORT",
    )
    shares = by_symbol["AAPL"]
    assert shares["instrument_type"] == "COMMON_STOCK"
    assert shares["underlying_instrument_id"] is None
    assert shares["market_value"] == "76160.00"


def test_positions_can_be_filtered_by_instrument(sim: Simulator, client: httpx.Client) -> None:
    params = {"instrument_ids": f"{contract_id(sim, CALL_150)},AAPL"}

    data = client.get(f"/v1/accounts/{ACCOUNT}/positions", params=params).json()["data"]

    assert [p["symbol"] for p in data] == [CALL_150, "AAPL"]


def test_positions_of_an_unknown_account_are_404(client: httpx.Client) -> None:
    assert client.get("/v1/accounts/999/positions").status_code == 404


@pytest.fixture
def small_pages(clock: FakeClock) -> Iterator[Simulator]:
    with running_simulator(book_scenario(page_size="4"), clock=clock) as simulator:
        yield simulator


def test_positions_page_through_with_next_page_tokens(small_pages: Simulator) -> None:
    seen: list[str] = []
    pages = []
    with conforming_client(small_pages) as client:
        params: dict[str, str] = {"page_size": "3"}
        while True:
            body = client.get(f"/v1/accounts/{ACCOUNT}/positions", params=params).json()
            pages.append(body["metadata"])
            seen += [p["symbol"] for p in body["data"]]
            token = body["metadata"]["next_page_token"]
            if token is None:
                break
            params = {"page_token": token}

    assert len(seen) == len(set(seen)) == 9
    assert [m["page_number"] for m in pages] == [1, 2, 3]
    assert {(m["total_items"], m["total_pages"]) for m in pages} == {(9, 3)}
    assert pages[0]["previous_page_token"] is None
    assert pages[1]["previous_page_token"] is not None


def test_the_scenario_page_size_caps_what_a_client_asks_for(small_pages: Simulator) -> None:
    with conforming_client(small_pages) as client:
        body = client.get(f"/v1/accounts/{ACCOUNT}/positions", params={"page_size": "1000"}).json()

    assert len(body["data"]) == 4
    assert body["metadata"]["total_pages"] == 3


def test_page_tokens_are_base64url_of_an_offset(small_pages: Simulator) -> None:
    with conforming_client(small_pages) as client:
        token = client.get(f"/v1/accounts/{ACCOUNT}/positions").json()["metadata"][
            "next_page_token"
        ]

    assert base64.urlsafe_b64decode(token) == b'{"offset":4,"limit":4}'


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"page_token": "not base64!"}, id="not-base64"),
        pytest.param({"page_token": base64.urlsafe_b64encode(b"[1]").decode()}, id="not-state"),
        pytest.param(
            {"page_token": base64.urlsafe_b64encode(b'{"offset":-1,"limit":2}').decode()},
            id="negative-offset",
        ),
        pytest.param({"page_size": "0"}, id="page-size-zero"),
        pytest.param({"page_size": "ten"}, id="page-size-text"),
    ],
)
def test_bad_paging_parameters_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    reply = client.get(f"/v1/accounts/{ACCOUNT}/positions", params=params)

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 400


def test_contracts_look_up_by_id_and_by_padded_or_unpadded_osi(
    sim: Simulator, client: httpx.Client
) -> None:
    ids = ",".join([contract_id(sim, CALL_150), "AAPL261120C00190000", "AAPL  261218C00180000"])

    reply = client.get("/v1/instruments/options/contracts", params={"contract_ids": ids})

    assert reply.status_code == 200
    data = reply.json()["data"]
    assert [c["symbol"] for c in data] == [
        CALL_150,
        "AAPL  261120C00190000",
        "AAPL  261218C00180000",
    ]
    first = data[0]
    assert first == {
        "id": contract_id(sim, CALL_150),
        "symbol": CALL_150,
        "contract_type": "CALL",
        "currency": "USD",
        "exchange": "BATO",
        "exercise_style": "AMERICAN",
        "expiry": "2026-11-20",
        "strike_price": "150",
        "multiplier": "100",
        "listing_type": "STANDARD",
        "is_liquidation_only": False,
        "is_marginable": True,
        "is_tradable": True,
        "is_settle_on_open": False,
        "last_trade_cutoff": "2026-11-20T21:00:00Z",
        "underlying_instrument_id": contract_id(sim, "AAPL"),
        "open_interest": None,
    }


def test_unknown_contract_ids_are_left_out(sim: Simulator, client: httpx.Client) -> None:
    ids = f"{contract_id(sim, CALL_150)},00000000-0000-0000-0000-00000000abcd,ZZZ"

    data = client.get("/v1/instruments/options/contracts", params={"contract_ids": ids}).json()

    assert [c["symbol"] for c in data["data"]] == [CALL_150]


def test_contracts_without_an_identifier_are_400_with_the_spec_message(
    client: httpx.Client,
) -> None:
    reply = client.get("/v1/instruments/options/contracts")

    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == (
        "Exactly one identifier must be provided: underlier, underlying_instrument_id, "
        "or contract_ids"
    )


def test_more_than_100_contract_ids_are_400(client: httpx.Client) -> None:
    ids = ",".join(f"id-{n}" for n in range(101))

    reply = client.get("/v1/instruments/options/contracts", params={"contract_ids": ids})

    assert reply.status_code == 400


def test_contracts_by_underlier_can_be_filtered(client: httpx.Client) -> None:
    everything = client.get("/v1/instruments/options/contracts", params={"underlier": "AAPL"})
    puts = client.get(
        "/v1/instruments/options/contracts",
        params={"underlier": "AAPL", "contract_type": "PUT"},
    )
    december = client.get(
        "/v1/instruments/options/contracts",
        params={"underlier": "AAPL", "expiry": "2026-12-18"},
    )

    assert len(everything.json()["data"]) == 7
    assert [c["symbol"] for c in puts.json()["data"]] == ["AAPL  261120P00200000"]
    assert [c["symbol"] for c in december.json()["data"]] == ["AAPL  261218C00180000"]


def test_an_unknown_underlier_is_404(client: httpx.Client) -> None:
    reply = client.get("/v1/instruments/options/contracts", params={"underlier": "NOPE"})

    assert reply.status_code == 404


def test_index_options_list_their_index_exchange(client: httpx.Client) -> None:
    data = client.get("/v1/instruments/options/contracts", params={"underlier": "SPX"}).json()

    assert [(c["symbol"], c["exchange"], c["exercise_style"]) for c in data["data"]] == [
        ("SPXW  261120C06000000", "XCBO", "EUROPEAN")
    ]


def test_a_snapshot_before_the_close_shows_the_close_one_second_before_it(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})

    assert reply.status_code == 200
    (snapshot,) = reply.json()["data"]
    assert snapshot["instrument_id"] == contract_id(sim, "AAPL")
    assert snapshot["symbol"] == "AAPL"
    assert snapshot["last_trade"] == {
        "price": "190.40",
        "size": 100,
        "timestamp": "2026-11-20T20:59:59Z",
    }
    assert snapshot["session"] == {
        "previous_close": "188.00",
        "change": "2.40",
        "change_percent": "1.2766",
    }


def test_the_snapshot_keeps_the_close_until_after_hours_trading_replaces_it(
    clock: FakeClock, client: httpx.Client
) -> None:
    clock.now = CLOSE_AT
    at_close = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})
    clock.advance(minutes=4, seconds=59)
    just_after = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})
    clock.advance(seconds=2)
    after = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})
    clock.advance(hours=9)
    late = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"})

    assert at_close.json()["data"][0]["last_trade"]["price"] == "190.40"
    assert just_after.json()["data"][0]["last_trade"] == {
        "price": "190.40",
        "size": 100,
        "timestamp": "2026-11-20T20:59:59Z",
    }
    assert after.json()["data"][0]["last_trade"] == {
        "price": "191.10",
        "size": 100,
        "timestamp": "2026-11-20T21:05:01Z",
    }
    assert late.json()["data"][0]["last_trade"]["timestamp"] == "2026-11-21T01:00:00Z"


def test_an_index_snapshot_trades_size_zero(client: httpx.Client) -> None:
    (snapshot,) = client.get("/v1/market-data/snapshot", params={"instrument_ids": "SPX"}).json()[
        "data"
    ]

    assert snapshot["last_trade"]["size"] == 0
    assert snapshot["last_trade"]["price"] == "6000.00"


def test_an_option_snapshot_has_no_last_trade(sim: Simulator, client: httpx.Client) -> None:
    ids = f"{contract_id(sim, CALL_150)},AAPL261120C00190000"

    data = client.get("/v1/market-data/snapshot", params={"instrument_ids": ids}).json()["data"]

    assert [(s["symbol"], s["last_trade"]) for s in data] == [
        (CALL_150, None),
        ("AAPL  261120C00190000", None),
    ]


def test_a_snapshot_needs_at_least_one_instrument(client: httpx.Client) -> None:
    reply = client.get("/v1/market-data/snapshot")

    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "At least one instrument_id is required"


def test_a_snapshot_of_more_than_100_instruments_is_400(client: httpx.Client) -> None:
    ids = ",".join(f"SYM{n}" for n in range(101))

    assert client.get("/v1/market-data/snapshot", params={"instrument_ids": ids}).status_code == 400


def test_a_snapshot_with_any_unknown_instrument_is_404(client: httpx.Client) -> None:
    reply = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL,NOPE"})

    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == "Instrument not found for id `NOPE`"


def test_prices_set_through_the_book_show_in_snapshots(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.book.set_prices("AAPL", close="150.00")

    (snapshot,) = client.get("/v1/market-data/snapshot", params={"instrument_ids": "AAPL"}).json()[
        "data"
    ]

    assert snapshot["last_trade"]["price"] == "150.00"
