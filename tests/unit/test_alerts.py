"""Alerts: the domain values, the backoff table, and the dispatcher over fakes — severity
routing, exactly-once per key and channel, retries with backoff on a fake clock, a
failing channel reported on the others once, and the journal failing over to memory."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from exerciser.domain.alerts import KINDS, Alert, Attachment, Delivery, Severity, retry_delay
from exerciser.errors import AlertError, ExerciserError, JournalError
from exerciser.ports import Notifier, Outbox
from exerciser.services.alerts import AlertDispatcher, MemoryOutbox

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York


class FakeClock:
    """Aware UTC time that only moves when told (or when the fake sleep sleeps)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class FakeChannel(Notifier):
    """Records what it was sent; fails the next ``fail`` sends."""

    def __init__(self, name: str, min_severity: Severity = Severity.INFO, *, fail: int = 0) -> None:
        self.name = name
        self.min_severity = min_severity
        self.fail = fail
        self.sent: list[Alert] = []
        self.tries = 0

    async def send(self, alert: Alert) -> None:
        self.tries += 1
        if self.fail:
            self.fail -= 1
            raise AlertError("the sink said 500", channel=self.name)
        self.sent.append(alert)

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.sent]


class BrokenJournalOutbox(MemoryOutbox):
    """An outbox whose writes fail like a journal on a full disk."""

    def enqueue(self, alert: Alert, channels: list[str], *, at: datetime) -> bool:  # type: ignore[override]
        raise JournalError("journal.sqlite3: enqueue: database or disk is full")


def alert(
    key: str = "rejections:2026-11-20:abc",
    severity: Severity = Severity.ERROR,
    kind: str = "rejections",
) -> Alert:
    return Alert(key=key, kind=kind, severity=severity, title=f"{kind} {key}", text="details")


def dispatcher(
    *channels: Notifier, outbox: Outbox | None = None, clock: FakeClock | None = None
) -> tuple[AlertDispatcher, MemoryOutbox | Outbox, FakeClock]:
    box = outbox if outbox is not None else MemoryOutbox()
    clock = clock or FakeClock()
    return (
        AlertDispatcher(
            outbox=box,
            notifiers=channels,
            clock=clock,
            sleep=clock.sleep,
            base_delay=60,
            max_delay=1800,
            rng=random.Random(0),
        ),
        box,
        clock,
    )


# ---------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("info", Severity.INFO),
        ("warning", Severity.WARNING),
        ("ERROR", Severity.ERROR),
        (" Critical ", Severity.CRITICAL),
    ],
    ids=["info", "warning", "upper", "padded"],
)
def test_severity_parses_its_names_in_any_case(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected
    assert Severity.parse(expected.label) is expected


@pytest.mark.parametrize("text", ["", "warn", "fatal", "20"], ids=["empty", "warn", "fatal", "n"])
def test_severity_refuses_unknown_names(text: str) -> None:
    with pytest.raises(ValueError, match=r"unknown severity .* expected one of info, warning"):
        Severity.parse(text)


def test_severities_are_ordered_for_routing() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR < Severity.CRITICAL


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"key": ""}, "alert key"),
        ({"key": " padded"}, "alert key"),
        ({"key": "k" * 201}, "alert key"),
        ({"kind": "Rejections"}, "snake_case"),
        ({"kind": "pin-risk"}, "snake_case"),
        ({"title": "two\nlines"}, "one non-empty line"),
        ({"title": "  "}, "one non-empty line"),
    ],
    ids=[
        "empty-key",
        "padded-key",
        "long-key",
        "camel-kind",
        "dashed-kind",
        "multi-title",
        "blank",
    ],
)
def test_an_alert_refuses_values_no_channel_could_use(
    changes: dict[str, str], message: str
) -> None:
    values = {"key": "k", "kind": "rejections", "title": "t", "text": ""} | changes
    with pytest.raises(ValueError, match=message):
        Alert(severity=Severity.ERROR, **values)


def test_every_kind_raised_today_is_valid_snake_case() -> None:
    for kind in sorted(KINDS):
        assert alert(kind=kind).kind == kind


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("../x.html", "text/html"), ("", "text/html"), ("x.html", "html")],
    ids=["path", "empty", "no-subtype"],
)
def test_an_attachment_is_a_bare_file_name_with_a_mime_type(
    filename: str, content_type: str
) -> None:
    with pytest.raises(ValueError, match="attachment"):
        Attachment(filename=filename, content_type=content_type, data=b"")


