"""The ``BookSource`` port over the Clear Street client: wire replies in, domain values out."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from exerciser.adapters.clearstreet import readers
from exerciser.adapters.clearstreet.client import ClearStreetClient
from exerciser.adapters.clearstreet.readers import to_contract, to_position, to_quote
from exerciser.domain.book import Contract, Position, Quote

__all__ = ["ClearStreetBookSource", "to_contract", "to_position", "to_quote"]


class ClearStreetBookSource:
    def __init__(self, client: ClearStreetClient) -> None:
        self._client = client

    async def account_ids(self) -> list[int]:
        """Every account that is not CLOSED: an INACTIVE one may still hold options."""
        return [a.id for a in await self._client.list_accounts() if a.status.upper() != "CLOSED"]

    async def positions(self, account_id: int) -> list[Position]:
        return await self._client.get_positions_as(account_id, readers.positions)

    async def buying_power(self, account_id: int) -> Decimal:
        return (await self._client.get_balances(account_id)).buying_power

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]:
        return await self._client.get_option_contracts_as(contract_ids, readers.contracts)

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]:
        snapshots = await self._client.get_snapshots(instrument_ids)
        return [q for s in snapshots if (q := to_quote(s)) is not None]
