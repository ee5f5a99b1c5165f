"""Typed, tolerant readers of the Clear Street wire format.

Every model ignores fields it does not know, reads money and quantities as ``Decimal``
(the JSON is parsed with ``parse_float=Decimal`` too, so a number never passes through
``float``), and keeps enums it does not act on as plain strings so that a new value
from the broker does not break a run.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from exerciser.domain.instructions import InstructionStatus, InstructionType


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _stringify_map(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return value


OptionalDecimal = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]
# The spec's int64: a reply with an absurd id is refused, not carried into URL paths.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Status = Annotated[InstructionStatus, BeforeValidator(InstructionStatus.parse)]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Account(WireModel):
    id: Int64
    short_name: str = ""
    full_name: str = ""
    status: str = "ACTIVE"
    subtype: str | None = None
    options_level: Int64 | None = None


class Balances(WireModel):
    account_id: Int64
    buying_power: Decimal
    currency: str = "USD"
    equity: OptionalDecimal = None
    settled_cash: OptionalDecimal = None
    trade_cash: OptionalDecimal = None
    withdrawable_cash: OptionalDecimal = None


class Position(WireModel):
    account_id: Int64
    instrument_id: str
    symbol: str
    instrument_type: str
    quantity: Decimal
    available_quantity: Decimal
    position_type: str = ""
    underlying_instrument_id: str | None = None
    closing_price: OptionalDecimal = None
    instrument_price: OptionalDecimal = None

    @property
    def is_option(self) -> bool:
        return self.instrument_type.upper() == "OPTION"

    @property
    def is_short(self) -> bool:
        """Short by sign or by type (older revisions say SHORT_CALL / SHORT_PUT)."""
        return self.quantity < 0 or self.position_type.upper().startswith("SHORT")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class OptionContract(WireModel):
    id: str
    symbol: str
    contract_type: Annotated[Literal["CALL", "PUT"], BeforeValidator(_upper)]
    strike_price: Decimal
    expiry: date
    multiplier: Decimal
    exercise_style: str = ""
    underlying_instrument_id: str | None = None
    is_settle_on_open: bool | None = None
    listing_type: str | None = None


class LastTrade(WireModel):
    price: Decimal
    size: int | None = None
    timestamp: datetime | None = None


class SnapshotSession(WireModel):
    previous_close: OptionalDecimal = None
    change: OptionalDecimal = None


class Snapshot(WireModel):
    instrument_id: str
    symbol: str
    last_trade: LastTrade | None = None
    session: SnapshotSession | None = None


class Rejection(WireModel):
    """The structured rejection of newer API revisions."""

    reason: str | None = None
    description: str | None = None
    domain: str | None = None
    metadata: Annotated[dict[str, str], BeforeValidator(_stringify_map)] = Field(
        default_factory=dict
    )


class Instruction(WireModel):
    """A position instruction as the broker reports it.

    The idempotency key is read from ``instruction_id`` or ``client_instruction_id``,
    whichever the revision sends. ``id`` is the broker's; rejected rows carry the nil
    UUID there.
    """

    id: str | None = None
    account_id: Int64
    instruction_id: str = Field(
        validation_alias=AliasChoices("instruction_id", "client_instruction_id")
    )
    instruction_type: InstructionType | str
    instrument_id: str
    symbol: str = ""
    quantity: Decimal
    status: Status
    raw_status: str = ""
    accepted_quantity: OptionalDecimal = None
    rejection_reason: str | None = None
    rejection: Rejection | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _keep_raw_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data:
            return {**data, "raw_status": str(data["status"])}
        return data

    @property
    def reason(self) -> str | None:
        """The best human-readable reason the broker gave, from either revision."""
        if self.rejection_reason:
            return self.rejection_reason
        if self.rejection is not None:
            return self.rejection.description or self.rejection.reason
        return None

    @property
    def reason_code(self) -> str | None:
        """The stable rejection code, when the revision provides one."""
        return self.rejection.reason if self.rejection is not None else None
