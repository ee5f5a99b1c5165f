"""Deterministic instruction ids: the idempotency keys the broker deduplicates on.

The same business date, account, contract, instruction type and quantity give the same
id on any machine and after any restart, so a resend can never create a second
instruction; a changed quantity or type is a new instruction with a new id.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from functools import lru_cache

from exerciser.domain.instructions import InstructionType

# (the type's text in the hashed identity, its abbreviation in the readable prefix)
_TYPE_TEXT = {
    InstructionType.EXERCISE: ("EXERCISE", "EX"),
    InstructionType.DO_NOT_EXERCISE: ("DO_NOT_EXERCISE", "DNE"),
    InstructionType.CONTRARY_EXERCISE: ("CONTRARY_EXERCISE", "CEA"),
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
    iso, compact = _day_texts(business_date)
    kind = _TYPE_TEXT[instruction_type]
    canonical = (
        f"v1|{iso}|{account_id}|{_instrument_text(instrument_id)}|{kind[0]}|"
        f"{_quantity_text(quantity)}"
    )
    if revision:
        canonical += f"|r{revision}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return f"xr-{compact}-{str(account_id)[-12:]}-{kind[1]}-{digest}"


@lru_cache(maxsize=64)
def _day_texts(day: date) -> tuple[str, str]:
    return day.isoformat(), f"{day:%Y%m%d}"


@lru_cache(maxsize=65536)
def _instrument_text(instrument_id: str) -> str:
    return instrument_id.strip().lower()


def _quantity_text(quantity: Decimal) -> str:
    """The same text for 10, 10.0 and 1E+1."""
    if quantity == quantity.to_integral_value():
        return str(int(quantity))
    return format(quantity.normalize(), "f")
