"""CPU per reply of the Clear Street adapter, without a network:
``python3 -m uv run --locked python -m bench.wire_micro [N]``.

Each figure is one public call of the ports the daemon uses, through the real client
over ``httpx.MockTransport``, which hands back a prebuilt reply shaped like the
simulator's: a positions page of 1,000 rows to domain ``Position`` values, a page of 100
option contracts to ``Contract`` values, a 50-row instruction list to
``BrokerInstruction`` values, and an empty list (the client and httpx alone, to
subtract). CPU seconds (``process_time``), the least of 15 rounds of N calls: the
machine is shared, and the least is the figure other work disturbed least.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import SecretStr

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions


def position(n: int) -> dict[str, Any]:
    option = n % 6 != 0
    return {
        "account_id": 1042,
        "instrument_id": f"0195f6d0-a1b2-7c3d-8e4f-{n:012d}",
        "symbol": f"AAPL  261120C{190000 + n:08d}" if option else "AAPL",
        "instrument_type": "OPTION" if option else "COMMON_STOCK",
        "quantity": str(n % 40 - 5),
        "available_quantity": str(n % 40 - 5),
        "market_value": "1234.50",
        "position_type": "SHORT" if n % 40 < 5 else "LONG",
        "instrument_price": "3.25",
        "closing_price": "3.20",
        "closing_price_date": "2026-11-20",
        "underlying_instrument_id": "0195f6d0-a1b2-7c3d-8e4f-aaaaaaaaaaaa" if option else None,
        "avg_price": None,
        "cost_basis": None,
        "unrealized_pnl": None,
    }


def instruction(n: int) -> dict[str, Any]:
    return {
        "id": f"0195f6d0-a1b2-7c3d-8e4f-{n:012d}",
        "account_id": 1042,
        "instruction_id": f"exr-20261120-1042-{n:04d}",
        "instruction_type": "EXERCISE" if n % 2 else "DO_NOT_EXERCISE",
        "instrument_id": f"0195f6d0-a1b2-7c3d-9e4f-{n:012d}",
        "symbol": f"AAPL  261120C{190000 + n:08d}",
        "quantity": str(n % 9 + 1),
        "status": "ACCEPTED",
        "accepted_quantity": str(n % 9 + 1),
        "rejection_reason": None,
        "created_at": "2026-11-20T21:01:02Z",
        "updated_at": "2026-11-20T21:01:03Z",
    }


def contract(n: int) -> dict[str, Any]:
    return {
        "id": f"0195f6d0-a1b2-7c3d-9e4f-{n:012d}",
        "symbol": f"AAPL  261120{'CP'[n % 2]}{190000 + n:08d}",
        "contract_type": "CALL" if n % 2 == 0 else "PUT",
        "currency": "USD",
        "exchange": "OPRA",
        "exercise_style": "AMERICAN",
        "expiry": "2026-11-20",
        "strike_price": f"{190 + n}.5",
        "multiplier": "100",
        "listing_type": "STANDARD",
        "is_liquidation_only": False,
        "is_marginable": True,
        "is_tradable": True,
        "is_settle_on_open": False,
        "last_trade_cutoff": "2026-11-20T21:00:00Z",
        "underlying_instrument_id": "0195f6d0-a1b2-7c3d-8e4f-aaaaaaaaaaaa",
        "open_interest": None,
    }


def body(data: Any) -> bytes:
    return json.dumps({"data": data, "error": None, "metadata": {"request_id": "r-1"}}).encode()


POSITIONS = body([position(n) for n in range(1000)])
CONTRACTS = body([contract(n) for n in range(100)])
INSTRUCTIONS = body([instruction(n) for n in range(50)])
EMPTY = body([])


def client(content: bytes) -> ClearStreetClient:
    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content)

    return ClearStreetClient(
        base_url="https://broker.test",
        api_key=SecretStr("bench"),
        transport=httpx.MockTransport(reply),
    )


async def cpu(n: int, call: Callable[[], Awaitable[object]]) -> float:
    best = float("inf")
    for _ in range(15):
        start = time.process_time()
        for _ in range(n):
            await call()
        best = min(best, time.process_time() - start)
    return best / n * 1000


async def main(n: int) -> None:
    ids = [f"0195f6d0-a1b2-7c3d-9e4f-{n:012d}" for n in range(100)]
    async with (
        client(POSITIONS) as c1,
        client(CONTRACTS) as c2,
        client(INSTRUCTIONS) as c3,
        client(EMPTY) as c4,
    ):
        book, contracts = ClearStreetBookSource(c1), ClearStreetBookSource(c2)
        instructions, empty = ClearStreetInstructions(c3), c4
        assert len(await book.positions(1042)) == 1000
        assert len(await contracts.contracts(ids)) == 100
        assert len(await instructions.list_instructions(1042)) == 50
        base = await cpu(n * 10, lambda: empty.list_instructions(1042))
        pos = await cpu(n, lambda: book.positions(1042))
        con = await cpu(n * 5, lambda: contracts.contracts(ids))
        ins = await cpu(n * 10, lambda: instructions.list_instructions(1042))
    print(f"empty reply (client + httpx mock)  {base:7.3f} ms CPU a call")
    for name, ms in [
        ("positions page, 1,000 rows", pos),
        ("contracts page, 100 rows", con),
        ("instruction list, 50 rows", ins),
    ]:
        print(f"{name:34s} {ms:7.3f} ms CPU a call ({ms - base:.3f} parsing)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
