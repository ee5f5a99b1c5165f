"""``POST .../positions/instructions``: read the batch, judge each row, build the reply.

Order of judgement (the first failing step answers):

1. shape: a JSON array of objects with ``instruction_type``, ``instrument_id``, ``quantity``
   -> 400, nothing stored;
2. pre-flight, row by row: unknown ``instrument_id`` -> 404, a quantity that is not a
   positive whole number -> 400; nothing stored;
3. per row, in order: duplicate key, DNE/CEA off expiry, past the cutoff, insufficient
   position -> that row rejected; otherwise stored as SENT.

The reply is 200 (all stored), 207 (some rejected) or 409/400 (all rejected: 409 when
every row was a duplicate).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from exerciser.sim import wire
from exerciser.sim.instructions import INSTRUCTION_TYPES, ZERO_ID, Instruction, render
from exerciser.sim.scenario import Contract, Holding, Revision
from exerciser.sim.wire import ApiFailure, Reply

_WHOLE = re.compile(r"[0-9]+")
_KEYS = ("instruction_id", "client_instruction_id")
DUPLICATE = "DUPLICATE_INSTRUCTION"


@dataclass(frozen=True, kw_only=True)
class Row:
    """One request row, checked for shape and resolved to a contract."""

    instruction_type: str
    contract: Contract
    quantity: int
    key: str | None


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """Why a row was refused: a stable code, the row's text, the batch summary text."""

    code: str
    reason: str
    summary: str
    metadata: dict[str, str] = field(default_factory=dict)


def returns_rows(revision: Revision) -> bool:
    """Whether all-rejected (4xx/5xx) batch replies carry ``data`` in ``revision``."""
    return revision != "sdk-docs"


def read_rows(
    raw: bytes, *, resolve: Callable[[str], Contract | None], revision: Revision
) -> list[Row]:
    """Steps 1 and 2; raise ApiFailure (nothing stored) when the batch is refused whole."""
    no_rows: Any = [] if returns_rows(revision) else wire.NO_DATA
    try:
        body: object = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiFailure(400, "Request body is not valid JSON", data=no_rows) from None
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ApiFailure(400, "Request body must be a JSON array of instructions", data=no_rows)
    if not body:
        raise ApiFailure(400, "At least one instruction is required", data=no_rows)
    shaped = [_shape(index, item, no_rows) for index, item in enumerate(body)]
    rows = []
    for instruction_type, instrument_id, quantity, key in shaped:
        contract = resolve(instrument_id)
        if contract is None:
            raise ApiFailure(404, f"Instrument not found: {instrument_id}")
        if not _WHOLE.fullmatch(quantity) or int(quantity) <= 0:
            raise ApiFailure(400, f"Quantity {quantity!r} cannot be encoded", data=no_rows)
        rows.append(
            Row(
                instruction_type=instruction_type,
                contract=contract,
                quantity=int(quantity),
                key=key,
            )
        )
    return rows


def _shape(
    index: int, item: Mapping[str, object], no_rows: Any
) -> tuple[str, str, str, str | None]:
    where = f"instructions[{index}]"
    for name in ("instruction_type", "instrument_id", "quantity"):
        if name not in item or item[name] is None:
            raise ApiFailure(400, f"{where}: missing required field '{name}'", data=no_rows)
        if not isinstance(item[name], str):
            raise ApiFailure(400, f"{where}.{name}: must be a string", data=no_rows)
    instruction_type = str(item["instruction_type"])
    if instruction_type not in INSTRUCTION_TYPES:
        raise ApiFailure(
            400,
            f"{where}.instruction_type: {instruction_type!r} is not one of "
            + ", ".join(INSTRUCTION_TYPES),
            data=no_rows,
        )
    keys: dict[str, str] = {}
    for name in _KEYS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ApiFailure(400, f"{where}.{name}: must be a non-empty string", data=no_rows)
        keys[name] = value
    if len(set(keys.values())) > 1:
        raise ApiFailure(
            400, f"{where}: instruction_id and client_instruction_id differ", data=no_rows
        )
    key = next(iter(keys.values()), None)
    return instruction_type, str(item["instrument_id"]), str(item["quantity"]), key


