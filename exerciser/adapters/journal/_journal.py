"""``SqliteJournal``: the ``Journal`` port over one SQLite file.

Every method that writes is one ``BEGIN IMMEDIATE`` transaction: it happens whole or not
at all, whatever fails half-way (a bad id, a full disk, a crash). Arguments are encoded
before the transaction starts, so a naive datetime or a NaN quantity changes nothing.
The connection belongs to the thread that opened it; a second process (``status``
while a run goes on) opens its own and reads alongside, thanks to WAL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exerciser.adapters.journal import _records as rec
from exerciser.adapters.journal._codec import (
    date_text,
    json_text,
    optional_decimal_text,
    utc_text,
)
from exerciser.adapters.journal._outbox import JournalOutbox
from exerciser.adapters.journal._plans import intended_rows, ledger_values, plan_row_values, terms
from exerciser.adapters.journal._schema import connect
from exerciser.adapters.journal._transitions import may_follow
from exerciser.domain.ledger import LedgerRow, RowState, RowUpdate
from exerciser.domain.plan import Plan
from exerciser.ports import RunRecord

if TYPE_CHECKING:
    from exerciser.ports import Journal, Outbox

BUSY_TIMEOUT = 10.0  # seconds a write waits for another process's write to finish
SUPERSEDED = "ledger.superseded"  # the event kind ``supersede`` appends
PLANNED = "plan"  # the source of the first observation of every ledger row

_INSERT_LEDGER = (
    "INSERT INTO ledger (instruction_id, run_id, business_date, account_id, instrument_id,"
    " symbol, instruction_type, quantity, state, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)  # the order of _plans.ledger_values
_INSERT_OBSERVATION = (
    "INSERT INTO observations (instruction_id, run_id, at, source, state, applied, server_id,"
    " raw_status, accepted_quantity, reason, reason_code, attempt_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_LEDGER = (
    "UPDATE ledger SET state = ?, server_id = coalesce(?, server_id),"
    " accepted_quantity = coalesce(?, accepted_quantity), reason = coalesce(?, reason),"
    " reason_code = coalesce(?, reason_code), raw_status = coalesce(?, raw_status),"
    " updated_at = ? WHERE instruction_id = ?"
)
_INSERT_EVENT = (
    "INSERT INTO events (at, run_id, business_date, kind, instruction_id, account_id, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SqliteJournal(JournalOutbox):
    """The journal: the source of truth for what we intended and what we know."""

    @classmethod
    def open(cls, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> SqliteJournal:
        """Open ``path``, creating it and its directories, and migrate it.

        Raises ``JournalError`` if it is not a SQLite database or was written by a newer
        exerciser; the file is then left exactly as it was.
        """
        return cls(connection=connect(path, busy_timeout=busy_timeout), path=path)

    # ------------------------------------------------------------------ runs

    def begin_run(self, run: RunRecord) -> None:
        values = (
            run.run_id,
            date_text(run.business_date),
            utc_text(run.as_of),
            utc_text(run.started_at),
            run.command,
            int(run.dry_run),
        )
        with self._writing("begin_run") as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run.run_id,)).fetchone():
                raise self._fail("begin_run", f"run {run.run_id} was already begun")
            db.execute(
                "INSERT INTO runs (run_id, business_date, as_of, started_at, command, dry_run)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )

    def end_run(self, run_id: str, *, ended_at: datetime, outcome: str) -> None:
        """Close a run once; ending an unknown or already ended run is a JournalError."""
        at = utc_text(ended_at)
        with self._writing("end_run") as db:
            ended = db.execute(
                "UPDATE runs SET ended_at = ?, outcome = ? WHERE run_id = ? AND ended_at IS NULL",
                (at, outcome, run_id),
            )
            if ended.rowcount == 0:
                known = db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                problem = "was already ended" if known else "is not in the journal"
                raise self._fail("end_run", f"run {run_id} {problem}")

    # ------------------------------------------------------------------ the plan

    def record_plan(self, run_id: str, plan: Plan, *, at: datetime) -> list[LedgerRow]:
        """Store the plan under ``run_id`` and journal its new instructions as PENDING.

        Re-recording (a restart) adds nothing and resets nothing: rows already in the
        ledger keep their state. Recording a *different* plan under the same run, an
        instruction id twice, or an id whose terms differ from the ledger's is refused.
        """
        what = "record_plan"
        now, day = utc_text(at), date_text(plan.business_date)
        header = (run_id, day, utc_text(plan.as_of), json_text(plan.warnings), now)
        intended = intended_rows(plan, fail=lambda problem: self._fail(what, problem))
        with self._writing(what) as db:
            if self._run_date(db, what, run_id) != day:
                raise self._fail(what, f"run {run_id} is not for {day}")
            self._store_plan(db, header, plan)
            known = rec.ledger_rows_by_id(db, intended)
            for iid, row in known.items():
                if terms(row) != terms(intended[iid]):
                    raise self._fail(
                        what,
                        f"{iid} is journaled as {terms(row)} but planned as {terms(intended[iid])}",
                    )
            new = [row for iid, row in intended.items() if iid not in known]
            db.executemany(_INSERT_LEDGER, (ledger_values(r, run_id=run_id, at=now) for r in new))
            db.executemany(
                _INSERT_OBSERVATION,
                (
                    (r.instruction_id, run_id, now, PLANNED, r.state.value, 1, *(None,) * 6)
                    for r in new
                ),
            )
        return [known.get(iid, row) for iid, row in intended.items()]

    def _store_plan(self, db: sqlite3.Connection, header: tuple[str, ...], plan: Plan) -> None:
        """Store the plan of a run once; the same plan again is a no-op."""
        run_id = header[0]
        stored = db.execute(
            "SELECT business_date, as_of, warnings FROM plans WHERE run_id = ?", (run_id,)
        ).fetchone()
        if stored is None:
            db.execute(
                "INSERT INTO plans (run_id, business_date, as_of, warnings, recorded_at)"
                " VALUES (?, ?, ?, ?, ?)",
                header,
            )
            db.executemany(
                "INSERT INTO plan_rows (run_id, ordinal, account_id, instrument_id, action,"
                " instruction_id, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                plan_row_values(run_id, plan),
            )
            return
        rows = db.execute(
            "SELECT record FROM plan_rows WHERE run_id = ? ORDER BY ordinal", (run_id,)
        ).fetchall()
        records = [values[-1] for values in plan_row_values(run_id, plan)]
        if tuple(stored) != header[1:4] or [r[0] for r in rows] != records:
            raise self._fail("record_plan", f"run {run_id} already recorded a different plan")

    # ------------------------------------------------------------------ the ledger

    def record_attempt(
        self, run_id: str, *, account_id: int, instruction_ids: Sequence[str], at: datetime
    ) -> int:
        """Write-ahead: an in-flight attempt (no outcome yet) for these rows, each of
        which counts one more attempt. Returns the attempt id."""
        what, now, ids = "record_attempt", utc_text(at), list(instruction_ids)
        if len(set(ids)) != len(ids):
            raise self._fail(what, "an instruction id is given twice")
        with self._writing(what) as db:
            self._run_date(db, what, run_id)
            # Count the attempt on each row first: a row that is not in the ledger, or is
            # another account's, is not counted, and only then is the ledger read to say
            # which (the transaction is rolled back, so nothing is written).
            counted = db.executemany(
                "UPDATE ledger SET attempts = attempts + 1, updated_at = ?"
                " WHERE instruction_id = ? AND account_id = ?",
                ((now, i, account_id) for i in ids),
            ).rowcount
            if counted != len(ids):
                known = rec.ledger_accounts(db, ids)
                if missing := [i for i in ids if i not in known]:
                    raise self._fail(what, f"not in the ledger: {', '.join(missing[:5])}")
                others = [i for i in ids if known[i] != account_id]
                raise self._fail(what, f"not of account {account_id}: {', '.join(others[:5])}")
            cursor = db.execute(
                "INSERT INTO attempts (run_id, account_id, started_at) VALUES (?, ?, ?)",
                (run_id, account_id, now),
            )
            attempt_id = cursor.lastrowid
            assert attempt_id is not None
            db.executemany(
                "INSERT INTO attempt_rows (attempt_id, instruction_id) VALUES (?, ?)",
                ((attempt_id, i) for i in ids),
            )
        return attempt_id

    def apply(
        self,
        run_id: str,
        updates: Sequence[RowUpdate],
        *,
        at: datetime,
        source: str,
        attempt_id: int | None = None,
        attempt_outcome: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Apply ``updates`` in order and close ``attempt_id``, in one transaction.

        Every update is kept as an observation. One that the transition table refuses
        (a stale listing reporting SENT for an ACCEPTED row) leaves the row untouched
        and is kept with ``applied`` false. An unknown instruction or attempt, or an
        attempt already closed, is a JournalError and nothing is written.
        """
        what, now = "apply", utc_text(at)
        if attempt_id is None and (attempt_outcome, http_status, request_id) != (None,) * 3:
            raise ValueError("attempt_outcome, http_status and request_id need an attempt_id")
        if attempt_id is not None and attempt_outcome is None:
            raise ValueError(f"closing attempt {attempt_id} needs an attempt_outcome")
        observed = [
            (u, optional_decimal_text(u.accepted_quantity), RowState(u.state)) for u in updates
        ]
        with self._writing(what) as db:
            states = rec.ledger_states(db, (u.instruction_id for u in updates))
            if missing := [u.instruction_id for u in updates if u.instruction_id not in states]:
                raise self._fail(what, f"not in the ledger: {', '.join(missing[:5])}")
            if attempt_id is not None:
                self._close_attempt(db, attempt_id, (now, attempt_outcome, http_status, request_id))
            changes, observations = [], []
            for update, accepted, state in observed:
                iid = update.instruction_id
                applied = may_follow(states[iid], state)
                if applied:
                    states[iid] = state
                    changes.append(
                        (
                            state.value,
                            update.server_id,
                            accepted,
                            update.reason,
                            update.reason_code,
                            update.raw_status,
                            now,
                            iid,
                        )
                    )
                observations.append(
                    (
                        iid,
                        run_id,
                        now,
                        source,
                        state.value,
                        int(applied),
                        update.server_id,
                        update.raw_status,
                        accepted,
                        update.reason,
                        update.reason_code,
                        attempt_id,
                    )
                )
            db.executemany(_UPDATE_LEDGER, changes)
            db.executemany(_INSERT_OBSERVATION, observations)

    def _close_attempt(
        self, db: sqlite3.Connection, attempt_id: int, values: tuple[str | int | None, ...]
    ) -> None:
        closed = db.execute(
            "UPDATE attempts SET ended_at = ?, outcome = ?, http_status = ?, request_id = ?"
            " WHERE id = ? AND outcome IS NULL",
            (*values, attempt_id),
        )
        if closed.rowcount == 0:
            known = db.execute("SELECT 1 FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
            problem = "was already closed" if known else "is not in the journal"
            raise self._fail("apply", f"attempt {attempt_id} {problem}")

    def supersede(self, run_id: str, instruction_id: str, *, at: datetime, reason: str) -> None:
        """Flag the row as replaced by a later plan and append a ``ledger.superseded``
        event saying why."""
        what, now = "supersede", utc_text(at)
        with self._writing(what) as db:
            row = rec.ledger_rows_by_id(db, [instruction_id]).get(instruction_id)
            if row is None:
                raise self._fail(what, f"not in the ledger: {instruction_id}")
            db.execute(
                "UPDATE ledger SET superseded = 1, updated_at = ? WHERE instruction_id = ?",
                (now, instruction_id),
            )
            db.execute(
                _INSERT_EVENT,
                (
                    now,
                    run_id,
                    date_text(row.business_date),
                    SUPERSEDED,
                    instruction_id,
                    row.account_id,
                    json_text({"reason": reason}),
                ),
            )

    def event(
        self,
        run_id: str | None,
        kind: str,
        *,
        at: datetime,
        instruction_id: str | None = None,
        account_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Append an event. Its business date (for ``events_of``) is its run's if the run
        was begun, else its instruction's if journaled, else none."""
        now, payload = utc_text(at), json_text(dict(data or {}))
        with self._writing("event") as db:
            found = db.execute(
                "SELECT coalesce((SELECT business_date FROM runs WHERE run_id = ?),"
                " (SELECT business_date FROM ledger WHERE instruction_id = ?))",
                (run_id, instruction_id),
            ).fetchone()
            db.execute(
                _INSERT_EVENT, (now, run_id, found[0], kind, instruction_id, account_id, payload)
            )


if TYPE_CHECKING:

    def _implements_the_port(journal: SqliteJournal) -> Journal:
        """mypy proves here that ``SqliteJournal`` is a ``Journal``."""
        return journal

    def _implements_the_outbox(journal: SqliteJournal) -> Outbox:
        """... and an ``Outbox``."""
        return journal
