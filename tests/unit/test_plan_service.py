"""The plan use case over fakes: a non-session refuses before any request, prices come
from the file first, and the close is captured only when it really is the close."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exerciser.domain.book import Contract, Position, Quote, Right
from exerciser.domain.calendar import NotASessionError
from exerciser.domain.plan import PlanAction
from exerciser.domain.policy import RuleSet
from exerciser.services.load import load_book
from exerciser.services.plan import PlanRequest, expiring_on, make_plan, plan_book

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


class ManyAccounts(FakeSource):
    """Five accounts, one call each on three strikes, long and short, with buying power
    from none to plenty; the balances arrive in the reverse of the accounts' order."""

    async def account_ids(self) -> list[int]:
        return [1, 2, 3, 4, 5]

    async def positions(self, account_id: int) -> list[Position]:
        return [
            Position(
                account_id=account_id,
                instrument_id=f"c{strike}",
                symbol=f"AAPL  261120C00{strike}000",
                is_option=True,
                quantity=Decimal(account_id),
                available_quantity=Decimal(account_id),
                is_short=account_id == 4,
                underlying_id="u",
            )
            for strike in (180, 190, 200)
        ]

    async def buying_power(self, account_id: int) -> Decimal:
        for _ in range(10 - account_id):  # the later accounts' balances come first
            await asyncio.sleep(0)
        return Decimal(10 ** (account_id + 2))

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        return [
            Contract(
                id=cid,
                symbol=f"AAPL  261120C00{cid[1:]}000",
                right=Right.CALL,
                strike=Decimal(cid[1:]),
                expiry=DAY,
                multiplier=Decimal(100),
                exercise_style="AMERICAN",
                settle_on_open=False,
                underlying_id="u",
            )
            for cid in contract_ids
        ]


async def test_deciding_accounts_as_their_balances_arrive_makes_the_plan_of_the_whole_book() -> (
    None
):
    source, calendar = ManyAccounts(CLOSE - timedelta(seconds=1)), WeekdayCalendar()
    asked = request(CLOSE + timedelta(minutes=1))
    streamed = await make_plan(asked, source=source, calendar=calendar)
    whole = plan_book(await load_book(source), asked, calendar=calendar)
    assert streamed == whole
    assert [r.account_id for r in streamed.rows] == sorted(r.account_id for r in whole.rows)
    assert {r.account_id for r in streamed.rows} == {1, 2, 3, 4, 5}
