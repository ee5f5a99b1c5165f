"""The journal's connection handling and its read side: the ledger for the services,
and the audit helpers (plan rows, runs, history, events, attempts) for ``status`` and
tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from exerciser.adapters.journal import _records as rec
from exerciser.adapters.journal._codec import date_text, read_json
from exerciser.adapters.journal._errors import JournalError
from exerciser.domain.ledger import TERMINAL_STATES, LedgerRow
from exerciser.ports import RunRecord

_TERMINAL = tuple(sorted(state.value for state in TERMINAL_STATES))
_TERMINAL_MARKS = ", ".join("?" * len(_TERMINAL))  # bound, not spliced into the text


class JournalReads:
    """One connection to the journal file, and everything that only reads it."""

    def __init__(self, *, connection: sqlite3.Connection, path: Path) -> None:
        """Wrap an already migrated connection; use ``SqliteJournal.open``."""
        self._connection = connection
        self._path = path

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Close the connection (again is harmless); later calls raise JournalError."""
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _reading(self, what: str) -> Iterator[sqlite3.Connection]:
        """SQLite errors (locked, closed, corrupt, full) and stored values this code
        cannot read become JournalErrors."""
        try:
            yield self._connection
        except sqlite3.Error as exc:
            raise JournalError(f"{self._path}: {what}: {exc}") from exc
        except ValueError as exc:
            raise JournalError(f"{self._path}: {what}: unreadable: {exc}") from exc

    @contextmanager
    def _writing(self, what: str) -> Iterator[sqlite3.Connection]:
        """One transaction: committed if the block ends normally, else rolled back."""
        connection = self._connection
        with self._reading(what):
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _fail(self, what: str, problem: str) -> JournalError:
        return JournalError(f"{self._path}: {what}: {problem}")

    def _run_date(self, db: sqlite3.Connection, what: str, run_id: str) -> str:
        found = db.execute("SELECT business_date FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            raise self._fail(what, f"run {run_id} is not in the journal")
        day = found[0]
        assert isinstance(day, str)
        return day

    # ------------------------------------------------------------------ the ledger

    def rows(self, business_date: date) -> list[LedgerRow]:
        """The ledger rows of the day, by account, then instruction id."""
        with self._reading("rows") as db:
            found = db.execute(
                f"SELECT {rec.LEDGER_COLUMNS} FROM ledger WHERE business_date = ?"  # noqa: S608
                " ORDER BY account_id, instruction_id",
                (date_text(business_date),),
            )
            return [rec.ledger_row(values) for values in found]

    def open_rows(self, business_date: date) -> list[LedgerRow]:
        """The ledger rows of the day not yet in a terminal state, in ``rows`` order:
        what the reconciler follows, without building every settled row of the day."""
        with self._reading("open_rows") as db:
            found = db.execute(
                f"SELECT {rec.LEDGER_COLUMNS} FROM ledger WHERE business_date = ?"  # noqa: S608
                f" AND state NOT IN ({_TERMINAL_MARKS}) ORDER BY account_id, instruction_id",
                (date_text(business_date), *_TERMINAL),
            )
            return [rec.ledger_row(values) for values in found]

    def row(self, instruction_id: str) -> LedgerRow | None:
        with self._reading("row") as db:
            return rec.ledger_rows_by_id(db, [instruction_id]).get(instruction_id)

    # ------------------------------------------------------------------ audit

    def plan_rows(self, run_id: str) -> list[dict[str, Any]]:
        """The plan rows stored under ``run_id``, in plan order, as JSON records
        (Decimals and dates as strings, reasons as a list)."""
        with self._reading("plan_rows") as db:
            found = db.execute(
                "SELECT record FROM plan_rows WHERE run_id = ? ORDER BY ordinal", (run_id,)
            )
            return [read_json(record) for (record,) in found]

    def latest_run(self, business_date: date) -> RunRecord | None:
        """The run of the day that started last."""
        with self._reading("latest_run") as db:
            found = db.execute(
                f"SELECT {rec.RUN_COLUMNS} FROM runs WHERE business_date = ?"  # noqa: S608
                " ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (date_text(business_date),),
            ).fetchone()
            return None if found is None else rec.run_record(found)

    def runs_of(self, business_date: date) -> list[dict[str, Any]]:
        """The runs of the day, oldest first: the ``RunRecord`` fields plus ``ended_at``
        and ``outcome`` (None while running, or after a crash)."""
        with self._reading("runs_of") as db:
            found = db.execute(
                f"SELECT {rec.RUN_COLUMNS} FROM runs WHERE business_date = ?"  # noqa: S608
                " ORDER BY started_at, rowid",
                (date_text(business_date),),
            )
            return [rec.run_dict(values) for values in found]

    def history(self, instruction_id: str) -> list[dict[str, Any]]:
        """Every state seen for the row, oldest first, each with its source and whether
        it moved the row (``applied``); the first is the plan's PENDING."""
        with self._reading("history") as db:
            found = db.execute(
                f"SELECT {rec.OBSERVATION_COLUMNS} FROM observations"  # noqa: S608
                " WHERE instruction_id = ? ORDER BY id",
                (instruction_id,),
            )
            return [rec.observation_dict(values) for values in found]

    def events_of(self, business_date: date | None = None) -> list[dict[str, Any]]:
        """Events of the day (every event when None), oldest first."""
        where, args = "", tuple[str, ...]()
        if business_date is not None:
            where, args = " WHERE business_date = ?", (date_text(business_date),)
        with self._reading("events_of") as db:
            found = db.execute(
                f"SELECT {rec.EVENT_COLUMNS} FROM events{where} ORDER BY id",  # noqa: S608
                args,
            )
            return [rec.event_dict(values) for values in found]

    def attempts_of(self, instruction_id: str) -> list[dict[str, Any]]:
        """The attempts that carried the row, oldest first; ``outcome`` None means in
        flight (or cut short by a crash); ``rows`` is the size of the batch."""
        with self._reading("attempts_of") as db:
            found = db.execute(
                f"SELECT {rec.ATTEMPT_COLUMNS} FROM attempts a"  # noqa: S608
                " JOIN attempt_rows r ON r.attempt_id = a.id"
                " WHERE r.instruction_id = ? ORDER BY a.id",
                (instruction_id,),
            )
            return [rec.attempt_dict(values) for values in found]
