"""Deterministic instruction ids: the idempotency keys the broker deduplicates on.

The same business date, account, contract, instruction type and quantity give the same
id on any machine and after any restart, so a resend can never create a second
instruction; a changed quantity or type is a new instruction with a new id.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from exerciser.domain.instructions import InstructionType

_ABBREVIATION = {
    InstructionType.EXERCISE: "EX",
    InstructionType.DO_NOT_EXERCISE: "DNE",
    InstructionType.CONTRARY_EXERCISE: "CEA",
}


def instruction_id(
    *,
    business_date: date,
    account_id: int,
    instrument_id: str,
    instruction_type: InstructionType,
    quantity: Decimal,
    revision: int = 0,
) -> str:
    """``xr-20261120-19816-DNE-<20 hex>``: readable prefix, hashed identity; at most 64
    characters of ``[A-Za-z0-9-]``.

    ``revision`` is for an instruction sent again after the same one was cancelled the
    same day (re-evaluation back and forth): the broker would refuse the old id as a
    duplicate. Revision 0 leaves the id as it always was.
    """
    parts = [
        "v1",
        business_date.isoformat(),
        str(account_id),
        instrument_id.strip().lower(),
        instruction_type.value,
        _quantity_text(quantity),
    ]
    if revision:
        parts.append(f"r{revision}")
    canonical = "|".join(parts)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    account = str(account_id)[-12:]
    return f"xr-{business_date:%Y%m%d}-{account}-{_ABBREVIATION[instruction_type]}-{digest}"


def _quantity_text(quantity: Decimal) -> str:
    """The same text for 10, 10.0 and 1E+1."""
    if quantity == quantity.to_integral_value():
        return str(int(quantity))
    return format(quantity.normalize(), "f")
