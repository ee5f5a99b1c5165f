"""The three wire revisions: the spec (default), the SDK docs, and the 2026 preview."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from exerciser.sim import Simulator, running_simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_190,
    CLOSE_AT,
    DEC_180,
    FakeClock,
    book_scenario,
    instructions_path,
    row,
)


def partial_batch(sim: Simulator, client: httpx.Client) -> dict[str, Any]:
    """A 207: the second row is a DNE off expiry."""
    reply = client.post(
        instructions_path(),
        json=[row(sim, CALL_150, key="ok"), row(sim, DEC_180, key="dne", kind="DO_NOT_EXERCISE")],
    )
    assert reply.status_code == 207
    return reply.json()  # type: ignore[no-any-return]


def test_the_default_revision_is_the_openapi_spec(sim: Simulator, client: httpx.Client) -> None:
    body = partial_batch(sim, client)

    assert sim.revision == "2025-10-31"
    rejected = body["data"][1]
    assert rejected["status"] == "REJECTED"
    assert rejected["instruction_id"] == "dne"
    assert "rejection" not in rejected
    assert "client_instruction_id" not in rejected


def test_sdk_docs_call_a_rejected_row_of_a_207_engine_rejected(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.revision = "sdk-docs"

    body = partial_batch(sim, client)

    assert [r["status"] for r in body["data"]] == ["SENT", "ENGINE_REJECTED"]
    assert body["data"][1]["instruction_id"] == "dne"


@pytest.mark.parametrize(
    ("revision", "has_rows"),
    [("2025-10-31", True), ("sdk-docs", False), ("2026-preview", True)],
)
def test_all_rejected_replies_carry_rows_except_in_the_sdk_docs(
    sim: Simulator, client: httpx.Client, revision: str, has_rows: bool
) -> None:
    sim.revision = revision  # type: ignore[assignment]
    client.post(instructions_path(), json=[row(sim, CALL_150, key="a")])

    duplicate = client.post(instructions_path(), json=[row(sim, CALL_150, key="a")])
    sim.faults.submit_503 = 1
    unavailable = client.post(instructions_path(), json=[row(sim, CALL_190, key="b")])

    assert (duplicate.status_code, unavailable.status_code) == (409, 503)
    for reply in (duplicate, unavailable):
        assert ("data" in reply.json()) is has_rows
        assert reply.json()["error"]["code"] == reply.status_code


@pytest.mark.parametrize(("revision", "has_rows"), [("2025-10-31", True), ("sdk-docs", False)])
def test_a_pre_flight_400_has_an_empty_data_list_only_where_all_rejected_replies_have_rows(
    sim: Simulator, client: httpx.Client, revision: str, has_rows: bool
) -> None:
    sim.revision = revision  # type: ignore[assignment]

    body = client.post(instructions_path(), json=[row(sim, CALL_150, "1.5")]).json()

    assert ("data" in body) is has_rows


def test_the_2026_preview_names_the_key_client_instruction_id(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.revision = "2026-preview"

    reply = client.post(instructions_path(), json=[row(sim, CALL_150, key="legacy-name")])
    listed = client.get(instructions_path()).json()["data"]

    assert reply.json()["data"][0]["client_instruction_id"] == "legacy-name"
    assert "instruction_id" not in reply.json()["data"][0]
    assert listed[0]["client_instruction_id"] == "legacy-name"
    assert sim.book.instructions(ACCOUNT)[0]["client_instruction_id"] == "legacy-name"


@pytest.mark.parametrize(
    ("batch_rows", "reason", "metadata"),
    [
        pytest.param(
            [("dup", CALL_150, "1", "EXERCISE")],
            "DUPLICATE_INSTRUCTION",
            {"existing_id"},
            id="duplicate",
        ),
        pytest.param(
            [("dne", DEC_180, "1", "DO_NOT_EXERCISE")],
            "DNE_NOT_ON_EXPIRY",
            {"expiry", "business_date"},
            id="dne-off-expiry",
        ),
        pytest.param(
            [("cea", DEC_180, "1", "CONTRARY_EXERCISE")],
            "CEA_NOT_ON_EXPIRY",
            {"expiry", "business_date"},
            id="cea-off-expiry",
        ),
        pytest.param(
            [("big", CALL_190, "99", "EXERCISE")],
            "INSUFFICIENT_POSITION",
            {"available", "requested"},
            id="insufficient",
        ),
    ],
)
def test_the_2026_preview_adds_a_rejection_object_to_rejected_rows(
    sim: Simulator,
    client: httpx.Client,
    batch_rows: list[tuple[str, str, str, str]],
    reason: str,
    metadata: set[str],
) -> None:
    sim.revision = "2026-preview"
    client.post(instructions_path(), json=[{**row(sim, CALL_150), "client_instruction_id": "dup"}])

    reply = client.post(
        instructions_path(),
        json=[
            {**row(sim, symbol, quantity, kind=kind), "client_instruction_id": key}
            for key, symbol, quantity, kind in batch_rows
        ],
    )

    (rejected,) = reply.json()["data"]
    assert rejected["status"] == "REJECTED"
    assert rejected["rejection"]["reason"] == reason
    assert rejected["rejection"]["description"] == rejected["rejection_reason"]
    assert rejected["rejection"]["domain"] == "POSITION_INSTRUCTIONS"
    assert set(rejected["rejection"]["metadata"]) == metadata
    assert all(isinstance(v, str) for v in rejected["rejection"]["metadata"].values())


def test_the_2026_preview_explains_a_submit_past_the_cutoff(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    sim.revision = "2026-preview"
    clock.now = CLOSE_AT + timedelta(hours=2)

    (rejected,) = client.post(instructions_path(), json=[row(sim, CALL_150)]).json()["data"]

    assert rejected["rejection"]["reason"] == "EXERCISE_PAST_CUTOFF"
    assert rejected["rejection"]["metadata"] == {"cutoff_time": "2026-11-20T22:30:00Z"}


def test_the_2026_preview_explains_a_clearing_rejection(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.revision = "2026-preview"
    client.post(instructions_path(), json=[row(sim, "AAPL  261120P00200000")])

    (listed,) = client.get(instructions_path()).json()["data"]

    assert listed["status"] == "REJECTED"
    assert listed["rejection"]["reason"] == "CLEARING_REJECTED"
    assert listed["rejection"]["description"] == "Rejected by OCC"


def test_an_unknown_revision_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown revision"):
        sim.revision = "2099-01-01"  # type: ignore[assignment]


def test_the_revision_can_come_from_the_scenario(clock: FakeClock) -> None:
    with running_simulator(book_scenario(revision="sdk-docs"), clock=clock) as simulator:
        assert simulator.revision == "sdk-docs"
