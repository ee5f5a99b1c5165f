"""Submitting a batch of position instructions: 200 / 207 / 409 / 400 / 404 and what is stored."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from exerciser.sim import Simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_190,
    CALL_195_SHORT,
    CLOSE_AT,
    DEC_180,
    EMPTY_ACCOUNT,
    FakeClock,
    contract_id,
    instructions_path,
    row,
)

ZERO_ID = "00000000-0000-0000-0000-000000000000"


def test_a_batch_that_is_all_stored_is_200_with_every_row_sent(
    sim: Simulator, client: httpx.Client
) -> None:
    batch = [row(sim, CALL_150, "10", key="k-1"), row(sim, CALL_190, "5", key="k-2")]

    reply = client.post(instructions_path(), json=batch)

    assert reply.status_code == 200
    body = reply.json()
    assert body["error"] is None
    assert [(r["instruction_id"], r["status"], r["quantity"]) for r in body["data"]] == [
        ("k-1", "SENT", "10"),
        ("k-2", "SENT", "5"),
    ]
    first = body["data"][0]
    assert first["id"] != ZERO_ID
    assert first["account_id"] == ACCOUNT
    assert first["instrument_id"] == contract_id(sim, CALL_150)
    assert first["symbol"] == CALL_150
    assert first["created_at"] == first["updated_at"] == "2026-11-20T19:00:00Z"
    assert [i["id"] for i in sim.book.instructions(ACCOUNT)] == [r["id"] for r in body["data"]]
    assert sim.book.submit_count == 1


def test_a_row_without_a_key_gets_a_server_generated_one(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(instructions_path(), json=[row(sim, CALL_150)])

    (stored,) = reply.json()["data"]
    assert stored["instruction_id"]
    assert sim.book.instructions(ACCOUNT)[0]["instruction_id"] == stored["instruction_id"]


def test_either_key_name_is_accepted_in_requests(sim: Simulator, client: httpx.Client) -> None:
    preview_style = {**row(sim, CALL_190), "client_instruction_id": "k-new"}

    reply = client.post(instructions_path(), json=[row(sim, CALL_150, key="k-old"), preview_style])

    assert [r["instruction_id"] for r in reply.json()["data"]] == ["k-old", "k-new"]


def test_a_batch_with_some_rows_rejected_is_207_with_every_row_in_order(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(instructions_path(), json=[row(sim, CALL_150, "1", key="dup")])
    existing = sim.book.instructions(ACCOUNT)[0]["id"]

    reply = client.post(
        instructions_path(),
        json=[row(sim, CALL_190, "1", key="new"), row(sim, CALL_150, "1", key="dup")],
    )

    assert reply.status_code == 207
    body = reply.json()
    assert body["error"] == {"code": 409, "message": "Duplicate exercise instruction"}
    stored, rejected = body["data"]
    assert stored["status"] == "SENT"
    assert rejected["id"] == ZERO_ID
    assert rejected["status"] == "REJECTED"
    assert rejected["instruction_id"] == "dup"
    assert rejected["rejection_reason"] == f"Duplicate exercise instruction; existing_id={existing}"
    assert len(sim.book.instructions(ACCOUNT)) == 2


def test_a_207_whose_first_rejection_is_not_a_duplicate_summarises_with_400(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(
        instructions_path(),
        json=[row(sim, CALL_150), row(sim, DEC_180, kind="DO_NOT_EXERCISE")],
    )

    assert reply.status_code == 207
    assert reply.json()["error"]["code"] == 400


def test_a_batch_of_only_duplicates_is_409_and_stores_nothing_more(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(
        instructions_path(), json=[row(sim, CALL_150, key="a"), row(sim, CALL_190, key="b")]
    )

    reply = client.post(
        instructions_path(), json=[row(sim, CALL_150, key="a"), row(sim, CALL_190, key="b")]
    )

    assert reply.status_code == 409
    body = reply.json()
    assert body["error"] == {"code": 409, "message": "Duplicate exercise instruction"}
    assert [r["status"] for r in body["data"]] == ["REJECTED", "REJECTED"]
    assert len(sim.book.instructions(ACCOUNT)) == 2


def test_a_key_repeated_within_one_batch_is_a_duplicate_of_the_first_row(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(
        instructions_path(), json=[row(sim, CALL_150, key="same"), row(sim, CALL_190, key="same")]
    )

    assert reply.status_code == 207
    first, second = reply.json()["data"]
    assert (
        second["rejection_reason"] == f"Duplicate exercise instruction; existing_id={first['id']}"
    )


def test_a_duplicate_is_detected_even_after_the_first_was_rejected_by_clearing(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(instructions_path(), json=[row(sim, "AAPL  261120P00200000", key="once")])
    client.get(instructions_path())  # settles: clearing rejects this contract

    reply = client.post(instructions_path(), json=[row(sim, "AAPL  261120P00200000", key="once")])

    assert reply.status_code == 409


@pytest.mark.parametrize("kind", ["DO_NOT_EXERCISE", "CONTRARY_EXERCISE"])
def test_dne_and_cea_off_the_contracts_expiry_are_400(
    sim: Simulator, client: httpx.Client, kind: str
) -> None:
    reply = client.post(instructions_path(), json=[row(sim, DEC_180, kind=kind)])

    assert reply.status_code == 400
    message = f"{kind} must be submitted on the contract's expiration date"
    assert reply.json()["error"] == {"code": 400, "message": message}
    (rejected,) = reply.json()["data"]
    assert rejected["rejection_reason"] == message
    assert sim.book.instructions(ACCOUNT) == []


def test_dne_on_the_expiration_date_is_stored(sim: Simulator, client: httpx.Client) -> None:
    reply = client.post(instructions_path(), json=[row(sim, CALL_190, kind="DO_NOT_EXERCISE")])

    assert reply.status_code == 200


def test_exercising_a_later_expiry_early_is_allowed(sim: Simulator, client: httpx.Client) -> None:
    assert client.post(instructions_path(), json=[row(sim, DEC_180, "3")]).status_code == 200


@pytest.mark.parametrize("quantity", ["1.5", "-1", "abc", "0", "1e3", "", " 1"])
def test_an_unencodable_quantity_refuses_the_whole_batch_before_any_row(
    sim: Simulator, client: httpx.Client, quantity: str
) -> None:
    batch = [row(sim, CALL_150, "1"), row(sim, CALL_190, quantity)]

    reply = client.post(instructions_path(), json=batch)

    assert reply.status_code == 400
    body = reply.json()
    assert body["error"]["message"] == f"Quantity {quantity!r} cannot be encoded"
    assert body["data"] == []  # the spec's 400 schema requires `data`; no row was judged
    assert sim.book.instructions(ACCOUNT) == []


def test_an_unknown_instrument_refuses_the_whole_batch_with_404(
    sim: Simulator, client: httpx.Client
) -> None:
    unknown = "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01"
    batch = [row(sim, CALL_150), {**row(sim, CALL_190), "instrument_id": unknown}]

    reply = client.post(instructions_path(), json=batch)

    assert reply.status_code == 404
    assert reply.json()["error"]["message"] == f"Instrument not found: {unknown}"
    assert "data" not in reply.json()
    assert sim.book.instructions(ACCOUNT) == []


def test_instrument_id_must_be_a_contract_uuid_not_a_symbol(
    sim: Simulator, client: httpx.Client
) -> None:
    batch = [{**row(sim, CALL_150), "instrument_id": CALL_150}]

    assert client.post(instructions_path(), json=batch).status_code == 404


def test_submitting_to_an_unknown_account_is_404(sim: Simulator, client: httpx.Client) -> None:
    reply = client.post(instructions_path(999), json=[row(sim, CALL_150)])

    assert reply.status_code == 404
    assert sim.book.submit_count == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"{not json", "Request body is not valid JSON", id="not-json"),
        pytest.param(b'{"instruction_type": "EXERCISE"}', "must be a JSON array", id="object"),
        pytest.param(b"[1, 2]", "must be a JSON array", id="array-of-numbers"),
        pytest.param(b"[]", "At least one instruction is required", id="empty"),
        pytest.param(
            b'[{"instruction_type": "EXERCISE", "quantity": "1"}]',
            "instructions[0]: missing required field 'instrument_id'",
            id="missing-field",
        ),
        pytest.param(
            b'[{"instruction_type": "EXERCISE", "instrument_id": "x", "quantity": 1}]',
            "instructions[0].quantity: must be a string",
            id="numeric-quantity",
        ),
        pytest.param(
            b'[{"instruction_type": "EXPIRE", "instrument_id": "x", "quantity": "1"}]',
            "instructions[0].instruction_type: 'EXPIRE' is not one of",
            id="unknown-type",
        ),
        pytest.param(
            b'[{"instruction_type": "EXERCISE", "instrument_id": "x", "quantity": "1",'
            b' "instruction_id": "a", "client_instruction_id": "b"}]',
            "instruction_id and client_instruction_id differ",
            id="two-different-keys",
        ),
    ],
)
def test_a_malformed_batch_is_400_and_stores_nothing(
    sim: Simulator, client: httpx.Client, content: bytes, message: str
) -> None:
    reply = client.post(
        instructions_path(), content=content, headers={"Content-Type": "application/json"}
    )

    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]
    assert sim.book.instructions(ACCOUNT) == []


def test_more_contracts_than_held_is_insufficient_position(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(instructions_path(), json=[row(sim, CALL_190, "6")])

    assert reply.status_code == 400
    (rejected,) = reply.json()["data"]
    assert rejected["rejection_reason"] == "Insufficient position: requested 6, available 5"


def test_live_instructions_use_up_the_available_quantity(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(
        instructions_path(), json=[row(sim, CALL_190, "3"), row(sim, CALL_190, "3")]
    )

    assert reply.status_code == 207
    assert reply.json()["data"][1]["rejection_reason"] == (
        "Insufficient position: requested 3, available 2"
    )


def test_rejected_and_cancelled_instructions_free_their_quantity(
    sim: Simulator, client: httpx.Client
) -> None:
    first = client.post(instructions_path(), json=[row(sim, CALL_190, "5")]).json()["data"][0]
    client.delete(f"{instructions_path()}/{first['id']}")
    client.get(instructions_path())  # the cancel completes

    assert client.post(instructions_path(), json=[row(sim, CALL_190, "5")]).status_code == 200


def test_a_short_position_has_nothing_to_exercise(sim: Simulator, client: httpx.Client) -> None:
    reply = client.post(instructions_path(), json=[row(sim, CALL_195_SHORT, "1")])

    assert reply.status_code == 400
    assert "available 0" in reply.json()["data"][0]["rejection_reason"]


def test_an_account_without_the_position_has_nothing_to_exercise(
    sim: Simulator, client: httpx.Client
) -> None:
    reply = client.post(instructions_path(EMPTY_ACCOUNT), json=[row(sim, CALL_150, "1")])

    assert reply.status_code == 400


def test_submits_after_the_cutoff_are_rejected(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    clock.now = CLOSE_AT + timedelta(minutes=90, seconds=1)  # 17:30:01 New York

    reply = client.post(instructions_path(), json=[row(sim, CALL_150)])

    assert reply.status_code == 400
    assert reply.json()["data"][0]["rejection_reason"] == (
        "Instructions are not accepted after the cutoff (2026-11-20T22:30:00Z)"
    )


def test_a_submit_exactly_at_the_cutoff_is_accepted(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    clock.now = CLOSE_AT + timedelta(minutes=90)

    assert client.post(instructions_path(), json=[row(sim, CALL_150)]).status_code == 200


def test_submit_count_counts_every_post_that_reached_the_endpoint(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(instructions_path(), json=[row(sim, CALL_150)])
    client.post(instructions_path(), content=b"nope")
    client.get(instructions_path())

    assert sim.book.submit_count == 2
