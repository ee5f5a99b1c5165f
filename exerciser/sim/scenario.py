"""The scenario: everything the simulated broker knows at start-up, as frozen data.

Built by :mod:`exerciser.sim.loader` from YAML (format in ``exerciser/sim/README.md``);
turned into live, mutable state by :class:`exerciser.sim.book.Book`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from exerciser.sim.faults import Faults

Revision = Literal["2025-10-31", "sdk-docs", "2026-preview"]
REVISIONS: tuple[Revision, ...] = ("2025-10-31", "sdk-docs", "2026-preview")
DEFAULT_REVISION: Revision = "2025-10-31"

UnderlyingType = Literal["COMMON_STOCK", "INDEX"]
ContractType = Literal["CALL", "PUT"]
ExerciseStyle = Literal["AMERICAN", "EUROPEAN"]
Outcome = Literal["accept", "reject", "partial"]
CancelOutcome = Literal["cancelled", "cancel_failed"]

BALANCE_FIELDS = (
    "buying_power",
    "settled_cash",
    "equity",
    "long_market_value",
    "short_market_value",
    "withdrawable_cash",
    "trade_cash",
    "open_order_adjustment",
    "unsettled_credits",
    "unsettled_debits",
    "unrealized_pnl",
    "daily_unrealized_pnl",
    "daily_pnl",
    "daily_change",
    "daily_realized_pnl",
)


class ScenarioError(Exception):
    """A scenario file is unusable. The message is one line: file, field path, value."""


@dataclass(frozen=True, kw_only=True)
class Underlying:
    """A stock or index that contracts are written on, with its prices for the day."""

    symbol: str
    id: str
    type: UnderlyingType
    close: Decimal
    last: Decimal
    previous_close: Decimal | None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Contract:
    """An option contract, and what clearing will do with instructions on it."""

    symbol: str  # padded OSI
    id: str
    underlying: str  # an Underlying.symbol
    strike: Decimal
    expiry: date
    contract_type: ContractType
    multiplier: Decimal
    exercise_style: ExerciseStyle
    settle_on_open: bool
    outcome: Outcome = "accept"
    reject_reason: str = "Rejected by clearing"
    accepted_fraction: Decimal = Decimal("0.5")
    cancel_outcome: CancelOutcome = "cancelled"
    cancel_failed_reason: str = "Cancel rejected by clearing"


@dataclass(frozen=True, kw_only=True)
class Holding:
    """A position line of an account: an option contract or an underlying's shares."""

    symbol: str  # padded OSI for options, the ticker for shares
    quantity: Decimal  # negative = short
    available_quantity: Decimal


@dataclass(frozen=True, kw_only=True)
class Account:
    """A trading account with its balances and positions."""

    id: int
    short_name: str
    full_name: str
    type: str
    subtype: str
    status: str
    options_level: int
    open_date: date
    account_holder_entity_id: int
    balances: dict[str, Decimal]  # every name in BALANCE_FIELDS
    positions: tuple[Holding, ...]


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """When a SENT or CANCEL_REQUESTED instruction moves on (whichever comes first)."""

    settle_after_polls: int | None = 1
    settle_after_seconds: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole simulated expiration day."""

    source: str
    business_date: date
    close_at: datetime
    after_hours_at: datetime  # when the first after-hours trade replaces the close
    cutoff_at: datetime | None
    token: str
    revision: Revision
    page_size: int
    lifecycle: Lifecycle
    underlyings: tuple[Underlying, ...]
    contracts: tuple[Contract, ...]
    accounts: tuple[Account, ...]
    faults: Faults = field(default_factory=Faults)
