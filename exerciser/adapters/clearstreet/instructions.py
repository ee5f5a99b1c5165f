"""The ``InstructionBroker`` port over the Clear Street client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from exerciser.adapters.clearstreet import models, readers
from exerciser.adapters.clearstreet.client import ClearStreetClient, InstructionRequest
from exerciser.adapters.clearstreet.readers import to_broker_instruction
from exerciser.domain.ledger import BrokerInstruction, LedgerRow
from exerciser.errors import BrokerError
from exerciser.ports import SubmitReply

__all__ = ["ClearStreetInstructions", "to_broker_instruction"]

T = TypeVar("T")


class ClearStreetInstructions:
    def __init__(self, client: ClearStreetClient) -> None:
        self._client = client

    async def list_instructions(self, account_id: int) -> list[BrokerInstruction]:
        return await _translated(
            lambda: self._client.list_instructions_as(account_id, readers.instructions)
        )

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
        reply = await _translated(
            lambda: self._client.submit_instructions_as(account_id, requests, readers.instructions)
        )
        return SubmitReply(
            http_status=reply.http_status,
            rows=reply.rows,
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
