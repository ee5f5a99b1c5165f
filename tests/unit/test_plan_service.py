"""The plan use case over fakes: a non-session refuses before any request, prices come
from the file first, and the close is captured only when it really is the close."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exerciser.domain.book import Contract, Position, Quote, Right
from exerciser.domain.calendar import NotASessionError
from exerciser.domain.plan import PlanAction
from exerciser.domain.policy import RuleSet
from exerciser.services.plan import PlanRequest, expiring_on, make_plan

from .fakes import WeekdayCalendar

pytestmark = pytest.mark.anyio

NY = ZoneInfo("America/New_York")
DAY = date(2026, 11, 20)
CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


class FakeSource:
    def __init__(self, traded_at: datetime) -> None:
        self.traded_at = traded_at
        self.calls = 0

    async def account_ids(self) -> list[int]:
        self.calls += 1
        return [1]

    async def positions(self, account_id: int) -> list[Position]:
        return [
            Position(
                account_id=1,
                instrument_id="c",
                symbol="AAPL  261120C00190000",
                is_option=True,
                quantity=Decimal(2),
                available_quantity=Decimal(2),
                is_short=False,
                underlying_id="u",
            )
        ]

    async def buying_power(self, account_id: int) -> Decimal:
        return Decimal(10**6)

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        return [
            Contract(
                id="c",
                symbol="AAPL  261120C00190000",
                right=Right.CALL,
                strike=Decimal(190),
                expiry=DAY,
                multiplier=Decimal(100),
                exercise_style="AMERICAN",
                settle_on_open=False,
                underlying_id="u",
            )
        ]

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]:
        return [
            Quote(instrument_id="u", symbol="AAPL", price=Decimal("195"), traded_at=self.traded_at)
        ]


class MemoryStore:
    def __init__(self) -> None:
        self.days: dict[date, dict[str, Decimal]] = {}

    def get(self, day: date) -> dict[str, Decimal]:
        return dict(self.days.get(day, {}))

    def put(self, day: date, captured: Mapping[str, Decimal]) -> None:
        self.days.setdefault(day, {}).update(captured)


def request(as_of: datetime, **extra: object) -> PlanRequest:
    return PlanRequest(business_date=DAY, as_of=as_of, rules=RuleSet(), **extra)  # type: ignore[arg-type]


async def test_a_non_session_refuses_before_any_request() -> None:
    source = FakeSource(CLOSE)
    with pytest.raises(NotASessionError):
        await make_plan(
            PlanRequest(business_date=date(2026, 11, 21), as_of=CLOSE, rules=RuleSet()),
            source=source,
            calendar=WeekdayCalendar(),
        )
    assert source.calls == 0


async def test_the_close_is_captured_right_after_the_bell() -> None:
    store = MemoryStore()
    plan = await make_plan(
        request(CLOSE + timedelta(minutes=1)),
        source=FakeSource(CLOSE - timedelta(seconds=1)),
        calendar=WeekdayCalendar(),
        references=store,
    )
    assert store.days == {DAY: {"AAPL": Decimal(195)}}
    assert plan.rows[0].price_source == "broker"


async def test_a_preview_before_the_close_is_provisional_and_not_captured() -> None:
    store = MemoryStore()
    plan = await make_plan(
        request(CLOSE - timedelta(minutes=30)),
        source=FakeSource(CLOSE - timedelta(minutes=31)),
        calendar=WeekdayCalendar(),
        references=store,
    )
    assert store.days == {}
    assert plan.rows[0].price_source == "provisional"


async def test_file_prices_win_over_the_broker_and_are_not_captured() -> None:
    store = MemoryStore()
    plan = await make_plan(
        request(CLOSE + timedelta(minutes=1), file_prices={"AAPL": (Decimal(180), None)}),
        source=FakeSource(CLOSE - timedelta(seconds=1)),
        calendar=WeekdayCalendar(),
        references=store,
    )
    assert store.days == {}
    (row,) = plan.rows
    assert row.price_source == "file"
    assert row.action is PlanAction.NONE
    assert row.occ_would_exercise is False


@pytest.mark.parametrize(
    ("listed", "expires"),
    [
        (DAY, True),
        (date(2026, 11, 21), True),  # a Saturday listing moves to Friday
        (date(2026, 11, 22), True),
        (date(2026, 11, 23), False),
        (date(2026, 11, 19), False),
        (date(2031, 1, 17), False),  # far beyond the calendar: cannot expire today
    ],
)
def test_expiring_on_shifts_non_sessions_back(listed: date, expires: bool) -> None:
    assert expiring_on(WeekdayCalendar(), DAY)(listed) is expires


def test_expiring_on_a_holiday_thursday() -> None:
    calendar = WeekdayCalendar(holidays=[date(2026, 6, 19)])
    assert expiring_on(calendar, date(2026, 6, 18))(date(2026, 6, 19))
