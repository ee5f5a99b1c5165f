"""``exerciser plan`` on the calendar's awkward days, with the wall clock moved by
time-machine (the simulator's clock follows it): an early close, a holiday-shifted
monthly in summer time, and a preview before the bell."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import time_machine

from exerciser import cli
from exerciser.sim import parse_scenario, running_simulator

BOOK = """
business_date: {day}
close_at: {close}
underlyings:
  - {{symbol: AAPL, close: "190.40", last: "185.00"}}
contracts:
  - {{symbol: "{symbol}", underlying: AAPL}}
accounts:
  - id: 7
    balances: {{buying_power: "1000000"}}
    positions:
      - {{symbol: "{symbol}", quantity: "3"}}
"""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def plan_at(moment: datetime, book: str, state: Path) -> dict[str, Any]:
    scenario = parse_scenario(book, source="day.yaml")
    with time_machine.travel(moment, tick=False), running_simulator(scenario) as sim:
        out, err = io.StringIO(), io.StringIO()
        env = {
            "EXERCISER_API_KEY": sim.token,
            "EXERCISER_API_BASE_URL": sim.base_url,
            "EXERCISER_STATE_DIR": str(state),
        }
        code = cli.main(["plan", "--format", "json"], environ=env, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def test_early_close_day_decides_on_the_1300_close(tmp_path: Path) -> None:
    book = BOOK.format(
        day="2026-11-27", close="2026-11-27T13:00:00-05:00", symbol="AAPL  261127C00190000"
    )
    document = plan_at(datetime(2026, 11, 27, 18, 1, tzinfo=UTC), book, tmp_path)
    assert document["business_date"] == "2026-11-27"
    (row,) = document["rows"]
    assert row["price_source"] == "broker"
    assert row["occ_reference_price"] == "190.40"
    assert row["expected_outcome"] == "EXERCISED"


def test_before_an_early_close_the_plan_is_a_preview(tmp_path: Path) -> None:
    book = BOOK.format(
        day="2026-11-27", close="2026-11-27T13:00:00-05:00", symbol="AAPL  261127C00190000"
    )
    document = plan_at(datetime(2026, 11, 27, 17, 30, tzinfo=UTC), book, tmp_path)
    (row,) = document["rows"]
    assert row["price_source"] == "provisional"


def test_juneteenth_monthly_expires_on_the_thursday_in_summer_time(tmp_path: Path) -> None:
    # Listed for Friday 2026-06-19 (a holiday); it expires Thursday 2026-06-18, whose
    # 16:00 EDT close is 20:00 UTC.
    book = BOOK.format(
        day="2026-06-18", close="2026-06-18T16:00:00-04:00", symbol="AAPL  260619C00190000"
    )
    document = plan_at(datetime(2026, 6, 18, 20, 1, tzinfo=UTC), book, tmp_path)
    assert document["business_date"] == "2026-06-18"
    (row,) = document["rows"]
    assert row["expiry"] == "2026-06-19"
    assert row["price_source"] == "broker"
    assert row["occ_would_exercise"] is True


def test_on_the_holiday_itself_the_last_session_is_planned(tmp_path: Path) -> None:
    book = BOOK.format(
        day="2026-06-18", close="2026-06-18T16:00:00-04:00", symbol="AAPL  260619C00190000"
    )
    document = plan_at(datetime(2026, 6, 19, 15, 0, tzinfo=UTC), book, tmp_path)
    assert document["business_date"] == "2026-06-18"
