"""The alert outbox in the SQLite journal: alerts stored once per key, one delivery per
channel, due / delivered / failed as single transactions, attachments byte for byte,
across reopening, and a version-1 journal upgraded in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from exerciser.adapters.journal import SCHEMA_VERSION, JournalError, SqliteJournal
from exerciser.adapters.journal._schema import MIGRATIONS
from exerciser.domain.alerts import Alert, Attachment, Severity
from exerciser.ports import Outbox, RunRecord

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
HTML = "<html><body><h1>Plan ✓</h1></body></html>".encode() + bytes(range(256))


def alert(key: str = "preview_ready:2026-11-20:abc", **changes: object) -> Alert:
    values: dict[str, object] = {
        "key": key,
        "kind": "preview_ready",
        "severity": Severity.WARNING,
        "title": "Exercise preview for 2026-11-20",
        "text": "#  account  contract\n-  -------  --------\n1  7        AAPL",
        "attachments": (Attachment(filename="plan.html", content_type="text/html", data=HTML),),
    }
    return Alert(**(values | changes))  # type: ignore[arg-type]


def raw(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite3"


@pytest.fixture
def journal(path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal.open(path) as journal:
        yield journal


def test_the_journal_is_an_outbox_at_schema_version_2(journal: SqliteJournal, path: Path) -> None:
    box: Outbox = journal
    assert box.due(now=T0) == []
    assert SCHEMA_VERSION == len(MIGRATIONS) == 2
    with raw(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"alerts", "deliveries"} <= tables


def test_an_alert_is_queued_once_per_key_and_channel(journal: SqliteJournal) -> None:
    assert journal.enqueue(alert(), ["slack:ops", "email"], at=T0) is True
    assert journal.enqueue(alert(), ["slack:ops", "email"], at=T0) is False
    assert journal.enqueue(alert(), ["email", "email"], at=T0 + timedelta(hours=1)) is False
    due = journal.due(now=T0)
    assert [(d.channel, d.attempts, d.next_attempt_at) for d in due] == [
        ("slack:ops", 0, T0),
        ("email", 0, T0),
    ]
    assert all(d.alert == alert() for d in due)


def test_a_known_key_gains_only_the_channels_it_lacks(journal: SqliteJournal) -> None:
    journal.enqueue(alert(), ["slack:ops"], at=T0)
    [first] = journal.due(now=T0)
    journal.delivered(first.id, at=T0)
    assert journal.enqueue(alert(), ["slack:ops", "email"], at=T0 + timedelta(minutes=1)) is True
    assert [d.channel for d in journal.due(now=T0 + timedelta(minutes=1))] == ["email"]


def test_a_key_keeps_its_first_content(journal: SqliteJournal) -> None:
    journal.enqueue(alert(), ["email"], at=T0)
    journal.enqueue(alert(title="Another title", text="other"), ["slack:ops"], at=T0)
    assert {d.alert.title for d in journal.due(now=T0)} == {"Exercise preview for 2026-11-20"}
    assert journal.alert(alert().key) == alert()
    assert journal.alert("unknown") is None


def test_an_alert_for_no_channel_is_kept_for_the_record(journal: SqliteJournal) -> None:
    assert journal.enqueue(alert(), [], at=T0) is True
    assert journal.enqueue(alert(), [], at=T0) is False
    assert journal.alert(alert().key) == alert()
    assert journal.due(now=T0) == []


def test_attachments_and_text_round_trip_byte_for_byte(journal: SqliteJournal) -> None:
    many = (
        Attachment(filename="a.html", content_type="text/html", data=HTML),
        Attachment(filename="b.csv", content_type="text/csv", data=b""),
    )
    sent = alert(text="line one\n  ✓ “quoted” \t\n", attachments=many)
    journal.enqueue(sent, ["email"], at=T0)
    [delivery] = journal.due(now=T0)
    assert delivery.alert == sent
    assert delivery.alert.attachments[0].data == HTML


def test_due_returns_only_what_is_due_oldest_first_up_to_the_limit(
    journal: SqliteJournal,
) -> None:
    for n in range(5):
        journal.enqueue(alert(f"k{n}"), ["email"], at=T0 + timedelta(minutes=4 - n))
    assert [d.alert.key for d in journal.due(now=T0 + timedelta(minutes=2))] == ["k4", "k3", "k2"]
    assert [d.alert.key for d in journal.due(now=T0 + timedelta(hours=1), limit=2)] == ["k4", "k3"]
    with pytest.raises(ValueError, match="limit"):
        journal.due(now=T0, limit=0)


def test_a_failure_counts_an_attempt_and_reschedules(journal: SqliteJournal) -> None:
    journal.enqueue(alert(), ["email"], at=T0)
    [delivery] = journal.due(now=T0)
    retry_at = T0 + timedelta(minutes=1)
    journal.failed(delivery.id, at=T0, error="SMTP timed out " + "x" * 2000, retry_at=retry_at)
    assert journal.due(now=T0) == []
    assert journal.next_attempt_at(["email"]) == retry_at
    [again] = journal.due(now=retry_at)
    assert (again.id, again.attempts, again.next_attempt_at) == (delivery.id, 1, retry_at)
    [record] = journal.deliveries_of(alert().key)
    assert record["state"] == "pending"
    assert record["last_attempt_at"] == T0
    assert record["last_error"].startswith("SMTP timed out")
    assert len(record["last_error"]) == 1000


def test_a_delivered_delivery_is_never_due_again(journal: SqliteJournal) -> None:
    journal.enqueue(alert(), ["email"], at=T0)
    [delivery] = journal.due(now=T0)
    journal.delivered(delivery.id, at=T0 + timedelta(seconds=2))
    assert journal.due(now=T0 + timedelta(days=365)) == []
    assert journal.next_attempt_at(["email"]) is None
    [record] = journal.deliveries_of()
    assert record | {"id": 0} == {
        "id": 0,
        "alert_key": alert().key,
        "channel": "email",
        "state": "delivered",
        "attempts": 1,
        "next_attempt_at": T0,
        "last_attempt_at": T0 + timedelta(seconds=2),
        "last_error": None,
        "delivered_at": T0 + timedelta(seconds=2),
    }


def test_recording_an_outcome_twice_or_for_nothing_is_a_journal_error(
    journal: SqliteJournal,
) -> None:
    journal.enqueue(alert(), ["email"], at=T0)
    [delivery] = journal.due(now=T0)
    journal.delivered(delivery.id, at=T0)
    with pytest.raises(JournalError, match=f"delivered: delivery {delivery.id} was already"):
        journal.delivered(delivery.id, at=T0)
    with pytest.raises(JournalError, match="failed: delivery 99 is not in the journal"):
        journal.failed(99, at=T0, error="x", retry_at=T0)


def test_next_attempt_at_looks_only_at_the_channels_asked_about(journal: SqliteJournal) -> None:
    journal.enqueue(alert("a"), ["slack:gone"], at=T0)
    journal.enqueue(alert("b"), ["email"], at=T0 + timedelta(minutes=5))
    assert journal.next_attempt_at(["email", "slack:ops"]) == T0 + timedelta(minutes=5)
    assert journal.next_attempt_at(["slack:gone", "email"]) == T0
    assert journal.next_attempt_at([]) is None


def test_bad_arguments_are_refused_before_anything_is_written(journal: SqliteJournal) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        journal.enqueue(alert(), ["email"], at=datetime(2026, 11, 20, 21, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="channel name is empty"):
        journal.enqueue(alert(), ["email", ""], at=T0)
    assert journal.alert(alert().key) is None


def test_the_outbox_survives_reopening(path: Path) -> None:
    with SqliteJournal.open(path) as journal:
        journal.enqueue(alert(), ["slack:ops", "email"], at=T0)
        [slack, _] = journal.due(now=T0)
        journal.delivered(slack.id, at=T0)
    with SqliteJournal.open(path) as journal:
        assert [d.channel for d in journal.due(now=T0)] == ["email"]
        assert journal.enqueue(alert(), ["slack:ops", "email"], at=T0) is False


def test_a_version_1_journal_is_upgraded_in_place_keeping_its_data(path: Path) -> None:
    """A file written before the outbox existed gains it on open; its runs stay."""
    run = RunRecord(
        run_id="run-1",
        business_date=date(2026, 11, 20),
        as_of=T0,
        started_at=T0,
        command="run",
        dry_run=False,
    )
    with SqliteJournal.open(path) as journal:
        journal.begin_run(run)
    with raw(path) as db:  # back to what version 1 wrote
        db.execute("DROP TABLE deliveries")
        db.execute("DROP TABLE alerts")
        db.execute("PRAGMA user_version = 1")
    with SqliteJournal.open(path) as journal:
        assert journal.latest_run(run.business_date) == run
        assert journal.enqueue(alert(), ["email"], at=T0) is True
        assert [d.alert for d in journal.due(now=T0)] == [alert()]
    with raw(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)


def test_a_delivery_cannot_name_an_alert_that_does_not_exist(path: Path) -> None:
    SqliteJournal.open(path).close()
    with raw(path) as db:
        db.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute(
                "INSERT INTO deliveries (alert_key, channel, next_attempt_at) VALUES (?, ?, ?)",
                ("nothing", "email", "2026-11-20T21:00:00.000000+00:00"),
            )
        db.execute("INSERT INTO alerts VALUES ('k', 'x', 10, 't', '', '[]', 'now')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint"):
            db.execute(
                "INSERT INTO deliveries (alert_key, channel, state, next_attempt_at)"
                " VALUES ('k', 'email', 'sent', 'now')"
            )
