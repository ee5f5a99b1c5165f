"""Fixtures for the simulator tests: the test book on a running simulator, a settable clock,
and a client whose default-revision replies are validated against the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exerciser.sim import Scenario, Simulator, running_simulator

from .helpers import FakeClock, book_scenario, conforming_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scenario() -> Scenario:
    return book_scenario()


@pytest.fixture
def sim(scenario: Scenario, clock: FakeClock) -> Iterator[Simulator]:
    with running_simulator(scenario, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with conforming_client(sim) as http:
        yield http