@dataclass(kw_only=True)
class Desk:
    """What step 3 needs to know about the account and the day."""

    account_id: int
    stored: list[Instruction]  # the account's instructions; stored rows are appended
    holdings: Mapping[str, Holding]
    business_date: date
    cutoff_at: datetime | None
    now: datetime
    new_id: Callable[[], str]

    def judge(self, rows: Sequence[Row]) -> list[tuple[Instruction, Rejection | None]]:
        """Step 3 for every row, in order."""
        seen_in_batch: dict[str, str] = {}
        results: list[tuple[Instruction, Rejection | None]] = []
        for row in rows:
            key = row.key or self.new_id()
            rejection = self._check(row, key, seen_in_batch)
            instruction = Instruction(
                id=ZERO_ID if rejection else self.new_id(),
                account_id=self.account_id,
                key=key,
                instruction_type=row.instruction_type,
                contract=row.contract,
                quantity=row.quantity,
                status="REJECTED" if rejection else "SENT",
                created_at=self.now,
                updated_at=self.now,
            )
            if rejection:
                instruction.rejection_reason = rejection.reason
                instruction.rejection_code = rejection.code
                instruction.rejection_metadata = rejection.metadata
            else:
                self.stored.append(instruction)
            seen_in_batch.setdefault(key, instruction.id)
            results.append((instruction, rejection))
        return results

    def _check(self, row: Row, key: str, seen_in_batch: Mapping[str, str]) -> Rejection | None:
        existing = next((i.id for i in self.stored if i.key == key), seen_in_batch.get(key))
        if existing is not None:
            return Rejection(
                code=DUPLICATE,
                reason=f"Duplicate exercise instruction; existing_id={existing}",
                summary="Duplicate exercise instruction",
                metadata={"existing_id": existing},
            )
        expiry = row.contract.expiry
        if row.instruction_type != "EXERCISE" and expiry != self.business_date:
            reason = f"{row.instruction_type} must be submitted on the contract's expiration date"
            code = (
                "DNE_NOT_ON_EXPIRY"
                if row.instruction_type == "DO_NOT_EXERCISE"
                else "CEA_NOT_ON_EXPIRY"
            )
            return Rejection(
                code=code,
                reason=reason,
                summary=reason,
                metadata={
                    "expiry": expiry.isoformat(),
                    "business_date": self.business_date.isoformat(),
                },
            )
        if self.cutoff_at is not None and self.now > self.cutoff_at:
            cutoff = wire.timestamp(self.cutoff_at)
            reason = f"Instructions are not accepted after the cutoff ({cutoff})"
            return Rejection(
                code="EXERCISE_PAST_CUTOFF",
                reason=reason,
                summary=reason,
                metadata={"cutoff_time": cutoff},
            )
        available = self._available(row.contract)
        if row.quantity > available:
            reason = f"Insufficient position: requested {row.quantity}, available {available}"
            return Rejection(
                code="INSUFFICIENT_POSITION",
                reason=reason,
                summary=reason,
                metadata={"available": str(available), "requested": str(row.quantity)},
            )
        return None

    def _available(self, contract: Contract) -> int:
        holding = self.holdings.get(contract.symbol)
        long = holding.available_quantity if holding and holding.quantity > 0 else Decimal(0)
        claimed = sum(i.quantity for i in self.stored if i.contract.id == contract.id and i.is_live)
        return max(0, int(long) - claimed)


def batch_reply(
    results: Sequence[tuple[Instruction, Rejection | None]], revision: Revision
) -> Reply:
    """Step 4: 200, 207, or 409/400 for an all-rejected batch."""
    rejections = [rejection for _, rejection in results if rejection is not None]
    if not rejections:
        return wire.batch(200, [render(i, revision) for i, _ in results], error=None)
    first = rejections[0]
    if len(rejections) < len(results):
        rows = [render(i, revision, in_partial_batch=True) for i, _ in results]
        code = 409 if first.code == DUPLICATE else 400
        return wire.batch(207, rows, error={"code": code, "message": first.summary})
    status = 409 if all(r.code == DUPLICATE for r in rejections) else 400
    return _all_rejected(status, first.summary, [i for i, _ in results], revision)


def unavailable_reply(
    rows: Sequence[Row],
    *,
    account_id: int,
    now: datetime,
    new_id: Callable[[], str],
    revision: Revision,
) -> Reply:
    """The 503 of an unavailable clearing service: every row rejected, nothing stored."""
    reason = "Clearing service unavailable"
    refused = [
        Instruction(
            id=ZERO_ID,
            account_id=account_id,
            key=row.key or new_id(),
            instruction_type=row.instruction_type,
            contract=row.contract,
            quantity=row.quantity,
            status="REJECTED",
            created_at=now,
            updated_at=now,
            rejection_reason=reason,
            rejection_code="CLEARING_UNAVAILABLE",
        )
        for row in rows
    ]
    return _all_rejected(503, reason, refused, revision)


def _all_rejected(
    status: int, message: str, refused: Sequence[Instruction], revision: Revision
) -> Reply:
    if returns_rows(revision):
        return wire.failure(status, message, data=[render(i, revision) for i in refused])
    return wire.failure(status, message)
