"""The roles the use cases need from the outside world, as ``typing.Protocol``s.

Services depend on these; adapters implement them; ``bootstrap`` wires one to the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol

from exerciser.domain.book import Contract, Position, Quote


class BookSource(Protocol):
    """Read-only view of the broker: accounts, positions, contracts and prices."""

    async def account_ids(self) -> list[int]: ...

    async def positions(self, account_id: int) -> list[Position]: ...

    async def buying_power(self, account_id: int) -> Decimal: ...

    async def contracts(self, contract_ids: Sequence[str]) -> list[Contract]: ...

    async def quotes(self, instrument_ids: Sequence[str]) -> list[Quote]: ...


class ReferenceStore(Protocol):
    """Keeps the OCC reference prices captured right after the close, per day."""

    def get(self, day: date) -> dict[str, Decimal]: ...

    def put(self, day: date, captured: Mapping[str, Decimal]) -> None: ...
