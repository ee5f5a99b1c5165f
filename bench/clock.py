"""The rehearsal clock the simulator process and the daemon process share.

Both compute ``anchor + (time.time() - epoch)`` from the same two numbers, so they agree
on "now" to within the wall clock's resolution although they live in different
processes. The anchor is just after the scenario's close, before the first after-hours
trade: the daemon captures the close, as it would on the day.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

ANCHOR_AFTER_CLOSE = timedelta(minutes=1)


class SharedClock:
    def __init__(self, *, anchor: datetime, epoch: float) -> None:
        self.anchor = anchor.astimezone(UTC)
        self.epoch = epoch

    def __call__(self) -> datetime:
        return self.anchor + timedelta(seconds=time.time() - self.epoch)
