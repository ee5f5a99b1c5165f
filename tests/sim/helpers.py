"""Shared pieces of the simulator tests: a small purpose-built book, a settable clock, and
a client that validates every default-revision reply against the OpenAPI document (see
``openapi.py``), so each behaviour test doubles as a conformance check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from exerciser.sim import Scenario, Simulator, parse_scenario

from .openapi import load_spec

OPENED_AT = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)  # 14:00 New York, before the close
CLOSE_AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York
ACCOUNT = 1001
EMPTY_ACCOUNT = 1002

BOOK = """
business_date: 2026-11-20
close_at: 2026-11-20T16:00:00-05:00
cutoff_at: 2026-11-20T17:30:00-05:00
underlyings:
  - {symbol: AAPL, close: "190.40", last: "191.10", previous_close: "188.00"}
  - {symbol: SPX, type: INDEX, close: "6000.00", last: "6010.50", previous_close: "5990.00"}
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
  - {symbol: "AAPL  261120C00195000", underlying: AAPL}
  - {symbol: "SPXW  261120C06000000", underlying: SPX, exercise_style: EUROPEAN}
accounts:
  - id: 1001
    subtype: MARGIN
    balances: {buying_power: "250000.00", equity: "400000.00"}
    positions:
      - {symbol: "AAPL  261120C00150000", quantity: "10"}
      - {symbol: "AAPL  261120C00190000", quantity: "5"}
      - {symbol: "AAPL  261218C00180000", quantity: "3"}
      - {symbol: "AAPL  261120P00200000", quantity: "4"}
      - {symbol: "AAPL  261120C00160000", quantity: "3"}
      - {symbol: "AAPL  261120C00170000", quantity: "2"}
      - {symbol: "AAPL  261120C00195000", quantity: "-2"}
      - {symbol: "SPXW  261120C06000000", quantity: "1"}
      - {symbol: AAPL, quantity: "400"}
  - id: 1002
    subtype: CASH
"""

CALL_150 = "AAPL  261120C00150000"
CALL_190 = "AAPL  261120C00190000"
DEC_180 = "AAPL  261218C00180000"
PUT_200_REJECTED = "AAPL  261120P00200000"
CALL_160_PARTIAL = "AAPL  261120C00160000"
CALL_170_CANCEL_FAILS = "AAPL  261120C00170000"
CALL_195_SHORT = "AAPL  261120C00195000"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = OPENED_AT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def book_scenario(text: str = BOOK, **overrides: str) -> Scenario:
    """The test book, with top-level YAML lines appended (they override earlier keys)."""
    extra = "".join(f"{key}: {value}\n" for key, value in overrides.items())
    base = "\n".join(line for line in text.splitlines() if line.split(":")[0] not in overrides)
    return parse_scenario(base + "\n" + extra, source="test-book")


def conforming_client(simulator: Simulator, *, token: str | None = None) -> httpx.Client:
    """An httpx client of ``simulator`` that checks default-revision replies against the spec."""
    spec = load_spec()

    def check(response: httpx.Response) -> None:
        if spec is None or simulator.revision != "2025-10-31":
            return
        response.read()
        try:
            body = response.json()
        except ValueError:
            return  # the malformed_body fault; its own tests look at it
        problems = spec.errors(
            response.request.method, response.request.url.path, response.status_code, body
        )
        assert not problems, "\n".join(problems)

    return httpx.Client(
        base_url=simulator.base_url,
        headers={"Authorization": f"Bearer {token or simulator.token}"},
        event_hooks={"response": [check]},
        timeout=10,
    )


def contract_id(simulator: Simulator, symbol: str) -> str:
    instrument = simulator.book.resolve(symbol)
    assert instrument is not None, symbol
    return instrument.id


def row(
    simulator: Simulator,
    symbol: str,
    quantity: str = "1",
    *,
    key: str | None = None,
    kind: str = "EXERCISE",
) -> dict[str, str]:
    """One submit row for ``symbol``."""
    body = {
        "instruction_type": kind,
        "instrument_id": contract_id(simulator, symbol),
        "quantity": quantity,
    }
    if key is not None:
        body["instruction_id"] = key
    return body


def instructions_path(account: int = ACCOUNT) -> str:
    return f"/v1/accounts/{account}/positions/instructions"
