"""Tolerant reading of every API revision's instruction rows and of the other models."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from exerciser.adapters.clearstreet.models import Instruction, OptionContract, Position
from exerciser.domain.instructions import InstructionStatus, InstructionType

BASE: dict[str, Any] = {
    "id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e02",
    "account_id": 122503,
    "instruction_type": "EXERCISE",
    "instrument_id": "0195f6d0-a1b2-7c3d-8e4f-5a6b7c8d9e01",
    "quantity": "1",
    "symbol": "AAPL  280121C00195000",
}


@pytest.mark.parametrize(
    ("extra", "status", "reason", "code"),
    [
        pytest.param(
            {"instruction_id": "k", "status": "ENGINE_REJECTED", "rejection_reason": "Dup"},
            InstructionStatus.ENGINE_REJECTED,
            "Dup",
            None,
            id="sdk-docs",
        ),
        pytest.param(
            {"instruction_id": "k", "status": "REJECTED", "rejection_reason": "Dup"},
            InstructionStatus.REJECTED,
            "Dup",
            None,
            id="openapi-2025-10-31",
        ),
        pytest.param(
            {
                "client_instruction_id": "k",
                "status": "REJECTED",
                "rejection": {
                    "reason": "DUPLICATE_INSTRUCTION",
                    "description": "Duplicate exercise instruction",
                    "domain": "POSITION_INSTRUCTIONS",
                    "metadata": {"existing_id": "019e", "attempt": 2},
                },
            },
            InstructionStatus.REJECTED,
            "Duplicate exercise instruction",
            "DUPLICATE_INSTRUCTION",
            id="sdk-0.11",
        ),
    ],
)
def test_each_revision_reads_the_same_way(
    extra: dict[str, Any], status: InstructionStatus, reason: str, code: str | None
) -> None:
    row = Instruction.model_validate({**BASE, **extra})
    assert row.instruction_id == "k"
    assert row.status is status
    assert row.status.is_rejection
    assert row.reason == reason
    assert row.reason_code == code
    if row.rejection is not None:
        assert row.rejection.metadata == {"existing_id": "019e", "attempt": "2"}


def test_unknown_status_is_kept_as_unknown_with_the_raw_value() -> None:
    row = Instruction.model_validate({**BASE, "instruction_id": "k", "status": "PENDING_OCC"})
    assert row.status is InstructionStatus.UNKNOWN
    assert row.raw_status == "PENDING_OCC"
    assert not row.status.is_terminal


def test_unknown_fields_are_ignored_and_unknown_types_kept_as_text() -> None:
    row = Instruction.model_validate(
        {**BASE, "instruction_id": "k", "status": "SENT", "instruction_type": "LAPSE", "new": 1}
    )
    assert row.instruction_type == "LAPSE"
    assert not isinstance(row.instruction_type, InstructionType)


def test_numbers_parsed_with_decimal_stay_exact() -> None:
    data = json.loads('{"quantity": 0.1, "accepted_quantity": "0.3"}', parse_float=Decimal)
    row = Instruction.model_validate({**BASE, "instruction_id": "k", "status": "SENT", **data})
    assert row.quantity == Decimal("0.1")
    assert row.accepted_quantity == Decimal("0.3")


def test_blank_optional_decimals_read_as_none() -> None:
    row = Instruction.model_validate(
        {**BASE, "instruction_id": "k", "status": "ACCEPTED", "accepted_quantity": ""}
    )
    assert row.accepted_quantity is None


@pytest.mark.parametrize(
    ("position_type", "quantity", "short"),
    [
        ("LONG", "10", False),
        ("SHORT", "-10", True),
        ("SHORT_CALL", "10", True),
        ("LONG_PUT", "3", False),
    ],
)
def test_short_positions_by_sign_or_by_type(position_type: str, quantity: str, short: bool) -> None:
    position = Position.model_validate(
        {
            "account_id": 1,
            "instrument_id": "i",
            "symbol": "s",
            "instrument_type": "OPTION",
            "quantity": quantity,
            "available_quantity": "3",
            "position_type": position_type,
            "market_value": "0",
        }
    )
    assert position.is_short is short
    assert position.is_option


def test_contract_type_is_read_case_insensitively_and_checked() -> None:
    base = {
        "id": "c",
        "symbol": "AAPL  261120C00190000",
        "strike_price": "190",
        "expiry": "2026-11-20",
        "multiplier": "100",
    }
    assert OptionContract.model_validate({**base, "contract_type": "call"}).contract_type == "CALL"
    with pytest.raises(ValidationError):
        OptionContract.model_validate({**base, "contract_type": "STRADDLE"})


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("SENT", InstructionStatus.SENT),
        ("accepted", InstructionStatus.ACCEPTED),
        ("", InstructionStatus.UNKNOWN),
        (None, InstructionStatus.UNKNOWN),
        (7, InstructionStatus.UNKNOWN),
    ],
)
def test_status_parse_never_raises(raw: object, status: InstructionStatus) -> None:
    assert InstructionStatus.parse(raw) is status
