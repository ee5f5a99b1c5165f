"""The alert outbox in the journal: the ``Outbox`` port over the ``alerts`` and
``deliveries`` tables (migration 2).

An alert is stored once under its key; each channel gets one delivery row, ``pending``
until the channel took it. Raising an alert and recording an attempt are each one
transaction, so an alert queued before a crash is still due after it, and one
delivered is never due again.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exerciser.adapters.journal._codec import json_text, read_datetime, read_json, utc_text
from exerciser.adapters.journal._reads import JournalReads
from exerciser.domain.alerts import Alert, Attachment, Delivery, Severity

PENDING = "pending"
DELIVERED = "delivered"
MAX_ERROR = 1000  # characters of a failure kept in last_error

_DELIVERY_COLUMNS = (
    "d.id, d.channel, d.attempts, d.next_attempt_at, "
    "a.key, a.kind, a.severity, a.title, a.text, a.attachments"
)
_AUDIT_COLUMNS = (
    "id, alert_key, channel, state, attempts, next_attempt_at, last_attempt_at, last_error, "
    "delivered_at"
)


class JournalOutbox(JournalReads):
    """The ``Outbox`` methods of ``SqliteJournal``, and their audit reads."""

    def enqueue(self, alert: Alert, channels: Sequence[str], *, at: datetime) -> bool:
        """Store ``alert`` (once per key) and a delivery due at ``at`` for each channel
        it does not have yet. Returns True when anything new was queued.

        A key already stored keeps its first content: the key is the alert's identity.
        """
        what, now = "enqueue", utc_text(at)
        wanted = list(dict.fromkeys(channels))
        if any(not channel for channel in wanted):
            raise ValueError("a channel name is empty")
        values = (
            alert.key,
            alert.kind,
            int(alert.severity),
            alert.title,
            alert.text,
            attachments_text(alert.attachments),
            now,
        )
        with self._writing(what) as db:
            added = db.execute(
                "INSERT INTO alerts (key, kind, severity, title, text, attachments, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                values,
            ).rowcount
            for channel in wanted:
                added += db.execute(
                    "INSERT INTO deliveries (alert_key, channel, state, next_attempt_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (alert_key, channel) DO NOTHING",
                    (alert.key, channel, PENDING, now),
                ).rowcount
        return added > 0

    def due(self, *, now: datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries due at ``now``, the longest waiting first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1: {limit}")
        at = utc_text(now)
        with self._reading("due") as db:
            found = db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d"  # noqa: S608
                " JOIN alerts a ON a.key = d.alert_key"
                " WHERE d.state = ? AND d.next_attempt_at <= ?"
                " ORDER BY d.next_attempt_at, d.id LIMIT ?",
                (PENDING, at, limit),
            )
            return [_delivery(values) for values in found]

    def next_attempt_at(self, channels: Sequence[str]) -> datetime | None:
        """When the earliest pending delivery to one of ``channels`` is due."""
        names = sorted(set(channels))
        if not names:
            return None
        marks = ", ".join("?" * len(names))
        with self._reading("next_attempt_at") as db:
            (first,) = db.execute(
                "SELECT min(next_attempt_at) FROM deliveries"  # noqa: S608 - placeholders only
                f" WHERE state = ? AND channel IN ({marks})",
                (PENDING, *names),
            ).fetchone()
            return read_datetime(first)

    def delivered(self, delivery_id: int, *, at: datetime) -> None:
        """The channel took it: it is never due again."""
        now = utc_text(at)
        with self._writing("delivered") as db:
            done = db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_attempt_at = ?,"
                " delivered_at = ? WHERE id = ? AND state = ?",
                (DELIVERED, now, now, delivery_id, PENDING),
            )
            if done.rowcount == 0:
                raise self._not_pending(db, "delivered", delivery_id)

    def failed(self, delivery_id: int, *, at: datetime, error: str, retry_at: datetime) -> None:
        """One more failed attempt: keep its error and try again at ``retry_at``."""
        now, later = utc_text(at), utc_text(retry_at)
        with self._writing("failed") as db:
            done = db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = ?,"
                " last_error = ?, next_attempt_at = ? WHERE id = ? AND state = ?",
                (now, error[:MAX_ERROR], later, delivery_id, PENDING),
            )
            if done.rowcount == 0:
                raise self._not_pending(db, "failed", delivery_id)

    def _not_pending(self, db: sqlite3.Connection, what: str, delivery_id: int) -> Exception:
        known = db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        problem = "was already delivered" if known else "is not in the journal"
        return self._fail(what, f"delivery {delivery_id} {problem}")

    # ------------------------------------------------------------------ audit

    def alert(self, key: str) -> Alert | None:
        """The alert stored under ``key``."""
        with self._reading("alert") as db:
            found = db.execute(
                "SELECT key, kind, severity, title, text, attachments FROM alerts WHERE key = ?",
                (key,),
            ).fetchone()
            return None if found is None else _alert(found)

    def deliveries_of(self, key: str | None = None) -> list[dict[str, Any]]:
        """The deliveries of one alert (of every alert when None), oldest first."""
        where, args = "", tuple[str, ...]()
        if key is not None:
            where, args = " WHERE alert_key = ?", (key,)
        with self._reading("deliveries_of") as db:
            found = db.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM deliveries{where} ORDER BY id",  # noqa: S608
                args,
            )
            return [_delivery_dict(values) for values in found]


def attachments_text(attachments: Sequence[Attachment]) -> str:
    """A JSON list of ``{filename, content_type, data}``, the bytes in base64."""
    return json_text(
        [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "data": base64.b64encode(a.data).decode("ascii"),
            }
            for a in attachments
        ]
    )


def read_attachments(text: str) -> tuple[Attachment, ...]:
    try:
        return tuple(
            Attachment(
                filename=item["filename"],
                content_type=item["content_type"],
                data=base64.b64decode(item["data"], validate=True),
            )
            for item in read_json(text)
        )
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"attachments: {exc!r}") from exc


def _alert(values: Sequence[Any]) -> Alert:
    key, kind, severity, title, text, attachments = values
    return Alert(
        key=key,
        kind=kind,
        severity=Severity(severity),
        title=title,
        text=text,
        attachments=read_attachments(attachments),
    )


def _delivery(values: Sequence[Any]) -> Delivery:
    ident, channel, attempts, next_attempt_at = values[:4]
    due_at = read_datetime(next_attempt_at)
    assert due_at is not None
    return Delivery(
        id=ident,
        channel=channel,
        alert=_alert(values[4:]),
        attempts=attempts,
        next_attempt_at=due_at,
    )


def _delivery_dict(values: Sequence[Any]) -> dict[str, Any]:
    ident, key, channel, state, attempts, next_attempt_at = values[:6]
    last_attempt_at, last_error, delivered_at = values[6:]
    return {
        "id": ident,
        "alert_key": key,
        "channel": channel,
        "state": state,
        "attempts": attempts,
        "next_attempt_at": read_datetime(next_attempt_at),
        "last_attempt_at": read_datetime(last_attempt_at),
        "last_error": last_error,
        "delivered_at": read_datetime(delivered_at),
    }
