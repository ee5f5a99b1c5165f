"""The journal's schema: an ordered list of migrations, versioned with ``PRAGMA
user_version``, and the connection settings (WAL, ``synchronous=NORMAL``, foreign keys,
a busy timeout).

Migration ``n`` (1-based) takes a database from version ``n - 1`` to ``n``. All pending
migrations run in one transaction, so a failed upgrade leaves the file as it was. A
file newer than the code is refused, never recreated; a file that is not SQLite is
refused and left untouched. Add a migration by appending a function: never edit one
that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from exerciser.adapters.journal._errors import JournalError

Migration = Callable[[sqlite3.Connection], None]


def _null(_: None) -> None:
    return None


# Binding None costs Python 3.11's sqlite3 a failed adaptation: None is not one of the
# types it binds directly, so for every None parameter it builds a key, misses the
# adapter registry, and asks the protocol for ``__adapt__``, which raises (and formats)
# an AttributeError that is then cleared: 0.3-0.5 us a parameter against about 0.05
# with an adapter registered (``executemany`` of six Nones a row, 200,000 rows), and a
# cycle binds over a million (observations and ledger updates are mostly NULLs). The
# adapter hands None back, so it binds as NULL exactly as before. The registry is the
# interpreter's, shared by every sqlite3 connection; this entry changes nothing for
# them but the cost.
sqlite3.register_adapter(type(None), _null)

_APPEND_ONLY = ("events", "observations")

_V1 = (
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        business_date TEXT NOT NULL,
        as_of TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        command TEXT NOT NULL,
        dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
        outcome TEXT
    ) STRICT""",
    "CREATE INDEX runs_by_date ON runs (business_date, started_at)",
    """CREATE TABLE plans (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
        business_date TEXT NOT NULL,
        as_of TEXT NOT NULL,
        warnings TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE plan_rows (
        run_id TEXT NOT NULL REFERENCES plans (run_id),
        ordinal INTEGER NOT NULL,
        account_id INTEGER NOT NULL,
        instrument_id TEXT NOT NULL,
        action TEXT NOT NULL,
        instruction_id TEXT,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, ordinal)
    ) STRICT""",
    """CREATE INDEX plan_rows_by_instruction ON plan_rows (instruction_id)
        WHERE instruction_id IS NOT NULL""",
    """CREATE TABLE ledger (
        instruction_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        business_date TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        instrument_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        instruction_type TEXT NOT NULL,
        quantity TEXT NOT NULL,
        state TEXT NOT NULL,
        server_id TEXT,
        accepted_quantity TEXT,
        reason TEXT,
        reason_code TEXT,
        raw_status TEXT,
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        superseded INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX ledger_by_date ON ledger (business_date, account_id, instruction_id)",
    """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        account_id INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,
        http_status INTEGER,
        request_id TEXT
    ) STRICT""",
    """CREATE TABLE attempt_rows (
        attempt_id INTEGER NOT NULL REFERENCES attempts (id),
        instruction_id TEXT NOT NULL REFERENCES ledger (instruction_id),
        PRIMARY KEY (attempt_id, instruction_id)
    ) STRICT""",
    "CREATE INDEX attempt_rows_by_instruction ON attempt_rows (instruction_id)",
    """CREATE TABLE observations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        instruction_id TEXT NOT NULL REFERENCES ledger (instruction_id),
        run_id TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        applied INTEGER NOT NULL CHECK (applied IN (0, 1)),
        server_id TEXT,
        raw_status TEXT,
        accepted_quantity TEXT,
        reason TEXT,
        reason_code TEXT,
        attempt_id INTEGER REFERENCES attempts (id)
    ) STRICT""",
    "CREATE INDEX observations_by_instruction ON observations (instruction_id, id)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        run_id TEXT,
        business_date TEXT,
        kind TEXT NOT NULL,
        instruction_id TEXT,
        account_id INTEGER,
        data TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX events_by_date ON events (business_date, id)",
    *(
        f"""CREATE TRIGGER {table}_append_only_{verb.lower()} BEFORE {verb} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"""
        for table in _APPEND_ONLY
        for verb in ("UPDATE", "DELETE")
    ),
)


def _v1_initial(connection: sqlite3.Connection) -> None:
    """Runs, plans, the ledger, attempts, observations and events.

    The run id of an observation or event is a label, not a reference: one-off commands
    (``exerciser cancel``) journal under a run id of their own without a ``runs`` row.
    Plans, ledger rows and attempts do reference their run.
    """
    for statement in _V1:
        connection.execute(statement)


_V2 = (
    """CREATE TABLE alerts (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        severity INTEGER NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        attachments TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_key TEXT NOT NULL REFERENCES alerts (key),
        channel TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
        attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at TEXT NOT NULL,
        last_attempt_at TEXT,
        last_error TEXT,
        delivered_at TEXT,
        UNIQUE (alert_key, channel)
    ) STRICT""",
    """CREATE INDEX deliveries_pending ON deliveries (next_attempt_at, id)
        WHERE state = 'pending'""",
)


def _v2_alert_outbox(connection: sqlite3.Connection) -> None:
    """The alert outbox: each alert once by its key, and one delivery per channel.

    ``attachments`` is a JSON list of ``{filename, content_type, data}`` with the bytes
    in base64. A delivery is ``pending`` until a channel took it, then ``delivered``.
    """
    for statement in _V2:
        connection.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (_v1_initial, _v2_alert_outbox)
SCHEMA_VERSION = len(MIGRATIONS)


def _user_version(connection: sqlite3.Connection) -> int:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert isinstance(version, int)
    return version


def _refuse_newer(path: Path, found: int, known: int) -> None:
    if found > known:
        raise JournalError(
            f"{path}: schema version {found} is newer than this exerciser ({known}); "
            "upgrade exerciser"
        )


def migrate(
    connection: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Run the pending ``migrations`` in one transaction; return the version reached.

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = _user_version(connection)
        _refuse_newer(path, found, len(migrations))
        for migration in migrations[found:]:
            migration(connection)
        connection.execute(f"PRAGMA user_version = {len(migrations):d}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return len(migrations)


# The page size of a journal file created from now on. SQLite's default is 4,096 bytes;
# a plan row's record is about 720, and a bench day of 100,000 rows leaves a 159 MB file
# (149 MB at 16 KiB). Measured with ``python -m bench.journal_micro --rounds 3`` (2,000
# accounts, 103,903 plan rows), three pairs of runs alternating: the journal's CPU 5.21,
# 5.75 and 6.81 s at 4,096 against 5.10, 4.99 and 4.51 s at 16,384 (``record_plan``
# 2.21-2.77 s against 1.78-2.04 s, the process's system time 3.7-4.5 s against 2.7-2.9
# s): fewer pages, fewer B-tree levels and fewer frames through the write-ahead log. A
# file that exists keeps its page size (in WAL mode SQLite cannot change it), so an older
# journal works as it did.
PAGE_SIZE = 16_384


def _use_wal(connection: sqlite3.Connection, path: Path) -> None:
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise JournalError(f"{path}: cannot use write-ahead logging (journal_mode {mode})")


def connect(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the journal at ``path``.

    The version is read before anything is written, so a foreign or newer file is
    refused untouched. Raises ``JournalError``; the connection is closed on failure.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(f"{path}: cannot create its directory: {exc}") from exc
    try:
        connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: cannot open the journal: {exc}") from exc
    try:
        _refuse_newer(path, _user_version(connection), SCHEMA_VERSION)
        connection.execute(f"PRAGMA page_size = {PAGE_SIZE:d}")  # a new file only
        _use_wal(connection, path)
        # NORMAL in WAL mode: every commit survives a crash of the process (kill -9,
        # OOM, the watchdog), which is what the daemon must survive; a power loss may
        # lose the last commits, and the next run recovers them from the broker's list
        # (it looks before it sends, and resends carry the same ids) — so it cannot
        # double an instruction. FULL cost an fsync per batch: ~3.5 s of 100,000 rows.
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        migrate(connection, path)
    except sqlite3.Error as exc:
        connection.close()
        raise JournalError(f"{path}: cannot use the journal: {exc}") from exc
    except BaseException:
        connection.close()
        raise
    return connection
