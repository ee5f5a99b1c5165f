"""Position instruction vocabulary: what we can ask the broker, and the lifecycle it reports."""

from __future__ import annotations

from enum import StrEnum


class InstructionType(StrEnum):
    """What an instruction asks OCC to do with a long option at expiry."""

    EXERCISE = "EXERCISE"
    DO_NOT_EXERCISE = "DO_NOT_EXERCISE"
    CONTRARY_EXERCISE = "CONTRARY_EXERCISE"


class InstructionStatus(StrEnum):
    """Lifecycle of an instruction at the broker.

    ``ENGINE_REJECTED`` exists in older API revisions only. Any status this code does
    not know is read as ``UNKNOWN`` (and stays pending) rather than crashing a run.
    """

    SENT = "SENT"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    ENGINE_REJECTED = "ENGINE_REJECTED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELLED = "CANCELLED"
    CANCEL_FAILED = "CANCEL_FAILED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: object) -> InstructionStatus:
        """Read a status tolerantly: unknown or malformed values become ``UNKNOWN``."""
        if isinstance(raw, str):
            try:
                return cls(raw.strip().upper())
            except ValueError:
                return cls.UNKNOWN
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """True when the broker will not move this instruction any further."""
        return self in TERMINAL_STATUSES

    @property
    def is_rejection(self) -> bool:
        return self in (InstructionStatus.REJECTED, InstructionStatus.ENGINE_REJECTED)


TERMINAL_STATUSES = frozenset(
    {
        InstructionStatus.ACCEPTED,
        InstructionStatus.REJECTED,
        InstructionStatus.ENGINE_REJECTED,
        InstructionStatus.CANCELLED,
        InstructionStatus.CANCEL_FAILED,
    }
)
