"""The ``InstructionBroker`` port over the Clear Street client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from exerciser.adapters.clearstreet import models
from exerciser.adapters.clearstreet.client import ClearStreetClient, InstructionRequest
from exerciser.domain.ledger import BrokerInstruction, LedgerRow
from exerciser.errors import BrokerError
from exerciser.ports import SubmitReply

T = TypeVar("T")


class ClearStreetInstructions:
    def __init__(self, client: ClearStreetClient) -> None:
        self._client = client

    async def list_instructions(self, account_id: int) -> list[BrokerInstruction]:
        rows = await _translated(lambda: self._client.list_instructions(account_id))
        return [to_broker_instruction(r) for r in rows]

    async def submit(self, account_id: int, rows: Sequence[LedgerRow]) -> SubmitReply:
        requests = [
            InstructionRequest(
                instruction_id=r.instruction_id,
                instruction_type=r.instruction_type,
                instrument_id=r.instrument_id,
                quantity=r.quantity,
            )
            for r in rows
        ]
        reply = await _translated(lambda: self._client.submit_instructions(account_id, requests))
        return SubmitReply(
            http_status=reply.http_status,
            rows=tuple(to_broker_instruction(r) for r in reply.rows),
            request_id=reply.request_id,
        )

    async def cancel(self, account_id: int, server_id: str) -> BrokerInstruction:
        row = await _translated(lambda: self._client.cancel_instruction(account_id, server_id))
        return to_broker_instruction(row)


async def _translated(call: Callable[[], Awaitable[T]]) -> T:
    """Errors keep their class; the rows they carry become domain values."""
    try:
        return await call()
    except BrokerError as exc:
        exc.rows = tuple(
            to_broker_instruction(r) if isinstance(r, models.Instruction) else r for r in exc.rows
        )
        raise


def to_broker_instruction(row: models.Instruction) -> BrokerInstruction:
    return BrokerInstruction(
        server_id=row.id,
        instruction_id=row.instruction_id,
        account_id=row.account_id,
        instrument_id=row.instrument_id,
        instruction_type=str(row.instruction_type),
        quantity=row.quantity,
        status=row.status,
        raw_status=row.raw_status,
        accepted_quantity=row.accepted_quantity,
        reason=row.reason,
        reason_code=row.reason_code,
    )
