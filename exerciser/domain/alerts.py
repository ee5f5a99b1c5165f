"""Alerts: what a human must hear, how urgently, and the arithmetic of retrying.

An alert is plain data with an idempotency ``key``: the same key is delivered at most
once per channel, so a restart that raises the same alert again sends nothing new. A
``Delivery`` is one alert on its way to one channel. ``retry_delay`` is the backoff
between failed attempts: exponential, capped, jittered downwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

KINDS = frozenset(
    {
        "preview_ready",
        "submission_summary",
        "rejections",
        "partial_acceptance",
        "manual_review",
        "pin_risk",
        "unresolved",
        "broker_failure",
        "credentials_failure",
        "daemon_started",
        "daemon_stopped",
        "daemon_failing",
        "channel_failing",
    }
)
"""The kinds raised today. Others may follow; a kind is any stable snake_case word."""

_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
MAX_KEY = 200  # keys are short: a kind, a date and a digest


class Severity(IntEnum):
    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"warning"``, ``"WARNING"`` or ``" Warning "``; anything else is a ValueError."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}: expected one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    filename: str
    content_type: str  # "text/html"
    data: bytes

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename or "\\" in self.filename:
            raise ValueError(f"attachment filename must be a bare name: {self.filename!r}")
        main, _, sub = self.content_type.partition("/")
        if not main or not sub:
            raise ValueError(f"attachment content type must be type/subtype: {self.content_type!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    key: str  # idempotency: delivered at most once per channel, ever
    kind: str  # stable snake_case, see KINDS
    severity: Severity
    title: str  # one line
    text: str  # plain text; may hold a monospaced table
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > MAX_KEY or self.key != self.key.strip():
            raise ValueError(f"alert key must be 1..{MAX_KEY} characters, unpadded: {self.key!r}")
        if not _SNAKE.fullmatch(self.kind):
            raise ValueError(f"alert kind must be snake_case: {self.kind!r}")
        if not isinstance(self.severity, Severity):
            raise TypeError(f"alert severity must be a Severity: {self.severity!r}")
        if not self.title.strip() or "\n" in self.title:
            raise ValueError(f"alert title must be one non-empty line: {self.title!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One alert on its way to one channel; ``attempts`` failed or made so far."""

    id: int
    channel: str
    alert: Alert
    attempts: int
    next_attempt_at: datetime


JITTER = 0.25  # a retry comes up to a quarter earlier than its nominal delay


def retry_delay(attempts: int, *, base: float, cap: float, fraction: float = 0.0) -> float:
    """Seconds before the next try after ``attempts`` failed ones (1 = the first failed).

    ``base * 2 ** (attempts - 1)``, at most ``cap``, then shortened by up to ``JITTER``
    of itself as ``fraction`` goes from 0 to 1, so channels failing together do not
    retry in lockstep and a retry never comes later than the cap.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1: {attempts}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1]: {fraction}")
    nominal = cap if attempts > 64 else min(cap, base * 2 ** (attempts - 1))
    return nominal * (1.0 - JITTER * fraction)
