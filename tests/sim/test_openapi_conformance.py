"""Every reply the default revision gives conforms to the vendor's OpenAPI document.

A tour drives the simulator through each (endpoint, status) it can produce and each reply is
validated against the response schema for its path, method and status in
``shared/api/clearstreet-openapi.json`` (Draft 2020-12, refs resolved through a
``referencing.Registry`` holding the whole document). How error statuses whose schema is
the bare ``ApiError`` are read is explained, and pinned below, in ``openapi.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from exerciser.sim import running_simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_170_CANCEL_FAILS,
    CALL_190,
    CLOSE_AT,
    DEC_180,
    PUT_200_REJECTED,
    FakeClock,
    book_scenario,
    contract_id,
    instructions_path,
    row,
)
from .openapi import API_ERROR_REF, MISSING_SPEC, Spec, load_spec

INSTRUCTIONS = "/v1/accounts/{account_id}/positions/instructions"
ONE_INSTRUCTION = "/v1/accounts/{account_id}/positions/instructions/{instruction_id}"

# Documented responses the simulator never gives, and why.
NOT_SIMULATED = {
    "403": "the simulator has one token and no permission model",
    "500": "the only internal faults are simulator bugs",
}
NOT_SIMULATED_FOR = {
    ("get", INSTRUCTIONS, "400"): "no query parameter of this endpoint can be invalid",
    ("get", INSTRUCTIONS, "503"): "503 is injected on submits only",
    ("delete", ONE_INSTRUCTION, "503"): "503 is injected on submits only",
}
ENDPOINTS = [
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{account_id}"),
    ("get", "/v1/accounts/{account_id}/balances"),
    ("get", "/v1/accounts/{account_id}/positions"),
    ("get", INSTRUCTIONS),
    ("post", INSTRUCTIONS),
    ("delete", ONE_INSTRUCTION),
    ("get", "/v1/instruments/options/contracts"),
    ("get", "/v1/market-data/snapshot"),
]


@pytest.fixture(scope="module")
def spec() -> Spec:
    loaded = load_spec()
    if loaded is None:
        pytest.fail(MISSING_SPEC)
    return loaded


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    body: Any


def _tour() -> Iterator[tuple[str, Exchange]]:
    """Drive the simulator through every reply it can give; yield (case name, exchange)."""
    clock = FakeClock()
    scenario = book_scenario(page_size="4")
    with (
        running_simulator(scenario, clock=clock) as sim,
        httpx.Client(
            base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.token}"}
        ) as client,
    ):

        def call(
            name: str, method: str, path: str, status: int, **kwargs: Any
        ) -> tuple[str, Exchange]:
            reply = client.request(method, path, **kwargs)
            assert reply.status_code == status, f"{name}: {reply.status_code} {reply.text}"
            return name, Exchange(method, reply.request.url.path, reply.status_code, reply.json())

        positions = f"/v1/accounts/{ACCOUNT}/positions"
        contracts = "/v1/instruments/options/contracts"
        snapshot = "/v1/market-data/snapshot"
        yield call("accounts", "GET", "/v1/accounts", 200)
        yield call("account", "GET", f"/v1/accounts/{ACCOUNT}", 200)
        yield call("account-404", "GET", "/v1/accounts/9", 404)
        yield call("balances", "GET", f"/v1/accounts/{ACCOUNT}/balances", 200)
        yield call("balances-404", "GET", "/v1/accounts/9/balances", 404)
        _, first = page_1 = call("positions-page-1", "GET", positions, 200)
        yield page_1
        token = first.body["metadata"]["next_page_token"]
        yield call("positions-page-2", "GET", positions, 200, params={"page_token": token})
        yield call("positions-400", "GET", positions, 400, params={"page_token": "%%%"})
        yield call("positions-404", "GET", "/v1/accounts/9/positions", 404)
        ids = f"{contract_id(sim, CALL_150)},AAPL261120C00190000"
        yield call("contracts-by-id", "GET", contracts, 200, params={"contract_ids": ids})
        yield call("contracts-by-underlier", "GET", contracts, 200, params={"underlier": "SPX"})
        yield call("contracts-400", "GET", contracts, 400)
        yield call("contracts-404", "GET", contracts, 404, params={"underlier": "NOPE"})
        every = f"AAPL,SPX,{contract_id(sim, CALL_150)}"
        yield call("snapshot-before-close", "GET", snapshot, 200, params={"instrument_ids": every})
        clock.now = CLOSE_AT + timedelta(minutes=5)
        yield call("snapshot-after-close", "GET", snapshot, 200, params={"instrument_ids": every})
        clock.now = CLOSE_AT - timedelta(hours=1)
        yield call("snapshot-400", "GET", snapshot, 400)
        yield call("snapshot-404", "GET", snapshot, 404, params={"instrument_ids": "NOPE"})

        path = instructions_path()
        _, sent = submitted = call(
            "submit-200",
            "POST",
            path,
            200,
            json=[
                row(sim, CALL_150, "2", key="a"),
                row(sim, PUT_200_REJECTED, "1", key="b"),
                row(sim, CALL_170_CANCEL_FAILS, "1", key="c"),
            ],
        )
        yield submitted
        yield call(
            "submit-207",
            "POST",
            path,
            207,
            json=[row(sim, CALL_190, "1", key="d"), row(sim, CALL_150, "1", key="a")],
        )
        yield call("submit-409", "POST", path, 409, json=[row(sim, CALL_150, key="a")])
        yield call(
            "submit-400-dne", "POST", path, 400, json=[row(sim, DEC_180, kind="DO_NOT_EXERCISE")]
        )
        yield call("submit-400-insufficient", "POST", path, 400, json=[row(sim, CALL_190, "50")])
        yield call("submit-400-quantity", "POST", path, 400, json=[row(sim, CALL_150, "1.5")])
        yield call("submit-400-shape", "POST", path, 400, json={"a": 1})
        unknown = {**row(sim, CALL_150), "instrument_id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01"}
        yield call("submit-404-instrument", "POST", path, 404, json=[unknown])
        yield call(
            "submit-404-account", "POST", instructions_path(9), 404, json=[row(sim, CALL_150)]
        )
        sim.faults.submit_503 = 1
        yield call("submit-503", "POST", path, 503, json=[row(sim, CALL_190, "1")])

        a_id, _, c_id = (r["id"] for r in sent.body["data"])
        yield call("cancel-200", "DELETE", f"{path}/{a_id}", 200)
        yield call("cancel-409", "DELETE", f"{path}/{a_id}", 409)
        yield call("cancel-404", "DELETE", f"{path}/{ZERO_UUID}", 404)
        call("cancel-c", "DELETE", f"{path}/{c_id}", 200)
        yield call("list-all-states", "GET", path, 200)
        yield call("list-filtered", "GET", path, 200, params={"instrument_id": CALL_150})
        yield call("list-404", "GET", instructions_path(9), 404)

        anonymous = {"Authorization": "Bearer nope"}
        yield call("unauthorized-401", "GET", "/v1/accounts", 401, headers=anonymous)
        yield call("method-405", "PUT", "/v1/accounts", 405)
        sim.faults.rate_limit_429 = 1
        yield call("rate-limited-429", "GET", "/v1/accounts", 429)


ZERO_UUID = "00000000-0000-0000-0000-000000000000"
CASES = [
    "accounts",
    "account",
    "account-404",
    "balances",
    "balances-404",
    "positions-page-1",
    "positions-page-2",
    "positions-400",
    "positions-404",
    "contracts-by-id",
    "contracts-by-underlier",
    "contracts-400",
    "contracts-404",
    "snapshot-before-close",
    "snapshot-after-close",
    "snapshot-400",
    "snapshot-404",
    "submit-200",
    "submit-207",
    "submit-409",
    "submit-400-dne",
    "submit-400-insufficient",
    "submit-400-quantity",
    "submit-400-shape",
    "submit-404-instrument",
    "submit-404-account",
    "submit-503",
    "cancel-200",
    "cancel-409",
    "cancel-404",
    "list-all-states",
    "list-filtered",
    "list-404",
    "unauthorized-401",
    "method-405",
    "rate-limited-429",
]


@pytest.fixture(scope="module")
def tour() -> dict[str, Exchange]:
    return dict(_tour())


def test_the_tour_visits_every_case(tour: dict[str, Exchange]) -> None:
    assert list(tour) == CASES


@pytest.mark.parametrize("case", CASES)
def test_the_reply_conforms_to_the_openapi_response_schema(
    spec: Spec, tour: dict[str, Exchange], case: str
) -> None:
    exchange = tour[case]

    problems = spec.errors(exchange.method, exchange.path, exchange.status, exchange.body)

    assert not problems, "\n".join(problems)


def test_the_tour_covers_every_documented_status_of_the_simulated_endpoints(
    spec: Spec, tour: dict[str, Exchange]
) -> None:
    covered = {(e.method.lower(), spec.template_for(e.path), str(e.status)) for e in tour.values()}
    documented = {
        (method, template, status)
        for method, template in ENDPOINTS
        for status in spec.document["paths"][template][method]["responses"]
        if status not in NOT_SIMULATED and (method, template, status) not in NOT_SIMULATED_FOR
    }

    assert documented - covered == set()


def test_the_validated_replies_show_every_lifecycle_state(tour: dict[str, Exchange]) -> None:
    statuses = set()
    for name, exchange in tour.items():
        if name.startswith(("submit", "cancel", "list")) and exchange.body.get("data"):
            data = exchange.body["data"]
            statuses |= {r["status"] for r in (data if isinstance(data, list) else [data])}

    assert statuses == {
        "SENT",
        "ACCEPTED",
        "REJECTED",
        "CANCEL_REQUESTED",
        "CANCELLED",
        "CANCEL_FAILED",
    }


def test_the_validator_rejects_the_sdk_docs_engine_rejected_status(
    spec: Spec, tour: dict[str, Exchange]
) -> None:
    exchange = tour["submit-207"]
    body = copy.deepcopy(exchange.body)
    body["data"][1]["status"] = "ENGINE_REJECTED"

    problems = spec.errors("POST", exchange.path, 207, body)

    assert any("ENGINE_REJECTED" in p for p in problems)


def test_the_validator_notices_a_missing_required_field(
    spec: Spec, tour: dict[str, Exchange]
) -> None:
    exchange = tour["balances"]
    body = copy.deepcopy(exchange.body)
    del body["data"]["sod"]

    assert spec.errors("GET", exchange.path, 200, body)


def test_the_validator_checks_formats(spec: Spec, tour: dict[str, Exchange]) -> None:
    exchange = tour["list-all-states"]
    body = copy.deepcopy(exchange.body)
    body["data"][0]["id"] = "not-a-uuid"
    body["data"][0]["created_at"] = "yesterday"

    problems = spec.errors("GET", exchange.path, 200, body)

    assert len(problems) == 2


def test_the_snapshot_timestamp_is_an_extra_property_the_schema_allows(spec: Spec) -> None:
    last_trade = spec.document["components"]["schemas"]["SnapshotLastTrade"]

    assert "timestamp" not in last_trade["properties"]
    assert last_trade.get("additionalProperties", True) is not False


def test_the_specs_own_error_examples_put_api_error_under_the_envelopes_error(
    spec: Spec,
) -> None:
    """Why a bare ``ApiError`` response schema is read as the envelope (see openapi.py)."""
    response = spec.document["paths"]["/v1/accounts/{account_id}/balances"]["get"]["responses"][
        "404"
    ]
    content = response["content"]["application/json"]
    example = next(iter(content["examples"].values()))["value"]
    bare = spec.validator({"$ref": f"urn:clearstreet:openapi{API_ERROR_REF}"})

    assert content["schema"] == {"$ref": API_ERROR_REF}
    assert not bare.is_valid(example)
    assert spec.errors("GET", "/v1/accounts/1/balances", 404, example) == []


def test_the_spec_requires_data_on_a_submit_400(spec: Spec) -> None:
    """Why a pre-flight 400 carries ``"data": []`` in the default revision."""
    body = {
        "error": {"code": 400, "message": "Quantity '1.5' cannot be encoded"},
        "metadata": {"request_id": "r"},
    }

    problems = spec.errors("POST", "/v1/accounts/1/positions/instructions", 400, body)

    assert any("'data' is a required property" in p for p in problems)
