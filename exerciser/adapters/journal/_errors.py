"""The journal's one error lives in the project's error tree; re-exported here."""

from __future__ import annotations

from exerciser.errors import JournalError

__all__ = ["JournalError"]