@pytest.mark.parametrize(
    ("attempts", "fraction", "expected"),
    [
        (1, 0.0, 60.0),
        (2, 0.0, 120.0),
        (3, 0.0, 240.0),
        (5, 0.0, 960.0),
        (6, 0.0, 1800.0),
        (1000, 0.0, 1800.0),
        (1, 1.0, 45.0),
        (6, 1.0, 1350.0),
        (2, 0.5, 105.0),
    ],
    ids=["first", "second", "third", "fifth", "capped", "huge", "jit-1", "jit-cap", "jit-half"],
)
def test_retry_delay_doubles_from_base_up_to_the_cap_and_jitters_down(
    attempts: int, fraction: float, expected: float
) -> None:
    assert retry_delay(attempts, base=60, cap=1800, fraction=fraction) == expected


@given(st.integers(1, 200), st.floats(0, 1), st.floats(0.1, 100), st.floats(1, 10_000))
def test_retry_delay_stays_within_three_quarters_and_all_of_the_cap(
    attempts: int, fraction: float, base: float, cap: float
) -> None:
    cap = max(base, cap)
    delay = retry_delay(attempts, base=base, cap=cap, fraction=fraction)
    assert 0.75 * base <= delay <= cap


@pytest.mark.parametrize(
    ("attempts", "fraction"), [(0, 0.0), (1, -0.1), (1, 1.5)], ids=["zero", "neg", "over"]
)
def test_retry_delay_refuses_nonsense(attempts: int, fraction: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        retry_delay(attempts, base=1, cap=2, fraction=fraction)


def test_alert_error_belongs_to_the_exerciser_tree_and_names_its_channel() -> None:
    error = AlertError("timed out", channel="email")
    assert isinstance(error, ExerciserError)
    assert str(error) == "email: timed out"
    assert (error.channel, error.message) == ("email", "timed out")


# ---------------------------------------------------------------------- routing


async def test_an_alert_goes_to_every_channel_whose_min_severity_it_reaches() -> None:
    chatty = FakeChannel("slack:all", Severity.INFO)
    ops = FakeChannel("slack:ops", Severity.WARNING)
    pager = FakeChannel("email", Severity.CRITICAL)
    alerts, _, _ = dispatcher(chatty, ops, pager)
    for severity in Severity:
        assert alerts.raise_alert(alert(f"k-{severity.label}", severity))
    assert await alerts.deliver_due() == 4 + 3 + 1
    assert chatty.keys == ["k-info", "k-warning", "k-error", "k-critical"]
    assert ops.keys == ["k-warning", "k-error", "k-critical"]
    assert pager.keys == ["k-critical"]


async def test_the_same_key_raised_twice_is_sent_once() -> None:
    slack = FakeChannel("slack:ops")
    alerts, _, _ = dispatcher(slack)
    with capture_logs() as logs:
        assert alerts.raise_alert(alert()) is True
        assert alerts.raise_alert(alert()) is False
    assert [e["event"] for e in logs] == ["alert_raised", "alert_already_raised"]
    assert await alerts.deliver_due() == 1
    assert alerts.raise_alert(alert()) is False  # even after it was delivered
    assert await alerts.deliver_due() == 0
    assert slack.keys == [alert().key]


async def test_an_alert_no_channel_wants_is_kept_but_sent_nowhere() -> None:
    pager = FakeChannel("email", Severity.CRITICAL)
    alerts, box, _ = dispatcher(pager)
    assert alerts.raise_alert(alert(severity=Severity.INFO)) is True
    assert await alerts.deliver_due() == 0
    assert pager.sent == []
    assert isinstance(box, MemoryOutbox)
    assert box.deliveries_of(alert().key) == []


def test_channel_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique: email"):
        dispatcher(FakeChannel("email"), FakeChannel("email"))


# ---------------------------------------------------------------------- retries


async def test_a_failed_delivery_is_retried_with_exponential_backoff_until_it_goes_through() -> (
    None
):
    slack = FakeChannel("slack:ops", fail=3)
    alerts, box, clock = dispatcher(slack)
    alerts.raise_alert(alert())
    with capture_logs() as logs:
        assert await alerts.drain(until=T0 + timedelta(hours=1)) == 1
    assert slack.keys == [alert().key]
    assert slack.tries == 4
    failures = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert [e["attempts"] for e in failures] == [1, 2, 3]
    assert all(e["channel"] == "slack:ops" and e["key"] == alert().key for e in failures)
    assert all(e["error"] == "the sink said 500" for e in failures)
    # 60, 120, 240 seconds nominal, each shortened by at most a quarter
    assert len(clock.slept) == 3
    for slept, nominal in zip(clock.slept, [60, 120, 240], strict=True):
        assert 0.75 * nominal <= slept <= nominal
    [(delivery, done)] = box.deliveries_of(alert().key)  # type: ignore[union-attr]
    assert done
    assert delivery.attempts == 4


async def test_drain_stops_at_until_and_leaves_the_rest_pending() -> None:
    slack = FakeChannel("slack:ops", fail=100)
    alerts, box, clock = dispatcher(slack)
    alerts.raise_alert(alert())
    until = T0 + timedelta(minutes=10)
    assert await alerts.drain(until=until) == 0
    assert clock.now >= until
    assert clock.now - until < timedelta(minutes=1)
    assert box.next_attempt_at(["slack:ops"]) is not None


async def test_drain_returns_at_once_when_nothing_is_pending() -> None:
    alerts, _, clock = dispatcher(FakeChannel("slack:ops"))
    assert await alerts.drain(until=T0 + timedelta(hours=1)) == 0
    assert clock.slept == []


async def test_a_channel_that_raises_something_else_is_contained_and_retried() -> None:
    class Buggy(FakeChannel):
        async def send(self, alert: Alert) -> None:
            raise KeyError("https://hooks.example/secret")

    buggy, fine = Buggy("slack:buggy"), FakeChannel("email")
    alerts, _, _ = dispatcher(buggy, fine)
    alerts.raise_alert(alert())
    with capture_logs() as logs:
        assert await alerts.deliver_due() == 1
    [failed] = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert failed["error"] == "KeyError (a channel bug: channels raise AlertError)"
    assert "secret" not in repr(logs)
    assert fine.keys == [alert().key]


async def test_a_delivery_for_a_channel_no_longer_configured_waits_for_it_quietly() -> None:
    box = MemoryOutbox()
    box.enqueue(alert(), ["slack:gone"], at=T0)
    slack = FakeChannel("slack:ops")
    alerts, _, clock = dispatcher(slack, outbox=box)
    assert await alerts.drain(until=T0 + timedelta(hours=1)) == 0
    assert clock.slept == []  # nothing pending for a configured channel
    [(delivery, done)] = box.deliveries_of(alert().key)
    assert not done
    assert delivery.next_attempt_at == T0 + timedelta(seconds=1800)
    assert slack.sent == []  # and no channel_failing about it


async def test_overlapping_passes_never_send_a_delivery_twice() -> None:
    release = asyncio.Event()

    class Slow(FakeChannel):
        async def send(self, alert: Alert) -> None:
            await release.wait()
            await super().send(alert)

    slow = Slow("slack:ops")
    alerts, _, _ = dispatcher(slow)
    alerts.raise_alert(alert())
    first = asyncio.ensure_future(alerts.deliver_due())
    second = asyncio.ensure_future(alerts.deliver_due())
    await asyncio.sleep(0)  # both passes start; the first is sending
    release.set()
    assert sorted(await asyncio.gather(first, second)) == [0, 1]
    assert slow.keys == [alert().key]


# ---------------------------------------------------------------------- failing channels


async def test_a_failing_channel_is_reported_once_a_day_on_the_other_channels_only() -> None:
    slack = FakeChannel("slack:ops", fail=100)
    email = FakeChannel("email", Severity.CRITICAL)  # hears it whatever its min_severity
    console = FakeChannel("console")
    alerts, _, clock = dispatcher(slack, email, console)
    alerts.raise_alert(alert("first", Severity.CRITICAL))
    alerts.raise_alert(alert("second", Severity.CRITICAL))
    await alerts.drain(until=T0 + timedelta(hours=3))
    key = "channel_failing:slack:ops:2026-11-20"
    assert email.keys == ["first", "second", key]
    assert console.keys == ["first", "second", key]
    assert slack.sent == []
    [failing] = [a for a in email.sent if a.kind == "channel_failing"]
    assert failing.severity is Severity.WARNING
    assert "slack:ops" in failing.title
    assert "the sink said 500" in failing.text
    # a new New York day, a new report
    clock.now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    await alerts.drain(until=clock.now + timedelta(hours=1))
    assert email.keys[-1] == "channel_failing:slack:ops:2026-11-21"
    assert len([k for k in email.keys if k.startswith("channel_failing")]) == 2


async def test_the_new_york_day_names_the_report_not_the_utc_day() -> None:
    slack, email = FakeChannel("slack:ops", fail=1), FakeChannel("email")
    clock = FakeClock(datetime(2026, 11, 21, 2, 0, tzinfo=UTC))  # 21:00 on the 20th in New York
    alerts, _, _ = dispatcher(slack, email, clock=clock)
    alerts.raise_alert(alert())
    await alerts.deliver_due()
    await alerts.deliver_due()
    assert "channel_failing:slack:ops:2026-11-20" in email.keys


async def test_a_lone_failing_channel_has_no_one_to_tell_and_just_retries() -> None:
    slack = FakeChannel("slack:ops", fail=2)
    alerts, _, _ = dispatcher(slack)
    alerts.raise_alert(alert())
    await alerts.drain(until=T0 + timedelta(hours=1))
    assert slack.keys == [alert().key]


# ---------------------------------------------------------------------- journal failing


async def test_when_the_journal_cannot_take_an_alert_it_is_delivered_from_memory() -> None:
    slack = FakeChannel("slack:ops", fail=1)
    alerts, _, _ = dispatcher(slack, outbox=BrokenJournalOutbox())
    with capture_logs() as logs:
        assert alerts.raise_alert(alert()) is True
        assert alerts.raise_alert(alert()) is False
    assert logs[0]["event"] == "alert_not_journaled"
    assert logs[0]["log_level"] == "error"
    assert await alerts.drain(until=T0 + timedelta(hours=1)) == 1
    assert slack.keys == [alert().key]


async def test_a_journal_failing_to_record_a_delivery_means_a_resend_not_a_crash() -> None:
    class Forgetful(MemoryOutbox):
        def delivered(self, delivery_id: int, *, at: datetime) -> None:
            raise JournalError("journal.sqlite3: delivered: disk I/O error")

    slack = FakeChannel("slack:ops")
    alerts, _, _ = dispatcher(slack, outbox=Forgetful())
    alerts.raise_alert(alert())
    with capture_logs() as logs:
        assert await alerts.deliver_due() == 1
        assert await alerts.deliver_due() == 1
    assert slack.keys == [alert().key, alert().key]  # at least once
    assert "alert_outbox_failed" in [e["event"] for e in logs]


async def test_an_unreadable_journal_does_not_stop_delivery_from_memory() -> None:
    class Unreadable(BrokenJournalOutbox):
        def due(self, *, now: datetime, limit: int = 100) -> list[Delivery]:
            raise JournalError("journal.sqlite3: due: database disk image is malformed")

        def next_attempt_at(self, channels: object) -> datetime | None:  # type: ignore[override]
            raise JournalError("journal.sqlite3: next_attempt_at: malformed")

    slack = FakeChannel("slack:ops")
    alerts, _, _ = dispatcher(slack, outbox=Unreadable())
    alerts.raise_alert(alert())
    assert await alerts.drain(until=T0 + timedelta(hours=1)) == 1
    assert slack.keys == [alert().key]


# ---------------------------------------------------------------------- the memory outbox


def test_memory_outbox_adds_only_channels_a_key_lacks() -> None:
    box = MemoryOutbox()
    assert box.enqueue(alert(), ["a"], at=T0) is True
    assert box.enqueue(alert(), ["a"], at=T0) is False
    assert box.enqueue(alert(), ["a", "b"], at=T0) is True
    assert [d.channel for d, _ in box.deliveries_of(alert().key)] == ["a", "b"]
    first = box.due(now=T0)[0]
    box.delivered(first.id, at=T0)
    with pytest.raises(ValueError, match="not pending"):
        box.delivered(first.id, at=T0)
    assert [d.channel for d in box.due(now=T0)] == ["b"]
    assert box.due(now=T0 - timedelta(seconds=1)) == []
