"""Injected faults: 503 from clearing, lost acks, 429s, malformed bodies and latency."""

from __future__ import annotations

import httpx
import pytest

from exerciser.sim import Simulator, running_simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_190,
    FakeClock,
    book_scenario,
    conforming_client,
    instructions_path,
    row,
)


def test_submit_503_rejects_every_row_and_stores_nothing(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.submit_503 = 1

    reply = client.post(instructions_path(), json=[row(sim, CALL_150, key="a"), row(sim, CALL_190)])

    assert reply.status_code == 503
    body = reply.json()
    assert body["error"] == {"code": 503, "message": "Clearing service unavailable"}
    assert [(r["status"], r["rejection_reason"]) for r in body["data"]] == [
        ("REJECTED", "Clearing service unavailable")
    ] * 2
    assert body["data"][0]["instruction_id"] == "a"
    assert sim.book.instructions(ACCOUNT) == []
    assert sim.faults.submit_503 == 0


def test_submit_503_counts_down_one_submit_at_a_time(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.submit_503 = 2

    codes = [
        client.post(instructions_path(), json=[row(sim, CALL_150, key="a")]).status_code
        for _ in range(3)
    ]

    assert codes == [503, 503, 200]


def test_submit_503_is_not_spent_on_a_batch_refused_by_pre_flight(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.submit_503 = 1

    client.post(instructions_path(), json=[row(sim, CALL_150, "0")])

    assert sim.faults.submit_503 == 1


def test_a_lost_ack_stores_the_rows_but_the_client_sees_a_disconnect(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.lost_ack = 1

    with pytest.raises(httpx.RemoteProtocolError):
        client.post(instructions_path(), json=[row(sim, CALL_150, key="lost")])

    assert [i["instruction_id"] for i in sim.book.instructions(ACCOUNT)] == ["lost"]
    assert sim.faults.lost_ack == 0
    retry = client.post(instructions_path(), json=[row(sim, CALL_150, key="lost")])
    assert retry.status_code == 409


def test_a_lost_ack_only_hits_submits(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.lost_ack = 1

    assert client.get(instructions_path()).status_code == 200
    assert sim.faults.lost_ack == 1


def test_rate_limit_429_answers_any_request_with_retry_after(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.rate_limit_429 = 2
    sim.faults.retry_after_seconds = 3

    first = client.get("/v1/accounts")
    second = client.post(instructions_path(), json=[row(sim, CALL_150)])
    third = client.get("/v1/accounts")

    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert first.json()["error"]["code"] == 429
    assert sim.book.submit_count == 0
    assert sim.book.instructions(ACCOUNT) == []


def test_rate_limiting_comes_before_authentication(sim: Simulator) -> None:
    sim.faults.rate_limit_429 = 1

    with conforming_client(sim, token="wrong") as client:
        assert client.get("/v1/accounts").status_code == 429
        assert client.get("/v1/accounts").status_code == 401


def test_malformed_body_replaces_the_next_replies_with_truncated_json(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.malformed_body = 2

    first = client.get("/v1/accounts")
    second = client.get("/v1/accounts/999/balances")
    third = client.get("/v1/accounts")

    for reply in (first, second):
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError, match="Expecting"):
            reply.json()
    assert third.json()["error"] is None


def test_a_malformed_reply_to_a_submit_still_stored_the_rows(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.malformed_body = 1

    reply = client.post(instructions_path(), json=[row(sim, CALL_150)])

    assert reply.content == b'{"data": ['
    assert len(sim.book.instructions(ACCOUNT)) == 1


def test_latency_waits_before_every_request(sim: Simulator, client: httpx.Client) -> None:
    waits: list[float] = []
    sim.sleep = waits.append
    sim.faults.latency_ms = 250

    client.get("/v1/accounts")
    client.get("/v1/accounts/999/balances")

    assert waits == [0.25, 0.25]


def test_a_tiny_real_latency_still_answers(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.latency_ms = 1

    assert client.get("/v1/accounts").status_code == 200


def test_faults_start_from_the_scenario_and_each_simulator_gets_its_own_copy(
    clock: FakeClock,
) -> None:
    scenario = book_scenario(faults="{submit_503: 1}")

    with running_simulator(scenario, clock=clock) as first, conforming_client(first) as client:
        assert client.post(instructions_path(), json=[row(first, CALL_150)]).status_code == 503
    with running_simulator(scenario, clock=clock) as second:
        assert second.faults.submit_503 == 1
