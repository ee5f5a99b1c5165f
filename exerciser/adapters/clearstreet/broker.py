"""The ``BookSource`` port over the Clear Street client: wire models in, domain values out."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from exerciser.adapters.clearstreet import models
from exerciser.adapters.clearstreet.client import ClearStreetClient
from exerciser.domain.book import Contract, Position, Quote, Right


class ClearStreetBookSource:
    def __init__(self, client: ClearStreetClient) -> None:
        self._client = client

    async def account_ids(self) -> list[int]:
        """Every account that is not CLOSED: an INACTIVE one may still hold options."""
        return [a.id for a in await self._client.list_accounts() if a.status.upper() != "CLOSED"]

    async def positions(self, account_id: int) -> list[Position]:
        return [to_position(p) for p in await self._client.get_positions(account_id)]

    async def buying_power(self, account_id: int) -> Decimal:
        return (await self._client.get_balances(account_id)).buying_power

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        return [to_contract(c) for c in await self._client.get_option_contracts(contract_ids)]

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]:
        snapshots = await self._client.get_snapshots(instrument_ids)
        return [q for s in snapshots if (q := to_quote(s)) is not None]


def to_position(p: models.Position) -> Position:
    return Position(
        account_id=p.account_id,
        instrument_id=p.instrument_id,
        symbol=p.symbol,
        is_option=p.is_option,
        quantity=p.quantity,
        available_quantity=p.available_quantity,
        is_short=p.is_short,
        underlying_id=p.underlying_instrument_id,
    )


def to_contract(c: models.OptionContract) -> Contract:
    return Contract(
        id=c.id,
        symbol=c.symbol,
        right=Right(c.contract_type.upper()),
        strike=c.strike_price,
        expiry=c.expiry,
        multiplier=c.multiplier,
        exercise_style=c.exercise_style,
        settle_on_open=bool(c.is_settle_on_open),
        underlying_id=c.underlying_instrument_id,
    )


def to_quote(s: models.Snapshot) -> Quote | None:
    if s.last_trade is None:
        return None
    return Quote(
        instrument_id=s.instrument_id,
        symbol=s.symbol,
        price=s.last_trade.price,
        traded_at=s.last_trade.timestamp,
    )
