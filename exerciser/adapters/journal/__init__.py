"""The journal over SQLite: the daemon's source of truth across crashes.

One file (``state_dir / "journal.sqlite3"``), WAL, ``synchronous=NORMAL`` (why: in
``_schema``), foreign keys on. Tables::

    runs          one row per command run: business date, as_of, started/ended, outcome
    plans         the plan header of a run (as_of, warnings)
    plan_rows     every plan row of a run, the whole PlanRow as a JSON record
    ledger        one row per instruction we intend to send: its latest known state
    attempts      write-ahead submit attempts (outcome NULL: in flight) and their
    attempt_rows    rows
    observations  every state ever seen for a ledger row (append-only)
    events        what happened, for humans and audit (append-only)
    alerts        the alert outbox: every alert raised, once per key
    deliveries      and one delivery per channel: pending, then delivered

Decimals are exact text, datetimes ISO 8601 UTC text, dates ISO. ``JournalError`` is
raised for a file that cannot be used and for requests only a bug would make.
"""

from __future__ import annotations

from exerciser.adapters.journal._errors import JournalError
from exerciser.adapters.journal._journal import BUSY_TIMEOUT, PLANNED, SUPERSEDED, SqliteJournal
from exerciser.adapters.journal._schema import SCHEMA_VERSION
from exerciser.adapters.journal._transitions import FOLLOWERS, may_follow

__all__ = [
    "BUSY_TIMEOUT",
    "FOLLOWERS",
    "PLANNED",
    "SCHEMA_VERSION",
    "SUPERSEDED",
    "JournalError",
    "SqliteJournal",
    "may_follow",
]
