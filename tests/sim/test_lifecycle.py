"""Instructions move on by list calls (polls) or by simulated seconds, per the scenario."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exerciser.sim import Simulator, running_simulator

from .helpers import (
    ACCOUNT,
    CALL_150,
    CALL_160_PARTIAL,
    CALL_190,
    PUT_200_REJECTED,
    FakeClock,
    book_scenario,
    conforming_client,
    contract_id,
    instructions_path,
    row,
)


def statuses(client: httpx.Client, **params: str) -> list[str]:
    return [i["status"] for i in client.get(instructions_path(), params=params).json()["data"]]


def test_with_settle_after_one_poll_the_first_list_already_shows_accepted(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    client.post(instructions_path(), json=[row(sim, CALL_150, "10")])
    clock.advance(seconds=5)

    (listed,) = client.get(instructions_path()).json()["data"]

    assert listed["status"] == "ACCEPTED"
    assert listed["accepted_quantity"] == "10"
    assert listed["rejection_reason"] is None
    assert listed["created_at"] == "2026-11-20T19:00:00Z"
    assert listed["updated_at"] == "2026-11-20T19:00:05Z"


def test_clearing_rejects_instructions_on_a_reject_contract(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(instructions_path(), json=[row(sim, PUT_200_REJECTED, "4")])

    (listed,) = client.get(instructions_path()).json()["data"]

    assert listed["status"] == "REJECTED"
    assert listed["rejection_reason"] == "Rejected by OCC"
    assert listed["accepted_quantity"] is None


@pytest.mark.parametrize(("quantity", "accepted"), [("3", "1"), ("2", "1"), ("1", "0")])
def test_a_partial_contract_accepts_the_floor_of_the_fraction(
    sim: Simulator, client: httpx.Client, quantity: str, accepted: str
) -> None:
    client.post(instructions_path(), json=[row(sim, CALL_160_PARTIAL, quantity)])

    (listed,) = client.get(instructions_path()).json()["data"]

    assert (listed["status"], listed["accepted_quantity"]) == ("ACCEPTED", accepted)


@pytest.fixture
def slow_polls(clock: FakeClock) -> Iterator[Simulator]:
    scenario = book_scenario(lifecycle="{settle_after_polls: 3}")
    with running_simulator(scenario, clock=clock) as simulator:
        yield simulator


def test_an_instruction_stays_sent_until_returned_by_n_list_calls(slow_polls: Simulator) -> None:
    with conforming_client(slow_polls) as client:
        client.post(instructions_path(), json=[row(slow_polls, CALL_150)])

        seen = [statuses(client)[0] for _ in range(4)]

    assert seen == ["SENT", "SENT", "ACCEPTED", "ACCEPTED"]


def test_only_list_calls_that_return_an_instruction_count_as_its_polls(
    slow_polls: Simulator,
) -> None:
    with conforming_client(slow_polls) as client:
        client.post(
            instructions_path(), json=[row(slow_polls, CALL_150), row(slow_polls, CALL_190)]
        )
        for _ in range(3):
            client.get(instructions_path(), params={"instrument_id": CALL_150})
        slow_polls.book.instructions(ACCOUNT)  # looking from a test is not a poll

        by_symbol = {
            i["symbol"]: i["status"] for i in client.get(instructions_path()).json()["data"]
        }

    assert by_symbol == {CALL_150: "ACCEPTED", CALL_190: "SENT"}


def test_the_instrument_filter_takes_an_id_or_an_unpadded_symbol(
    sim: Simulator, client: httpx.Client
) -> None:
    client.post(instructions_path(), json=[row(sim, CALL_150), row(sim, CALL_190)])

    by_id = client.get(instructions_path(), params={"instrument_id": contract_id(sim, CALL_190)})
    by_symbol = client.get(instructions_path(), params={"instrument_id": "AAPL261120C00150000"})

    assert [i["symbol"] for i in by_id.json()["data"]] == [CALL_190]
    assert [i["symbol"] for i in by_symbol.json()["data"]] == [CALL_150]


def test_an_unknown_instrument_filter_is_404(client: httpx.Client) -> None:
    assert client.get(instructions_path(), params={"instrument_id": "NOPE"}).status_code == 404


def test_listing_an_unknown_account_is_404(client: httpx.Client) -> None:
    assert client.get(instructions_path(999)).status_code == 404


@pytest.fixture
def timed(clock: FakeClock) -> Iterator[Simulator]:
    scenario = book_scenario(lifecycle="{settle_after_seconds: 30}")
    with running_simulator(scenario, clock=clock) as simulator:
        yield simulator


def test_with_settle_after_seconds_the_sim_clock_moves_instructions_on(
    timed: Simulator, clock: FakeClock
) -> None:
    with conforming_client(timed) as client:
        client.post(instructions_path(), json=[row(timed, CALL_150)])
        clock.advance(seconds=29)
        before = statuses(client)
        clock.advance(seconds=1)
        after = client.get(instructions_path()).json()["data"]

    assert before == ["SENT"]
    assert after[0]["status"] == "ACCEPTED"
    assert after[0]["updated_at"] == "2026-11-20T19:00:30Z"


def test_time_driven_moves_show_through_the_book_without_a_list_call(
    timed: Simulator, clock: FakeClock
) -> None:
    with conforming_client(timed) as client:
        client.post(instructions_path(), json=[row(timed, CALL_150)])
    clock.advance(minutes=1)

    assert [i["status"] for i in timed.book.instructions(ACCOUNT)] == ["ACCEPTED"]


def test_with_no_threshold_instructions_stay_sent(clock: FakeClock) -> None:
    scenario = book_scenario(lifecycle="{settle_after_polls: null}")
    with (
        running_simulator(scenario, clock=clock) as simulator,
        conforming_client(simulator) as client,
    ):
        client.post(instructions_path(), json=[row(simulator, CALL_150)])
        clock.advance(hours=5)

        assert statuses(client) == ["SENT"]


def test_an_instruction_added_by_hand_is_listed_with_a_server_key(
    sim: Simulator, client: httpx.Client
) -> None:
    added = sim.book.add_instruction(ACCOUNT, instrument=CALL_150, quantity=4, status="ACCEPTED")

    (listed,) = client.get(instructions_path()).json()["data"]

    assert listed["id"] == added["id"]
    assert listed["instruction_id"] == added["instruction_id"] != ""
    assert (listed["status"], listed["accepted_quantity"], listed["quantity"]) == (
        "ACCEPTED",
        "4",
        "4",
    )


def test_an_instruction_added_by_hand_uses_up_the_position(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.book.add_instruction(ACCOUNT, instrument="AAPL261120C00190000", quantity="5")

    reply = client.post(instructions_path(), json=[row(sim, CALL_190, "1")])

    assert reply.status_code == 400


def test_add_instruction_refuses_other_statuses_and_unknown_contracts(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="SENT or ACCEPTED"):
        sim.book.add_instruction(ACCOUNT, instrument=CALL_150, quantity=1, status="REJECTED")
    with pytest.raises(ValueError, match="not a contract"):
        sim.book.add_instruction(ACCOUNT, instrument="AAPL", quantity=1)
