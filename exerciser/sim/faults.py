"""Fault injection settings, adjustable while the simulator runs.

Counters (``submit_503``, ``lost_ack``, ``rate_limit_429``, ``malformed_body``) count down
by one each time they fire; ``latency_ms`` applies to every request while it is non-zero.
Tests change them at any time: ``sim.faults.lost_ack = 1``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

FaultCounter = Literal["submit_503", "lost_ack", "rate_limit_429", "malformed_body"]
FAULT_FIELDS = (
    "latency_ms",
    "submit_503",
    "lost_ack",
    "rate_limit_429",
    "retry_after_seconds",
    "malformed_body",
)


@dataclass(kw_only=True)
class Faults:
    """What the simulator does wrong on purpose. All off by default."""

    latency_ms: int = 0
    submit_503: int = 0
    lost_ack: int = 0
    rate_limit_429: int = 0
    retry_after_seconds: int = 1
    malformed_body: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def consume(self, counter: FaultCounter) -> bool:
        """Fire ``counter`` once if it is above zero: decrement it and return True."""
        with self._lock:
            remaining: int = getattr(self, counter)
            if remaining <= 0:
                return False
            setattr(self, counter, remaining - 1)
            return True

    def copy(self) -> Faults:
        """A fresh, independent ``Faults`` with the same settings."""
        return Faults(
            latency_ms=self.latency_ms,
            submit_503=self.submit_503,
            lost_ack=self.lost_ack,
            rate_limit_429=self.rate_limit_429,
            retry_after_seconds=self.retry_after_seconds,
            malformed_body=self.malformed_body,
        )
