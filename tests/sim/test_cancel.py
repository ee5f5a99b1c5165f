"""Cancelling an instruction: 200 CANCEL_REQUESTED, then CANCELLED or CANCEL_FAILED; 409; 404."""

from __future__ import annotations

import httpx
import pytest

from exerciser.sim import Simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_170_CANCEL_FAILS,
    EMPTY_ACCOUNT,
    PUT_200_REJECTED,
    FakeClock,
    instructions_path,
    row,
)


def submit_one(sim: Simulator, client: httpx.Client, symbol: str = CALL_150) -> str:
    reply = client.post(instructions_path(), json=[row(sim, symbol)])
    assert reply.status_code == 200, reply.text
    return str(reply.json()["data"][0]["id"])


def test_cancelling_a_sent_instruction_is_200_cancel_requested_then_cancelled(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    server_id = submit_one(sim, client)
    clock.advance(seconds=10)

    reply = client.delete(f"{instructions_path()}/{server_id}")
    (listed,) = client.get(instructions_path()).json()["data"]

    assert reply.status_code == 200
    cancelled = reply.json()["data"]
    assert (cancelled["id"], cancelled["status"]) == (server_id, "CANCEL_REQUESTED")
    assert cancelled["updated_at"] == "2026-11-20T19:00:10Z"
    assert listed["status"] == "CANCELLED"


def test_an_accepted_instruction_can_still_be_cancelled(
    sim: Simulator, client: httpx.Client
) -> None:
    server_id = submit_one(sim, client)
    client.get(instructions_path())  # now ACCEPTED

    reply = client.delete(f"{instructions_path()}/{server_id}")

    assert reply.status_code == 200
    assert reply.json()["data"]["status"] == "CANCEL_REQUESTED"


def test_a_cancel_on_a_cancel_failed_contract_ends_cancel_failed_with_a_reason(
    sim: Simulator, client: httpx.Client
) -> None:
    server_id = submit_one(sim, client, CALL_170_CANCEL_FAILS)

    client.delete(f"{instructions_path()}/{server_id}")
    (listed,) = client.get(instructions_path()).json()["data"]

    assert listed["status"] == "CANCEL_FAILED"
    assert listed["rejection_reason"] == "Too late to cancel"


@pytest.mark.parametrize(
    ("symbol", "steps"),
    [
        pytest.param(PUT_200_REJECTED, ["list"], id="rejected"),
        pytest.param(CALL_150, ["cancel", "list"], id="cancelled"),
        pytest.param(CALL_170_CANCEL_FAILS, ["cancel", "list"], id="cancel-failed"),
        pytest.param(CALL_150, ["cancel"], id="cancel-requested"),
    ],
)
def test_cancelling_in_a_terminal_state_is_409(
    sim: Simulator, client: httpx.Client, symbol: str, steps: list[str]
) -> None:
    server_id = submit_one(sim, client, symbol)
    for step in steps:
        if step == "list":
            client.get(instructions_path())
        else:
            client.delete(f"{instructions_path()}/{server_id}")

    reply = client.delete(f"{instructions_path()}/{server_id}")

    assert reply.status_code == 409
    assert reply.json()["error"] == {"code": 409, "message": "Instruction is in a terminal state"}


def test_cancelling_an_unknown_instruction_is_404(client: httpx.Client) -> None:
    reply = client.delete(f"{instructions_path()}/0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e02")

    assert reply.status_code == 404


def test_cancelling_another_accounts_instruction_is_404(
    sim: Simulator, client: httpx.Client
) -> None:
    server_id = submit_one(sim, client)

    reply = client.delete(f"{instructions_path(EMPTY_ACCOUNT)}/{server_id}")

    assert reply.status_code == 404
    assert sim.book.instructions(ACCOUNT)[0]["status"] == "SENT"
