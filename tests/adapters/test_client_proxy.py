"""The proxy the environment names (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, less NO_PROXY) is
honoured by the client's own transports, against real servers on 127.0.0.1: a stub
forward proxy, and a stub broker it must not be bypassed for, or must be."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from exerciser.adapters.clearstreet.client import ClearStreetClient
from exerciser.adapters.clearstreet.transport import environment_proxy

pytestmark = pytest.mark.anyio

_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://api.broker.example", None),
        (
            {"HTTPS_PROXY": "proxy.corp:3128"},
            "https://api.broker.example",
            "http://proxy.corp:3128",
        ),
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "http://api.broker.example", None),
        ({"HTTP_PROXY": "http://p:1"}, "http://api.broker.example:8080", "http://p:1"),
        ({"ALL_PROXY": "http://p:2"}, "https://api.broker.example", "http://p:2"),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".broker.example"},
            "https://api.broker.example",
            None,
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://api.broker.example", None),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.example"},
            "https://api.broker.example",
            "http://p:1",
        ),
    ],
)
def test_the_environment_names_the_proxy_for_a_url(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(url) == expected


class _Server(ThreadingHTTPServer):
    seen: list[str]


class _Stub(BaseHTTPRequestHandler):
    """Answers every GET with an empty instruction list; records the request target."""

    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        body = json.dumps({"data": [], "metadata": {"request_id": "r-1"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[_Server]:
    made = _Server(("127.0.0.1", 0), _Stub)
    made.seen = []
    threading.Thread(target=made.serve_forever, daemon=True).start()
    yield made
    made.shutdown()
    made.server_close()


def _url(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, server: _Server
) -> None:
    monkeypatch.setenv("HTTP_PROXY", _url(server))  # the stub plays the forward proxy
    async with ClearStreetClient(
        base_url="http://broker.invalid", api_key=SecretStr("k"), concurrency=2
    ) as client:
        assert await client.list_instructions(5) == []
    assert server.seen == ["http://broker.invalid/v1/accounts/5/positions/instructions"]


async def test_a_host_no_proxy_exempts_is_reached_directly(
    monkeypatch: pytest.MonkeyPatch, server: _Server
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nobody there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with ClearStreetClient(
        base_url=_url(server), api_key=SecretStr("k"), concurrency=2
    ) as client:
        assert await client.list_instructions(5) == []
    assert server.seen == ["/v1/accounts/5/positions/instructions"]
