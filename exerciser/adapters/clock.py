"""The only place that reads the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime


def system_now() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)
