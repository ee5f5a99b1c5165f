"""The SQLite journal on real files in tmp_path: schema versions and refusals, the plan
and its ledger across restarts, write-ahead attempts, the transition table, atomic
writes, exact round trips, append-only audit, and two processes on one file."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exerciser.adapters.journal import (
    FOLLOWERS,
    PLANNED,
    SCHEMA_VERSION,
    SUPERSEDED,
    JournalError,
    SqliteJournal,
    may_follow,
)
from exerciser.adapters.journal import _schema as schema
from exerciser.adapters.journal._schema import MIGRATIONS, PAGE_SIZE, migrate
from exerciser.domain.book import Right
from exerciser.domain.instructions import InstructionType
from exerciser.domain.ledger import TERMINAL_STATES, LedgerRow, RowState, RowUpdate
from exerciser.domain.plan import Outcome, Plan, PlanAction, PlanRow
from exerciser.errors import ExerciserError
from exerciser.ports import Journal, RunRecord

DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 21, 30, tzinfo=UTC)
ACCOUNT = 100001
S = RowState


# ---------------------------------------------------------------------- helpers


def plan_row(
    instrument_id: str = "aapl-261120c190",
    *,
    account_id: int = ACCOUNT,
    action: PlanAction = PlanAction.EXERCISE,
    quantity: Decimal = Decimal(5),
    instruction_id: str | None = None,
    reasons: tuple[str, ...] = ("in the money by 0.40",),
) -> PlanRow:
    """A plan row; rows whose action sends something get an id naming their terms."""
    if instruction_id is None and action.instruction_type is not None:
        instruction_id = f"xr-{account_id}-{instrument_id}-{action.value}-{quantity}"
    return PlanRow(
        account_id=account_id,
        instrument_id=instrument_id,
        symbol=f"OSI {instrument_id}",
        root="AAPL",
        underlying_symbol="AAPL",
        expiry=DAY,
        right=Right.CALL,
        strike=Decimal("190.00"),
        multiplier=Decimal(100),
        position_quantity=quantity,
        available_quantity=quantity,
        quantity=quantity,
        occ_reference_price=Decimal("190.40"),
        decision_price=Decimal("190.40"),
        price_source="close",
        itm_amount=Decimal("0.40"),
        occ_would_exercise=True,
        want_exercise=action is PlanAction.EXERCISE,
        action=action,
        expected_outcome=Outcome.EXERCISED,
        instruction_id=instruction_id,
        reasons=reasons,
    )


def make_plan(*rows: PlanRow, day: date = DAY, warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(business_date=day, as_of=AT, rows=rows, warnings=warnings)


def run(run_id: str = "run-1", *, day: date = DAY, started_at: datetime = AT) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        business_date=day,
        as_of=AT,
        started_at=started_at,
        command="run",
        dry_run=False,
    )


def raw(path: Path) -> closing[sqlite3.Connection]:
    """A plain sqlite3 connection, as another program would open the file."""
    return closing(sqlite3.connect(path, isolation_level=None))


def iid(row: PlanRow) -> str:
    assert row.instruction_id is not None
    return row.instruction_id


EXERCISE = plan_row("aapl-261120c190")
DNE = plan_row("msft-261120c420", action=PlanAction.DO_NOT_EXERCISE, quantity=Decimal(3))
NOTHING = plan_row("spy-261120p500", action=PlanAction.NONE)
REVIEW = plan_row("qqq-261120c400", action=PlanAction.MANUAL_REVIEW, reasons=("no price", "ask"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite3"


@pytest.fixture
def journal(path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
        yield journal


# ---------------------------------------------------------------------- opening


def test_open_creates_directories_and_a_wal_database_at_the_current_version(path: Path) -> None:
    with SqliteJournal.open(path) as journal:
        assert journal.path == path
    assert path.is_file()
    with raw(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "plans", "plan_rows", "ledger", "attempts", "attempt_rows"} <= tables
    assert {"observations", "events"} <= tables


def test_a_new_journal_file_gets_the_larger_page_size(path: Path) -> None:
    SqliteJournal.open(path).close()
    with raw(path) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    assert PAGE_SIZE > 4096  # SQLite's default, which the files made before it have


def test_a_journal_file_made_with_the_old_page_size_keeps_it_and_works(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "PAGE_SIZE", 4096)  # as journals were created before
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
    monkeypatch.undo()
    with SqliteJournal.open(path) as journal:
        ledger = journal.record_plan("run-1", make_plan(DNE, EXERCISE), at=AT)
        assert [r.instruction_id for r in journal.rows(DAY)] == sorted(
            r.instruction_id for r in ledger
        )
    with raw(path) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (4096,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_journal_satisfies_the_port(journal: SqliteJournal) -> None:
    port: Journal = journal
    assert port.rows(DAY) == []


def test_reopening_migrates_nothing_and_keeps_the_data(path: Path) -> None:
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
    with SqliteJournal.open(path) as journal:
        assert journal.latest_run(DAY) == run()
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_newer_schema_is_refused_and_the_file_left_untouched(path: Path) -> None:
    SqliteJournal.open(path).close()
    with raw(path) as db:
        db.execute("PRAGMA user_version = 7")
    before = path.read_bytes()
    expected = (
        f"{path}: schema version 7 is newer than this exerciser ({SCHEMA_VERSION}); "
        "upgrade exerciser"
    )
    with pytest.raises(JournalError, match=re.escape(expected)):
        SqliteJournal.open(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(path: Path) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"this is not a journal\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(JournalError, match=r"journal\.sqlite3: .*file is not a database"):
        SqliteJournal.open(path)
    assert path.read_bytes() == garbage


def test_journal_error_belongs_to_the_exerciser_tree() -> None:
    assert issubclass(JournalError, ExerciserError)


def test_migrations_run_in_order_from_the_stored_version(path: Path) -> None:
    """An upgrade runs only the migrations the file lacks, in order, keeping the data."""
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
    ran: list[str] = []

    def add_note(db: sqlite3.Connection) -> None:
        ran.append("note")
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    def fill_note(db: sqlite3.Connection) -> None:
        ran.append("fill")
        db.execute("UPDATE runs SET note = 'upgraded'")

    with raw(path) as db:
        assert migrate(db, path, [*MIGRATIONS, add_note, fill_note]) == SCHEMA_VERSION + 2
        assert migrate(db, path, [*MIGRATIONS, add_note, fill_note]) == SCHEMA_VERSION + 2
        assert db.execute("SELECT run_id, note FROM runs").fetchall() == [("run-1", "upgraded")]
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 2,)
    assert ran == ["note", "fill"]


def test_a_failing_migration_leaves_the_file_at_its_old_version(path: Path) -> None:
    SqliteJournal.open(path).close()

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE extra (x TEXT)")
        raise sqlite3.OperationalError("disk on fire")

    with raw(path) as db:
        with pytest.raises(sqlite3.OperationalError, match="disk on fire"):
            migrate(db, path, [*MIGRATIONS, half_done])
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None


def test_a_closed_journal_raises_journal_error(path: Path) -> None:
    journal = SqliteJournal.open(path)
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match=r"journal\.sqlite3: rows:"):
        journal.rows(DAY)


# ---------------------------------------------------------------------- runs


def test_runs_begin_end_and_the_latest_run_of_the_day(journal: SqliteJournal) -> None:
    later = run("run-2", started_at=AT + timedelta(minutes=5))
    journal.begin_run(later)
    journal.begin_run(run("run-other-day", day=DAY + timedelta(days=1)))
    journal.end_run("run-1", ended_at=AT + timedelta(minutes=1), outcome="ok")
    assert journal.latest_run(DAY) == later
    assert journal.latest_run(DAY - timedelta(days=1)) is None
    runs = journal.runs_of(DAY)
    assert [(r["run_id"], r["ended_at"], r["outcome"]) for r in runs] == [
        ("run-1", AT + timedelta(minutes=1), "ok"),
        ("run-2", None, None),
    ]


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda j: j.begin_run(run()), "run run-1 was already begun"),
        (lambda j: j.end_run("nope", ended_at=AT, outcome="ok"), "run nope is not in the journal"),
        (
            lambda j: [j.end_run("run-1", ended_at=AT, outcome="ok") for _ in range(2)],
            "run run-1 was already ended",
        ),
    ],
    ids=["begun-twice", "unknown", "ended-twice"],
)
def test_run_bookkeeping_mistakes_are_journal_errors(
    journal: SqliteJournal, call: Callable[[SqliteJournal], object], problem: str
) -> None:
    with pytest.raises(JournalError, match=problem):
        call(journal)


# ---------------------------------------------------------------------- the plan


def test_record_plan_stores_every_row_and_journals_instructions_as_pending(
    journal: SqliteJournal,
) -> None:
    plan = make_plan(DNE, NOTHING, EXERCISE, REVIEW, warnings=("stale quote",))
    ledger = journal.record_plan("run-1", plan, at=AT)
    assert [r.instruction_id for r in ledger] == [iid(DNE), iid(EXERCISE)]
    assert ledger[0] == LedgerRow(
        instruction_id=iid(DNE),
        business_date=DAY,
        account_id=ACCOUNT,
        instrument_id="msft-261120c420",
        symbol="OSI msft-261120c420",
        instruction_type=InstructionType.DO_NOT_EXERCISE,
        quantity=Decimal(3),
    )
    stored = journal.plan_rows("run-1")
    assert [r["action"] for r in stored] == ["DO_NOT_EXERCISE", "NONE", "EXERCISE", "MANUAL_REVIEW"]
    assert stored[3]["reasons"] == ["no price", "ask"]
    assert stored[3]["instruction_id"] is None
    assert stored[0]["strike"] == "190.00"
    assert stored[0]["expiry"] == "2026-11-20"
    assert stored[0]["right"] == "CALL"
    assert journal.rows(DAY) == [journal.row(iid(EXERCISE)), journal.row(iid(DNE))]
    assert journal.row("xr-nope") is None
    assert [h["source"] for h in journal.history(iid(EXERCISE))] == [PLANNED]


def test_rows_are_ordered_by_account_then_instruction_id(journal: SqliteJournal) -> None:
    rows = [
        plan_row("b", account_id=2, instruction_id="xr-b"),
        plan_row("a", account_id=2, instruction_id="xr-a"),
        plan_row("z", account_id=1, instruction_id="xr-z"),
    ]
    journal.record_plan("run-1", make_plan(*rows), at=AT)
    assert [(r.account_id, r.instruction_id) for r in journal.rows(DAY)] == [
        (1, "xr-z"),
        (2, "xr-a"),
        (2, "xr-b"),
    ]


def test_open_rows_are_the_rows_of_the_day_not_yet_terminal_in_the_same_order(
    journal: SqliteJournal,
) -> None:
    """One row in every state, over two accounts, and a row of another day: the open
    rows are exactly ``rows`` without the terminal ones, whole and in order."""
    states = list(RowState)
    rows = [
        plan_row(f"c{n}", account_id=2 - n % 2, instruction_id=f"xr-{n:02d}")
        for n in range(len(states))
    ]
    journal.record_plan("run-1", make_plan(*rows), at=AT)
    journal.begin_run(run("run-2", day=DAY + timedelta(days=1)))
    journal.record_plan(
        "run-2",
        make_plan(plan_row("other", instruction_id="xr-x"), day=DAY + timedelta(days=1)),
        at=AT,
    )
    ids = [iid(r) for r in rows]
    journal.record_attempt("run-1", account_id=1, instruction_ids=ids[1::2], at=AT)
    for key, state in zip(ids, states, strict=True):
        update = RowUpdate(instruction_id=key, state=state, server_id=f"srv-{key}")
        journal.apply("run-1", [update], at=AT, source="list")
    journal.supersede("run-1", ids[1], at=AT, reason="replaced")
    expected = [r for r in journal.rows(DAY) if not r.state.is_terminal]
    assert {r.state for r in expected} == set(RowState) - TERMINAL_STATES
    assert journal.open_rows(DAY) == expected
    assert [r.instruction_id for r in journal.open_rows(DAY + timedelta(days=1))] == ["xr-x"]
    assert journal.open_rows(DAY - timedelta(days=1)) == []


def test_a_state_this_code_cannot_read_is_a_journal_error(
    journal: SqliteJournal, path: Path
) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    with raw(path) as db:
        db.execute("UPDATE ledger SET state = 'LOST'")
    update = RowUpdate(instruction_id=iid(EXERCISE), state=S.SENT)
    for read in (journal.rows, journal.open_rows):
        with pytest.raises(JournalError, match=r"unreadable: .*unknown value 'LOST'"):
            read(DAY)
    with pytest.raises(JournalError, match=r"apply: unreadable: .*unknown value 'LOST'"):
        journal.apply("run-1", [update], at=AT, source="list")
    assert [h["state"] for h in journal.history(iid(EXERCISE))] == [S.PENDING]


def test_record_plan_after_a_restart_adds_nothing_and_resets_nothing(path: Path) -> None:
    plan = make_plan(EXERCISE, NOTHING, DNE)
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
        journal.record_plan("run-1", plan, at=AT)
        attempt = journal.record_attempt(
            "run-1", account_id=ACCOUNT, instruction_ids=[iid(EXERCISE)], at=AT
        )
        journal.apply(
            "run-1",
            [RowUpdate(instruction_id=iid(EXERCISE), state=S.SENT, server_id="srv-1")],
            at=AT,
            source="submit",
            attempt_id=attempt,
            attempt_outcome="200",
        )
    with SqliteJournal.open(path) as journal:  # the daemon restarts
        again = journal.record_plan("run-1", plan, at=AT + timedelta(minutes=1))
        journal.begin_run(run("run-2", started_at=AT + timedelta(minutes=1)))
        third = journal.record_plan("run-2", plan, at=AT + timedelta(minutes=2))
        assert again == third == journal.rows(DAY)
        sent = journal.row(iid(EXERCISE))
        assert sent is not None
        assert (sent.state, sent.server_id, sent.attempts) == (S.SENT, "srv-1", 1)
        assert len(journal.rows(DAY)) == 2
        assert len(journal.plan_rows("run-1")) == len(journal.plan_rows("run-2")) == 3
        assert [h["state"] for h in journal.history(iid(EXERCISE))] == [S.PENDING, S.SENT]
        assert [h["state"] for h in journal.history(iid(DNE))] == [S.PENDING]


def test_the_same_terms_written_differently_are_the_same_instruction(
    journal: SqliteJournal,
) -> None:
    """As ``domain.ids`` reads them: instrument id without case or padding, quantity by
    value. The journaled row stands; nothing is added."""
    (first,) = journal.record_plan("run-1", make_plan(plan_row(instruction_id="xr-1")), at=AT)
    journal.begin_run(run("run-2"))
    same = plan_row(" AAPL-261120C190", quantity=Decimal("5.0"), instruction_id="xr-1")
    assert journal.record_plan("run-2", make_plan(same), at=AT) == [first]
    assert journal.rows(DAY) == [first]


def test_a_different_plan_under_the_same_run_is_refused(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    with pytest.raises(JournalError, match="run run-1 already recorded a different plan"):
        journal.record_plan("run-1", make_plan(EXERCISE, DNE), at=AT)
    assert journal.row(iid(DNE)) is None


@pytest.mark.parametrize(
    ("run_id", "plan", "problem"),
    [
        ("run-9", make_plan(DNE), "run run-9 is not in the journal"),
        (
            "run-1",
            make_plan(DNE, day=DAY + timedelta(days=7)),
            "run run-1 is not for 2026-11-27",
        ),
        ("run-1", make_plan(DNE, DNE), f"instruction id {iid(DNE)} is in the plan twice"),
        (
            "run-1",
            make_plan(DNE, plan_row("x", action=PlanAction.NONE, instruction_id="xr-none")),
            "xr-none: action NONE sends nothing",
        ),
        (
            "run-1",
            make_plan(DNE, plan_row("aapl-261120c190", quantity=Decimal(6), instruction_id="xr-1")),
            "xr-1 is journaled as .* but planned as",
        ),
    ],
    ids=["unknown-run", "other-day", "id-twice", "id-without-action", "id-with-other-terms"],
)
def test_a_refused_plan_writes_nothing(
    journal: SqliteJournal, run_id: str, plan: Plan, problem: str
) -> None:
    journal.begin_run(run("run-0"))
    journal.record_plan("run-0", make_plan(plan_row(instruction_id="xr-1")), at=AT)
    before = journal.rows(DAY)
    with pytest.raises(JournalError, match=problem):
        journal.record_plan(run_id, plan, at=AT)
    assert journal.rows(DAY) == before
    assert journal.plan_rows(run_id) == []


# ---------------------------------------------------------------------- attempts


def test_an_attempt_is_written_ahead_then_closed_by_apply(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE, DNE), at=AT)
    ids = [iid(EXERCISE), iid(DNE)]
    attempt = journal.record_attempt("run-1", account_id=ACCOUNT, instruction_ids=ids, at=AT)
    in_flight = journal.attempts_of(iid(DNE))
    assert [(a["id"], a["outcome"], a["ended_at"], a["rows"]) for a in in_flight] == [
        (attempt, None, None, 2)
    ]
    assert [r.attempts for r in journal.rows(DAY)] == [1, 1]
    assert {r.state for r in journal.rows(DAY)} == {S.PENDING}

    done = AT + timedelta(seconds=2)
    journal.apply(
        "run-1",
        [
            RowUpdate(instruction_id=i, state=S.SENT, server_id=f"srv-{i}", raw_status="SENT")
            for i in ids
        ],
        at=done,
        source="submit",
        attempt_id=attempt,
        attempt_outcome="200",
        http_status=200,
        request_id="req-1",
    )
    (closed,) = journal.attempts_of(iid(EXERCISE))
    assert closed == {
        "id": attempt,
        "run_id": "run-1",
        "account_id": ACCOUNT,
        "started_at": AT,
        "ended_at": done,
        "outcome": "200",
        "http_status": 200,
        "request_id": "req-1",
        "rows": 2,
    }
    assert [(h["state"], h["attempt_id"]) for h in journal.history(iid(DNE))] == [
        (S.PENDING, None),
        (S.SENT, attempt),
    ]
    again = journal.record_attempt("run-1", account_id=ACCOUNT, instruction_ids=ids[:1], at=done)
    assert [a["id"] for a in journal.attempts_of(iid(EXERCISE))] == [attempt, again]
    assert [r.attempts for r in journal.rows(DAY)] == [2, 1]


@pytest.mark.parametrize(
    ("account_id", "ids", "problem"),
    [
        (ACCOUNT, [iid(EXERCISE), "xr-nope"], "not in the ledger: xr-nope"),
        (ACCOUNT + 1, [iid(EXERCISE)], f"not of account {ACCOUNT + 1}"),
        (ACCOUNT, [iid(EXERCISE), iid(EXERCISE)], "an instruction id is given twice"),
    ],
    ids=["unknown-row", "other-account", "id-twice"],
)
def test_a_refused_attempt_writes_nothing(
    journal: SqliteJournal, account_id: int, ids: list[str], problem: str
) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    with pytest.raises(JournalError, match=problem):
        journal.record_attempt("run-1", account_id=account_id, instruction_ids=ids, at=AT)
    assert journal.attempts_of(iid(EXERCISE)) == []
    row = journal.row(iid(EXERCISE))
    assert row is not None
    assert row.attempts == 0


def test_an_attempt_closes_once(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    attempt = journal.record_attempt(
        "run-1", account_id=ACCOUNT, instruction_ids=[iid(EXERCISE)], at=AT
    )
    journal.apply("run-1", [], at=AT, source="submit", attempt_id=attempt, attempt_outcome="503")
    with pytest.raises(JournalError, match=f"attempt {attempt} was already closed"):
        journal.apply("run-1", [], at=AT, source="submit", attempt_id=attempt, attempt_outcome="x")
    with pytest.raises(JournalError, match="attempt 999 is not in the journal"):
        journal.apply("run-1", [], at=AT, source="submit", attempt_id=999, attempt_outcome="x")
    assert [a["outcome"] for a in journal.attempts_of(iid(EXERCISE))] == ["503"]


def test_attempt_details_without_an_attempt_are_a_value_error(journal: SqliteJournal) -> None:
    with pytest.raises(ValueError, match="need an attempt_id"):
        journal.apply("run-1", [], at=AT, source="submit", http_status=200)
    with pytest.raises(ValueError, match="needs an attempt_outcome"):
        journal.apply("run-1", [], at=AT, source="submit", attempt_id=1)


# ---------------------------------------------------------------------- transitions


def test_the_transition_table_covers_every_state() -> None:
    assert set(FOLLOWERS) == set(RowState)
    for state in RowState:
        assert may_follow(state, state), state
        assert may_follow(S.PENDING, state), state
        if state is not S.PENDING:
            assert not may_follow(state, S.PENDING), state


def test_a_broker_reported_terminal_state_moves_only_into_a_cancel() -> None:
    reported = TERMINAL_STATES - {S.FAILED, S.CONFLICT}
    for state in reported:
        for later in set(RowState) - {state}:
            expected = state is S.ACCEPTED and later in {
                S.CANCEL_REQUESTED,
                S.CANCELLED,
                S.CANCEL_FAILED,
            }
            assert may_follow(state, later) is expected, (state, later)


def state_path(value: object) -> str | None:
    """Test ids like ``accepted-sent`` for the lists of observed states."""
    if isinstance(value, list) and all(isinstance(v, RowState) for v in value):
        return "-".join(v.value.lower() for v in value)
    return None


@pytest.mark.parametrize(
    ("observed", "final", "applied"),
    [
        ([S.SENT, S.ACCEPTED], S.ACCEPTED, [True, True]),
        ([S.ACCEPTED, S.SENT], S.ACCEPTED, [True, False]),
        ([S.ACCEPTED, S.UNKNOWN], S.ACCEPTED, [True, False]),
        ([S.ACCEPTED, S.REJECTED], S.ACCEPTED, [True, False]),
        ([S.REJECTED, S.SENT], S.REJECTED, [True, False]),
        ([S.REJECTED, S.ACCEPTED], S.REJECTED, [True, False]),
        ([S.ACCEPTED, S.CANCEL_REQUESTED, S.CANCELLED], S.CANCELLED, [True, True, True]),
        ([S.ACCEPTED, S.CANCELLED], S.CANCELLED, [True, True]),
        ([S.ACCEPTED, S.CANCEL_REQUESTED, S.CANCEL_FAILED], S.CANCEL_FAILED, [True] * 3),
        ([S.ACCEPTED, S.CANCEL_FAILED], S.CANCEL_FAILED, [True, True]),
        ([S.ACCEPTED, S.CANCELLED, S.ACCEPTED], S.CANCELLED, [True, True, False]),
        ([S.CANCELLED, S.CANCEL_REQUESTED], S.CANCELLED, [True, False]),
        ([S.CANCEL_FAILED, S.CANCELLED], S.CANCEL_FAILED, [True, False]),
        ([S.SENT, S.CANCEL_REQUESTED, S.CANCELLED], S.CANCELLED, [True] * 3),
        ([S.UNKNOWN, S.ACCEPTED], S.ACCEPTED, [True, True]),
        ([S.SENT, S.PENDING], S.SENT, [True, False]),
        ([S.FAILED, S.SENT, S.ACCEPTED], S.ACCEPTED, [True] * 3),
        ([S.FAILED, S.CONFLICT], S.FAILED, [True, False]),
        ([S.CONFLICT, S.ACCEPTED], S.ACCEPTED, [True, True]),
        ([S.CONFLICT, S.PENDING], S.CONFLICT, [True, False]),
        ([S.ACCEPTED, S.ACCEPTED], S.ACCEPTED, [True, True]),
    ],
    ids=state_path,
)
def test_transitions_from_observations(
    journal: SqliteJournal, observed: list[RowState], final: RowState, applied: list[bool]
) -> None:
    """Stale observations of a terminal row are kept in history but move nothing."""
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    for n, state in enumerate(observed):
        update = RowUpdate(instruction_id=iid(EXERCISE), state=state, raw_status=state.value)
        journal.apply("run-1", [update], at=AT + timedelta(seconds=n), source="list")
    row = journal.row(iid(EXERCISE))
    assert row is not None
    assert (row.state, row.raw_status) == (final, final.value)
    seen = journal.history(iid(EXERCISE))[1:]
    assert [(h["state"], h["applied"]) for h in seen] == list(zip(observed, applied, strict=True))


def test_apply_sets_only_the_fields_given_and_a_stale_observation_sets_none(
    journal: SqliteJournal,
) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    key = iid(EXERCISE)
    journal.apply(
        "run-1",
        [
            RowUpdate(instruction_id=key, state=S.SENT, server_id="srv-1", raw_status="SENT"),
            RowUpdate(
                instruction_id=key,
                state=S.ACCEPTED,
                accepted_quantity=Decimal(4),
                reason="partial",
                reason_code="PARTIAL",
                raw_status="ACCEPTED",
            ),
        ],
        at=AT,
        source="list",
    )
    accepted = journal.row(key)
    journal.apply(
        "run-1",
        [RowUpdate(instruction_id=key, state=S.SENT, server_id="srv-2", raw_status="SENT")],
        at=AT + timedelta(minutes=1),
        source="list",
    )
    assert journal.row(key) == accepted
    assert accepted is not None
    assert (accepted.server_id, accepted.accepted_quantity, accepted.reason) == (
        "srv-1",
        Decimal(4),
        "partial",
    )
    assert (accepted.reason_code, accepted.raw_status) == ("PARTIAL", "ACCEPTED")
    assert journal.history(key)[-1]["server_id"] == "srv-2"


# ---------------------------------------------------------------------- atomicity


def test_a_failing_apply_changes_nothing(journal: SqliteJournal) -> None:
    """The first update is valid, the second names an unknown row: neither lands, and
    the attempt the call was to close stays in flight."""
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    attempt = journal.record_attempt(
        "run-1", account_id=ACCOUNT, instruction_ids=[iid(EXERCISE)], at=AT
    )
    before = journal.row(iid(EXERCISE))
    updates = [
        RowUpdate(instruction_id=iid(EXERCISE), state=S.ACCEPTED, server_id="srv-1"),
        RowUpdate(instruction_id="xr-unknown", state=S.ACCEPTED),
    ]
    with pytest.raises(JournalError, match="apply: not in the ledger: xr-unknown"):
        journal.apply(
            "run-1", updates, at=AT, source="submit", attempt_id=attempt, attempt_outcome="200"
        )
    assert journal.row(iid(EXERCISE)) == before
    assert [h["state"] for h in journal.history(iid(EXERCISE))] == [S.PENDING]
    assert [a["outcome"] for a in journal.attempts_of(iid(EXERCISE))] == [None]


def test_a_write_that_fails_half_way_inside_sqlite_is_rolled_back(
    journal: SqliteJournal, path: Path
) -> None:
    """A fault injected into the file (a trigger failing the second observation insert)
    strikes after the attempt was closed and both ledger rows were updated: all of it
    is undone."""
    journal.record_plan("run-1", make_plan(EXERCISE, DNE), at=AT)
    ids = [iid(EXERCISE), iid(DNE)]
    attempt = journal.record_attempt("run-1", account_id=ACCOUNT, instruction_ids=ids, at=AT)
    before = journal.rows(DAY)
    with raw(path) as db:
        db.execute(
            f"CREATE TRIGGER fault BEFORE INSERT ON observations WHEN NEW.instruction_id"
            f" = '{ids[1]}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )
    updates = [RowUpdate(instruction_id=i, state=S.ACCEPTED, server_id="srv") for i in ids]
    with pytest.raises(JournalError, match="apply: injected fault"):
        journal.apply(
            "run-1", updates, at=AT, source="submit", attempt_id=attempt, attempt_outcome="200"
        )
    assert journal.rows(DAY) == before
    assert [len(journal.history(i)) for i in ids] == [1, 1]
    assert [a["outcome"] for a in journal.attempts_of(iid(EXERCISE))] == [None]


def test_a_one_off_command_may_journal_under_a_run_it_never_began(
    journal: SqliteJournal,
) -> None:
    """``exerciser cancel`` labels its observation and event with a run id of its own."""
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    update = RowUpdate(instruction_id=iid(EXERCISE), state=S.CANCEL_REQUESTED)
    journal.apply("cancel-1234", [update], at=AT, source="cancel")
    journal.event("cancel-1234", "cancel_requested", at=AT, instruction_id=iid(EXERCISE))
    journal.event("cancel-5678", "cancel_looked", at=AT)
    assert journal.history(iid(EXERCISE))[-1]["run_id"] == "cancel-1234"
    assert [(e["kind"], e["business_date"]) for e in journal.events_of()] == [
        ("cancel_requested", DAY),
        ("cancel_looked", None),
    ]
    assert journal.latest_run(DAY) == run()


def test_bad_arguments_are_refused_before_anything_is_written(journal: SqliteJournal) -> None:
    naive = datetime(2026, 11, 20, 16, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive datetime"):
        journal.begin_run(run("run-2", started_at=naive))
    with pytest.raises(ValueError, match="naive datetime"):
        journal.record_plan("run-1", make_plan(EXERCISE), at=naive)
    with pytest.raises(ValueError, match="not a finite decimal"):
        journal.record_plan("run-1", make_plan(plan_row(quantity=Decimal("NaN"))), at=AT)
    with pytest.raises(TypeError, match="cannot journal a object"):
        journal.event("run-1", "odd", at=AT, data={"thing": object()})
    assert journal.latest_run(DAY) == run()
    assert journal.rows(DAY) == []
    assert journal.events_of() == []


# ---------------------------------------------------------------------- round trips


@settings(max_examples=60, deadline=None)
@given(quantity=st.decimals(places=8, allow_nan=False, allow_infinity=False))
def test_decimals_with_up_to_8_places_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory, quantity: Decimal
) -> None:
    path = tmp_path_factory.mktemp("decimals") / "journal.sqlite3"
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run())
        row = plan_row(quantity=quantity, instruction_id="xr-q")
        journal.record_plan("run-1", make_plan(row), at=AT)
        update = RowUpdate(instruction_id="xr-q", state=S.ACCEPTED, accepted_quantity=quantity)
        journal.apply("run-1", [update], at=AT, source="submit")
        stored = journal.row("xr-q")
        record = journal.plan_rows("run-1")[0]
        seen = journal.history("xr-q")[-1]
    assert stored is not None
    for value in (stored.quantity, stored.accepted_quantity, seen["accepted_quantity"]):
        assert isinstance(value, Decimal)
        assert str(value) == str(quantity)
    assert record["quantity"] == str(quantity)
    with raw(path) as db:
        found = db.execute("SELECT typeof(quantity), quantity FROM ledger").fetchone()
    assert found == ("text", str(quantity))


offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))
)


@settings(max_examples=60, deadline=None)
@given(
    at=st.datetimes(
        min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=offsets,
    )
)
def test_aware_datetimes_round_trip_as_the_same_instant_in_utc(
    tmp_path_factory: pytest.TempPathFactory, at: datetime
) -> None:
    path = tmp_path_factory.mktemp("datetimes") / "journal.sqlite3"
    with SqliteJournal.open(path) as journal:
        journal.event(None, "tick", at=at, data={"when": at})
        (event,) = journal.events_of()
    assert event["at"] == at
    assert event["at"].utcoffset() == timedelta(0)
    assert event["data"]["when"] == at.astimezone(UTC).isoformat(timespec="microseconds")


# ---------------------------------------------------------------------- audit


def test_history_returns_every_state_seen_in_order(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    key = iid(EXERCISE)
    seen = [("submit", S.SENT), ("list", S.SENT), ("list", S.ACCEPTED), ("list", S.SENT)]
    for n, (source, state) in enumerate(seen):
        update = RowUpdate(instruction_id=key, state=state, raw_status=state.value)
        journal.apply("run-1", [update], at=AT + timedelta(seconds=n), source=source)
    history = journal.history(key)
    assert [(h["source"], h["state"], h["raw_status"]) for h in history] == [
        (PLANNED, S.PENDING, None),
        *((source, state, state.value) for source, state in seen),
    ]
    assert [h["at"] for h in history] == [AT, *(AT + timedelta(seconds=n) for n in range(4))]
    assert [h["applied"] for h in history] == [True, True, True, True, False]


def test_events_are_json_and_filtered_by_business_date(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    journal.begin_run(run("run-next", day=DAY + timedelta(days=1)))
    data = {"price": Decimal("190.40"), "day": DAY, "states": (S.SENT,)}
    journal.event("run-1", "plan.recorded", at=AT, account_id=ACCOUNT, data=data)
    journal.event(None, "row.noticed", at=AT, instruction_id=iid(EXERCISE))
    journal.event(None, "daemon.started", at=AT)
    journal.event("run-next", "plan.recorded", at=AT)
    today = journal.events_of(DAY)
    assert [(e["kind"], e["run_id"], e["business_date"]) for e in today] == [
        ("plan.recorded", "run-1", DAY),
        ("row.noticed", None, DAY),
    ]
    assert today[0]["data"] == {"price": "190.40", "day": "2026-11-20", "states": ["SENT"]}
    assert today[0]["account_id"] == ACCOUNT
    assert [e["kind"] for e in journal.events_of()] == [
        "plan.recorded",
        "row.noticed",
        "daemon.started",
        "plan.recorded",
    ]


def test_supersede_flags_the_row_and_appends_an_event(journal: SqliteJournal) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    journal.supersede("run-1", iid(EXERCISE), at=AT, reason="quantity changed to 4")
    row = journal.row(iid(EXERCISE))
    assert row is not None
    assert (row.superseded, row.state) == (True, S.PENDING)
    (event,) = journal.events_of(DAY)
    assert (event["kind"], event["instruction_id"], event["account_id"]) == (
        SUPERSEDED,
        iid(EXERCISE),
        ACCOUNT,
    )
    assert event["data"] == {"reason": "quantity changed to 4"}
    with pytest.raises(JournalError, match="supersede: not in the ledger: xr-nope"):
        journal.supersede("run-1", "xr-nope", at=AT, reason="?")


@pytest.mark.parametrize("table", ["events", "observations"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET at = 'x'", "DELETE FROM {table}"])
def test_events_and_observations_are_append_only(
    journal: SqliteJournal, path: Path, table: str, statement: str
) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    journal.event("run-1", "plan.recorded", at=AT)
    with raw(path) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute(statement.format(table=table))
    assert len(journal.events_of()) == len(journal.history(iid(EXERCISE))) == 1


# ---------------------------------------------------------------------- two processes


def test_two_journals_on_one_file_see_each_others_commits(path: Path) -> None:
    with SqliteJournal.open(path) as daemon, SqliteJournal.open(path) as status:
        daemon.begin_run(run())
        daemon.record_plan("run-1", make_plan(EXERCISE), at=AT)
        assert status.latest_run(DAY) == run()
        assert status.rows(DAY) == daemon.rows(DAY)
        status.event("run-1", "status.looked", at=AT)
        assert [e["kind"] for e in daemon.events_of(DAY)] == ["status.looked"]


def test_a_reader_is_not_blocked_by_a_write_in_progress(journal: SqliteJournal, path: Path) -> None:
    journal.record_plan("run-1", make_plan(EXERCISE), at=AT)
    with raw(path) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE ledger SET state = 'SENT'")
        assert [r.state for r in journal.rows(DAY)] == [S.PENDING]
        writer.execute("COMMIT")
    assert [r.state for r in journal.rows(DAY)] == [S.SENT]


def test_a_write_that_waits_too_long_for_another_is_a_journal_error(path: Path) -> None:
    with SqliteJournal.open(path, busy_timeout=0.05) as journal, raw(path) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(JournalError, match=r"journal\.sqlite3: event: database is locked"):
            journal.event(None, "blocked", at=AT)
        other.execute("ROLLBACK")
        journal.event(None, "unblocked", at=AT)
        assert [e["kind"] for e in journal.events_of()] == ["unblocked"]
