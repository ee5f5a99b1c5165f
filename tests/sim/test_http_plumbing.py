"""HTTP behaviour around the endpoints: auth, routing, keep-alive, framing, clean shutdown."""

from __future__ import annotations

import http.client
import threading
from email.utils import parsedate_to_datetime

import httpx
import pytest

from exerciser.sim import Simulator, running_simulator

from .helpers import ACCOUNT, OPENED_AT, FakeClock, book_scenario, conforming_client


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer wrong-token", id="wrong-token"),
        pytest.param("Basic c2ltLXRva2Vu", id="wrong-scheme"),
        pytest.param("Bearer", id="empty-token"),
    ],
)
def test_requests_without_the_bearer_token_are_401(
    sim: Simulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    with httpx.Client(base_url=sim.base_url) as client:
        reply = client.get("/v1/accounts", headers=headers)

    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == 401
    assert reply.json()["metadata"]["request_id"]
    assert reply.headers["WWW-Authenticate"] == "Bearer"


def test_the_token_is_the_scenarios(clock: FakeClock) -> None:
    with running_simulator(book_scenario(token="other-token"), clock=clock) as sim:
        assert sim.token == "other-token"
        with conforming_client(sim) as client:
            assert client.get("/v1/accounts").status_code == 200


def test_an_unknown_path_is_404(client: httpx.Client) -> None:
    reply = client.get("/v1/orders")

    assert reply.status_code == 404
    assert reply.json()["error"] == {"code": 404, "message": "Not found: /v1/orders"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/accounts", "GET"),
        ("DELETE", f"/v1/accounts/{ACCOUNT}/positions/instructions", "GET, POST"),
        ("PUT", f"/v1/accounts/{ACCOUNT}/balances", "GET"),
        ("PATCH", "/v1/market-data/snapshot", "GET"),
        ("GET", f"/v1/accounts/{ACCOUNT}/positions/instructions/some-id", "DELETE"),
    ],
)
def test_a_wrong_method_is_405_with_allow(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    reply = client.request(method, path)

    assert reply.status_code == 405
    assert reply.headers["Allow"] == allowed


def test_a_non_numeric_account_id_is_400(client: httpx.Client) -> None:
    assert client.get("/v1/accounts/abc/balances").status_code == 400


def test_one_connection_serves_many_requests_with_content_length(sim: Simulator) -> None:
    host, port = sim.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Bearer {sim.token}"}
    try:
        replies = []
        sockets = []
        for path in ("/v1/accounts", "/v1/nowhere", f"/v1/accounts/{ACCOUNT}/balances"):
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            replies.append((response.status, response.getheader("Content-Length"), response.read()))
            sockets.append(connection.sock)
    finally:
        connection.close()

    assert [status for status, _, _ in replies] == [200, 404, 200]
    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)
    assert all(int(length or -1) == len(body) for _, length, body in replies)


def test_a_chunked_request_body_is_read(sim: Simulator, client: httpx.Client) -> None:
    def chunks() -> object:
        yield b"[]"

    reply = client.post(
        f"/v1/accounts/{ACCOUNT}/positions/instructions",
        content=chunks(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/json"},
    )

    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "At least one instruction is required"


def test_the_date_header_follows_the_simulated_clock(client: httpx.Client) -> None:
    reply = client.get("/v1/accounts")

    assert parsedate_to_datetime(reply.headers["Date"]) == OPENED_AT


def test_a_simulator_bug_answers_500_and_the_connection_survives(
    sim: Simulator, client: httpx.Client
) -> None:
    def broken_sleep(seconds: float) -> None:
        raise RuntimeError("boom")

    sim.sleep = broken_sleep
    sim.faults.latency_ms = 1

    failed = client.get("/v1/accounts")
    sim.faults.latency_ms = 0
    recovered = client.get("/v1/accounts")

    assert failed.status_code == 500
    assert failed.json()["error"]["message"] == "Internal simulator error"
    assert recovered.status_code == 200


def test_closing_the_simulator_hangs_up_idle_keep_alive_connections(clock: FakeClock) -> None:
    with running_simulator(book_scenario(), clock=clock) as sim:
        client = conforming_client(sim)
        assert client.get("/v1/accounts").status_code == 200

    try:
        assert not [t for t in threading.enumerate() if t.name in ("sim-connection", "sim-server")]
        with pytest.raises(httpx.TransportError):
            client.get("/v1/accounts")
    finally:
        client.close()
