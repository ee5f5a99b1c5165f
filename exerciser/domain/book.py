"""What the broker holds for us on an expiration day, as plain values.

These are the inputs of the decision core. Adapters build them from the wire; nothing
here knows about HTTP or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Right(StrEnum):
    CALL = "CALL"
    PUT = "PUT"


@dataclass(slots=True)
class Position:
    """One position of an account, as the broker reports it.

    Not frozen and not keyword-only, as ``PlanRow`` and ``LedgerRow`` are not: a book
    of 2,000 accounts has 120,000 of these, and the broker's reader builds them
    positionally. A frozen dataclass sets each field through ``object.__setattr__``, a
    keyword call builds a dict of its arguments: 2.5 us a position by keyword and
    frozen, 0.2 us positionally and not. Nothing mutates a position.
    """

    account_id: int
    instrument_id: str
    symbol: str
    is_option: bool
    quantity: Decimal
    available_quantity: Decimal
    is_short: bool
    underlying_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Contract:
    id: str
    symbol: str
    right: Right
    strike: Decimal
    expiry: date
    multiplier: Decimal
    exercise_style: str
    settle_on_open: bool
    underlying_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """The last trade the broker reports for an instrument."""

    instrument_id: str
    symbol: str
    price: Decimal
    traded_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountBook:
    account_id: int
    buying_power: Decimal
    positions: tuple[Position, ...]

    @property
    def option_positions(self) -> tuple[Position, ...]:
        return tuple(p for p in self.positions if p.is_option)


@dataclass(frozen=True, slots=True, kw_only=True)
class Book:
    accounts: tuple[AccountBook, ...]
    contracts: Mapping[str, Contract] = field(default_factory=dict)
    quotes: Mapping[str, Quote] = field(default_factory=dict)

    def expiring_on(self, day: date) -> list[tuple[AccountBook, Position, Contract]]:
        """Option positions whose contract's listed expiry is ``day``."""
        return [
            (account, position, contract)
            for account in self.accounts
            for position in account.option_positions
            if (contract := self.contracts.get(position.instrument_id)) is not None
            and contract.expiry == day
        ]
