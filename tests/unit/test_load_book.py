"""The load use case over a fake BookSource: which accounts, which contracts, which prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from exerciser.domain.book import AccountBook, Contract, Position, Quote, Right
from exerciser.services.load import load_balances, load_book, load_holdings

pytestmark = pytest.mark.anyio

DAY = date(2026, 11, 20)


def position(account: int, instrument: str, *, option: bool = True) -> Position:
    return Position(
        account_id=account,
        instrument_id=instrument,
        symbol=instrument,
        is_option=option,
        quantity=Decimal(1),
        available_quantity=Decimal(1),
        is_short=False,
        underlying_id="u-aapl" if option else None,
    )


def contract(cid: str, expiry: date = DAY) -> Contract:
    return Contract(
        id=cid,
        symbol=cid,
        right=Right.CALL,
        strike=Decimal(190),
        expiry=expiry,
        multiplier=Decimal(100),
        exercise_style="AMERICAN",
        settle_on_open=False,
        underlying_id="u-aapl",
    )


class FakeBroker:
    def __init__(self) -> None:
        self.positions_by_account = {
            1: [position(1, "c-nov"), position(1, "u-aapl", option=False)],
            2: [position(2, "c-dec"), position(2, "c-gone")],
        }
        self.known = {"c-nov": contract("c-nov"), "c-dec": contract("c-dec", date(2026, 12, 18))}
        self.asked_contracts: list[list[str]] = []
        self.asked_quotes: list[list[str]] = []

    async def account_ids(self) -> list[int]:
        return sorted(self.positions_by_account)

    async def positions(self, account_id: int) -> list[Position]:
        return self.positions_by_account[account_id]

    async def buying_power(self, account_id: int) -> Decimal:
        return Decimal(1000 * account_id)

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        self.asked_contracts.append(list(contract_ids))
        return [self.known[c] for c in contract_ids if c in self.known]

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]:
        self.asked_quotes.append(list(instrument_ids))
        return [
            Quote(instrument_id=i, symbol="AAPL", price=Decimal("190.5"), traded_at=None)
            for i in instrument_ids
        ]


async def test_empty_account_list_means_every_account_the_broker_lists() -> None:
    broker = FakeBroker()
    book = await load_book(broker)
    assert [a.account_id for a in book.accounts] == [1, 2]
    assert book.accounts[1].buying_power == Decimal(2000)


async def test_given_accounts_restrict_the_load() -> None:
    book = await load_book(FakeBroker(), account_ids=[2])
    assert [a.account_id for a in book.accounts] == [2]


async def test_contracts_asked_once_for_option_positions_only_and_prices_for_underlyings() -> None:
    broker = FakeBroker()
    book = await load_book(broker)
    assert broker.asked_contracts == [["c-dec", "c-gone", "c-nov"]]
    assert broker.asked_quotes == [["u-aapl"]]
    assert set(book.contracts) == {"c-nov", "c-dec"}
    assert book.quotes["u-aapl"].price == Decimal("190.5")


async def test_expiring_on_picks_positions_whose_contract_expires_that_day() -> None:
    book = await load_book(FakeBroker())
    expiring = book.expiring_on(DAY)
    assert [(a.account_id, p.instrument_id) for a, p, _ in expiring] == [(1, "c-nov")]


class CallOrder(FakeBroker):
    """Records what was asked, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def positions(self, account_id: int) -> list[Position]:
        self.calls.append("positions")
        return await super().positions(account_id)

    async def buying_power(self, account_id: int) -> Decimal:
        self.calls.append("buying_power")
        return await super().buying_power(account_id)

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        self.calls.append("contracts")
        return await super().contracts(contract_ids)

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]:
        self.calls.append("quotes")
        return await super().quotes(instrument_ids)


async def test_balances_are_asked_after_the_contracts_and_each_account_is_handed_over() -> None:
    """What lets ``make_plan`` decide an account as its balance arrives: by then the
    contracts and prices of the whole book are in."""
    broker = CallOrder()
    holdings = await load_holdings(broker)
    assert broker.calls == ["positions", "positions", "contracts", "quotes"]
    handed: list[AccountBook] = []
    book = await load_balances(broker, holdings, each=handed.append)
    assert broker.calls[4:] == ["buying_power", "buying_power"]
    assert sorted(handed, key=lambda a: a.account_id) == list(book.accounts)
    assert [a.buying_power for a in book.accounts] == [Decimal(1000), Decimal(2000)]
    assert book == await load_book(FakeBroker())
