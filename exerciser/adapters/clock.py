"""The only place that reads the wall clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def system_now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


class RehearsalClock:
    """A clock that starts at ``start`` and runs at the wall clock's pace: drills and
    replays (``--as-of``) see deadlines arrive as they would on the day."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)
