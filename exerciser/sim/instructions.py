"""Position instructions as the simulated broker keeps them: state, lifecycle, wire shape.

Lifecycle (driven by list calls and the simulated clock, see ``Lifecycle``)::

    SENT ──────────────> ACCEPTED (accepted_quantity = quantity, or floor(q * fraction))
      │  └─────────────> REJECTED (contract outcome "reject")
      └─ DELETE ─> CANCEL_REQUESTED ──> CANCELLED | CANCEL_FAILED
    ACCEPTED ─ DELETE ─┘

The wire shape depends on the API revision: the key field is ``instruction_id`` or
(2026-preview) ``client_instruction_id``; 2026-preview adds a ``rejection`` object to
rejected rows; sdk-docs calls a rejected row of a 207 reply ``ENGINE_REJECTED``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from exerciser.sim.scenario import Contract, Lifecycle, Revision
from exerciser.sim.wire import JsonObject, timestamp

ZERO_ID = "00000000-0000-0000-0000-000000000000"
INSTRUCTION_TYPES = ("EXERCISE", "DO_NOT_EXERCISE", "CONTRARY_EXERCISE")
SETTLING = frozenset({"SENT", "CANCEL_REQUESTED"})
CANCELLABLE = frozenset({"SENT", "ACCEPTED"})
DEAD = frozenset({"REJECTED", "CANCELLED"})
DOMAIN = "POSITION_INSTRUCTIONS"
CLEARING_REJECTED = "CLEARING_REJECTED"


@dataclass(kw_only=True)
class Instruction:
    """One instruction row: stored ones have a server id, refused ones the zero id."""

    id: str
    account_id: int
    key: str
    instruction_type: str
    contract: Contract
    quantity: int
    status: str
    created_at: datetime
    updated_at: datetime
    accepted_quantity: int | None = None
    rejection_reason: str | None = None
    rejection_code: str | None = None
    rejection_metadata: dict[str, str] = field(default_factory=dict)
    polls: int = 0  # list calls that returned it since it entered its current status

    @property
    def is_live(self) -> bool:
        """Still claims contracts: not rejected and not cancelled."""
        return self.status not in DEAD


def advance(instruction: Instruction, *, lifecycle: Lifecycle, now: datetime, polled: bool) -> None:
    """Move a SENT or CANCEL_REQUESTED instruction on once its threshold is reached.

    ``polled`` counts this look as one list call. Either threshold suffices.
    """
    if instruction.status not in SETTLING:
        return
    if polled:
        instruction.polls += 1
    polls, seconds = lifecycle.settle_after_polls, lifecycle.settle_after_seconds
    due_by_polls = polls is not None and instruction.polls >= polls
    due_by_time = seconds is not None and now - instruction.updated_at >= timedelta(
        seconds=float(seconds)
    )
    if not (due_by_polls or due_by_time):
        return
    contract = instruction.contract
    if instruction.status == "CANCEL_REQUESTED":
        if contract.cancel_outcome == "cancel_failed":
            instruction.status = "CANCEL_FAILED"
            instruction.rejection_reason = contract.cancel_failed_reason
        else:
            instruction.status = "CANCELLED"
    elif contract.outcome == "reject":
        instruction.status = "REJECTED"
        instruction.rejection_reason = contract.reject_reason
        instruction.rejection_code = CLEARING_REJECTED
    else:
        instruction.status = "ACCEPTED"
        fraction = contract.accepted_fraction if contract.outcome == "partial" else Decimal(1)
        accepted = (instruction.quantity * fraction).to_integral_value(rounding=ROUND_FLOOR)
        instruction.accepted_quantity = int(accepted)
    instruction.updated_at = now
    instruction.polls = 0


def key_field(revision: Revision) -> str:
    return "client_instruction_id" if revision == "2026-preview" else "instruction_id"


def render(
    instruction: Instruction, revision: Revision, *, in_partial_batch: bool = False
) -> JsonObject:
    """The PositionInstruction wire dict of ``instruction`` in ``revision``."""
    status = instruction.status
    if status == "REJECTED" and in_partial_batch and revision == "sdk-docs":
        status = "ENGINE_REJECTED"
    body: JsonObject = {
        "id": instruction.id,
        "account_id": instruction.account_id,
        key_field(revision): instruction.key,
        "instruction_type": instruction.instruction_type,
        "instrument_id": instruction.contract.id,
        "symbol": instruction.contract.symbol,
        "quantity": str(instruction.quantity),
        "status": status,
        "accepted_quantity": None
        if instruction.accepted_quantity is None
        else str(instruction.accepted_quantity),
        "rejection_reason": instruction.rejection_reason,
        "created_at": timestamp(instruction.created_at),
        "updated_at": timestamp(instruction.updated_at),
    }
    if revision == "2026-preview" and instruction.status == "REJECTED":
        body["rejection"] = {
            "reason": instruction.rejection_code or CLEARING_REJECTED,
            "description": instruction.rejection_reason,
            "domain": DOMAIN,
            "metadata": dict(instruction.rejection_metadata),
        }
    return body
