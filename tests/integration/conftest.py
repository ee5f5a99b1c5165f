"""Fixtures of the integration tests: the calendar (built once: it costs seconds), the
day's simulator on a fake clock, a journal in ``tmp_path``, and the harness over them.
A test changes the scenario by parametrizing ``book`` with ``helpers.book_yaml(...)``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.journal import SqliteJournal
from exerciser.sim import Simulator, parse_scenario, running_simulator

from .helpers import BUSINESS_DATE, FakeClock, Harness, book_yaml


@pytest.fixture(scope="session")
def calendar() -> XnysCalendar:
    return XnysCalendar.around(BUSINESS_DATE)


@pytest.fixture
def book() -> str:
    return book_yaml()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(book: str, clock: FakeClock) -> Iterator[Simulator]:
    scenario = parse_scenario(book, source="integration-book.yaml")
    with running_simulator(scenario, clock=clock) as simulator:
        yield simulator


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def harness(
    sim: Simulator, clock: FakeClock, journal: SqliteJournal, calendar: XnysCalendar
) -> Harness:
    return Harness(sim=sim, clock=clock, journal=journal, calendar=calendar)
