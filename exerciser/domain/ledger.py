"""The ledger: every instruction we intend to send, and what became of it.

A row is journaled as ``PENDING`` with its deterministic ``instruction_id`` before it
is sent (write-ahead). The broker's replies and later observations move it on. Rows the
broker rejected at submit are never stored there, so they are terminal from the reply
itself; rows it holds are terminal once its lifecycle says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from exerciser.domain.instructions import InstructionStatus, InstructionType
from exerciser.domain.positional import require_fields


class RowState(StrEnum):
    PENDING = "PENDING"  # journaled; the broker has not confirmed it
    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELLED = "CANCELLED"
    CANCEL_FAILED = "CANCEL_FAILED"
    UNKNOWN = "UNKNOWN"  # the broker reports a status we do not know: still open
    FAILED = "FAILED"  # never reached the broker: refused whole, or out of time
    CONFLICT = "CONFLICT"  # the broker holds an instruction on the contract we did not send

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def at_broker(self) -> bool:
        """The broker holds it (so it has a server id and can be cancelled)."""
        return self in (
            RowState.SENT,
            RowState.ACCEPTED,
            RowState.CANCEL_REQUESTED,
            RowState.CANCEL_FAILED,
            RowState.UNKNOWN,
        )

    @classmethod
    def of(cls, status: InstructionStatus) -> RowState:
        return _OF_STATUS[status]


# The row state of each status the broker reports (by table: a call of the enum class,
# once per observed row, cost about a microsecond).
_OF_STATUS = {
    status: RowState.REJECTED
    if status is InstructionStatus.ENGINE_REJECTED
    else RowState(status.value)
    for status in InstructionStatus
}

TERMINAL_STATES = frozenset(
    {
        RowState.ACCEPTED,
        RowState.REJECTED,
        RowState.CANCELLED,
        RowState.CANCEL_FAILED,
        RowState.FAILED,
        RowState.CONFLICT,
    }
)


@dataclass(slots=True)
class LedgerRow:
    """One instruction we intend (or intended) to send.

    Not frozen, as ``PlanRow`` is not: the journal builds tens of thousands of these a
    cycle, and a frozen dataclass sets each field through ``object.__setattr__`` (1.7
    against 0.8 us a row). Nothing mutates a row; ``dataclasses.replace`` makes copies.
    Not keyword-only either: the journal reads rows back positionally, in the order of
    its ``LEDGER_COLUMNS`` (a keyword call builds a dict of the arguments and matches
    every name: 9,400 instructions a row against 3,000). Everything else names the
    fields.
    """

    instruction_id: str
    business_date: date
    account_id: int
    instrument_id: str
    symbol: str
    instruction_type: InstructionType
    quantity: Decimal
    state: RowState = RowState.PENDING
    server_id: str | None = None
    accepted_quantity: Decimal | None = None
    reason: str | None = None
    reason_code: str | None = None
    raw_status: str | None = None
    attempts: int = 0
    superseded: bool = False  # a later plan replaced it; it is being or was cancelled

    @property
    def ended_as_intended(self) -> bool:
        if self.superseded:
            return self.state is RowState.CANCELLED
        return self.state is RowState.ACCEPTED and (
            self.accepted_quantity is None or self.accepted_quantity >= self.quantity
        )


@dataclass(slots=True)
class BrokerInstruction:
    """What the broker says about one instruction, from a reply or a listing.

    Not frozen and not keyword-only, as ``LedgerRow`` is not: the broker's reader
    builds one positionally for every row of every reply and listing (two per
    instruction a cycle). Nothing mutates one.
    """

    server_id: str | None
    instruction_id: str
    account_id: int
    instrument_id: str
    instruction_type: str
    quantity: Decimal
    status: InstructionStatus
    raw_status: str
    accepted_quantity: Decimal | None = None
    reason: str | None = None
    reason_code: str | None = None

    @property
    def stored(self) -> bool:
        """Rejected rows of a submit reply carry no (or the nil) server id."""
        return bool(self.server_id) and self.server_id != NIL_ID


NIL_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(slots=True)
class RowUpdate:
    """A change to one ledger row, from a reply, a listing or our own decision.

    Not frozen and not keyword-only, for the reason ``BrokerInstruction`` is not:
    ``observed`` makes one of every reply's and listing's rows. Nothing mutates one.
    """

    instruction_id: str
    state: RowState
    server_id: str | None = None
    accepted_quantity: Decimal | None = None
    reason: str | None = None
    reason_code: str | None = None
    raw_status: str | None = None

    @classmethod
    def observed(cls, seen: BrokerInstruction, *, instruction_id: str | None = None) -> RowUpdate:
        return cls(  # positionally, in the order of the fields
            instruction_id or seen.instruction_id,
            RowState.of(seen.status),
            seen.server_id if seen.stored else None,
            seen.accepted_quantity,
            seen.reason,
            seen.reason_code,
            seen.raw_status,
        )


# RowUpdate.observed builds its update positionally: these must be its fields, in order.
require_fields(
    RowUpdate,
    ("instruction_id", "state", "server_id", "accepted_quantity", "reason", "reason_code",
     "raw_status"),
    update="RowUpdate.observed",
)  # fmt: skip
