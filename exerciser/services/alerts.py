"""Use case: make sure a human hears about an alert, whatever fails in between.

Raising an alert only queues it, durably, in the outbox (the journal): one delivery per
channel whose ``min_severity`` the alert reaches. Delivering is separate and repeatable:
``deliver_due`` tries every delivery that is due, records each success, and reschedules
each failure with exponential backoff. So an alert raised just before a crash is sent
after the restart, and one already sent is not sent again: the key identifies it, per
channel, for ever. Delivery is at least once: a crash between a channel taking an alert
and the journal recording it sends that one alert again.

A channel that fails is itself news: the other channels hear it (``channel_failing``,
once per channel and New York day), whatever their ``min_severity``, because the alerts
it carries are not reaching anyone. If the journal cannot take an alert, it is kept in
memory and delivered from there (``alert_not_journaled``): late is better than never.

Log events: ``alert_raised``, ``alert_delivered``, ``alert_delivery_failed`` (channel,
key, error; never a webhook URL or a password), ``alert_not_journaled``,
``alert_outbox_failed``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from exerciser.domain.alerts import Alert, Delivery, Severity, retry_delay
from exerciser.domain.calendar import NEW_YORK
from exerciser.errors import AlertError, JournalError
from exerciser.ports import Clock, Notifier, Outbox, Sleep

log = structlog.get_logger("exerciser.alerts")

MIN_PAUSE = 1.0  # seconds ``drain`` waits at least between two passes
NOT_CONFIGURED = "no such channel is configured"


class AlertDispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        notifiers: Sequence[Notifier],
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        base_delay: float = 60.0,
        max_delay: float = 1800.0,
        batch: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        names = [n.name for n in notifiers]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"alert channel names must be unique: {', '.join(dupes)}")
        if not 0 < base_delay <= max_delay:
            raise ValueError(f"need 0 < base_delay <= max_delay: {base_delay}, {max_delay}")
        self._outbox = outbox
        self._fallback = MemoryOutbox()
        self._notifiers = {n.name: n for n in notifiers}
        self._clock = clock
        self._sleep = sleep
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._batch = batch
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._warned: set[str] = set()
        self._passes = asyncio.Lock()  # two passes at once could send a delivery twice

    @property
    def channels(self) -> list[str]:
        return list(self._notifiers)

    def raise_alert(self, alert: Alert) -> bool:
        """Queue ``alert`` for every channel whose ``min_severity`` it reaches. Returns
        False when it was already queued (the same key raised again)."""
        channels = [n.name for n in self._notifiers.values() if n.min_severity <= alert.severity]
        return self._enqueue(alert, channels)

    async def deliver_due(self) -> int:
        """One pass: try every due delivery (channels in parallel, each channel's in
        order). Returns how many were delivered. Passes never overlap."""
        async with self._passes:
            return await self._pass()

    async def drain(self, *, until: datetime) -> int:
        """``deliver_due`` again and again, sleeping until the next retry, until nothing
        is pending or ``until`` is reached. Returns how many were delivered."""
        delivered = 0
        while True:
            delivered += await self.deliver_due()
            now, next_at = self._clock(), self._next_attempt_at()
            if next_at is None or now >= until:
                return delivered
            wait = (min(next_at, until) - now).total_seconds()
            await self._sleep(max(wait, MIN_PAUSE))

    # ------------------------------------------------------------------ internals

    async def _pass(self) -> int:
        now = self._clock()
        by_channel: dict[str, list[tuple[Outbox, Delivery]]] = {}
        for box in (self._outbox, self._fallback):
            try:
                due = box.due(now=now, limit=self._batch)
            except JournalError as exc:
                log.exception("alert_outbox_failed", step="due", error=str(exc))
                continue
            for delivery in due:
                by_channel.setdefault(delivery.channel, []).append((box, delivery))
        counts = await asyncio.gather(
            *(self._deliver(channel, work) for channel, work in by_channel.items())
        )
        return sum(counts)

    def _enqueue(self, alert: Alert, channels: Sequence[str]) -> bool:
        at = self._clock()
        try:
            queued = self._outbox.enqueue(alert, channels, at=at)
        except JournalError as exc:
            log.exception("alert_not_journaled", key=alert.key, kind=alert.kind, error=str(exc))
            queued = self._fallback.enqueue(alert, channels, at=at)
        if queued:
            log.info(
                "alert_raised",
                key=alert.key,
                kind=alert.kind,
                severity=alert.severity.label,
                title=alert.title,
                channels=list(channels),
            )
        else:
            log.debug("alert_already_raised", key=alert.key, kind=alert.kind)
        return queued

    def _next_attempt_at(self) -> datetime | None:
        names = self.channels
        found = [self._fallback.next_attempt_at(names)]
        try:
            found.append(self._outbox.next_attempt_at(names))
        except JournalError as exc:
            log.exception("alert_outbox_failed", step="next_attempt_at", error=str(exc))
        known = [at for at in found if at is not None]
        return min(known) if known else None

    async def _deliver(self, channel: str, work: list[tuple[Outbox, Delivery]]) -> int:
        notifier = self._notifiers.get(channel)
        delivered = 0
        for box, delivery in work:
            if notifier is None:  # removed from the settings: kept, retried rarely
                self._failed(box, delivery, NOT_CONFIGURED, delay=self._max_delay)
                continue
            try:
                await notifier.send(delivery.alert)
            except AlertError as exc:
                error = exc.message
            except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the others
                error = f"{type(exc).__name__} (a channel bug: channels raise AlertError)"
            else:
                delivered += self._delivered(box, delivery)
                continue
            self._failed(box, delivery, error)
        return delivered

    def _delivered(self, box: Outbox, delivery: Delivery) -> int:
        try:
            box.delivered(delivery.id, at=self._clock())
        except JournalError as exc:  # it will be sent again: better twice than never
            log.exception(
                "alert_outbox_failed", step="delivered", key=delivery.alert.key, error=str(exc)
            )
        log.info(
            "alert_delivered",
            channel=delivery.channel,
            key=delivery.alert.key,
            kind=delivery.alert.kind,
            attempts=delivery.attempts + 1,
        )
        return 1

    def _failed(
        self, box: Outbox, delivery: Delivery, error: str, *, delay: float | None = None
    ) -> None:
        attempts, now = delivery.attempts + 1, self._clock()
        if delay is None:
            delay = retry_delay(
                attempts,
                base=self._base_delay,
                cap=self._max_delay,
                fraction=self._rng.random(),
            )
        retry_at = now + timedelta(seconds=delay)
        try:
            box.failed(delivery.id, at=now, error=error, retry_at=retry_at)
        except JournalError as exc:
            log.exception(
                "alert_outbox_failed", step="failed", key=delivery.alert.key, error=str(exc)
            )
        log.warning(
            "alert_delivery_failed",
            channel=delivery.channel,
            key=delivery.alert.key,
            kind=delivery.alert.kind,
            attempts=attempts,
            retry_at=retry_at.isoformat(),
            error=error,
        )
        if error != NOT_CONFIGURED:
            self._channel_failing(delivery, error, now=now)

    def _channel_failing(self, delivery: Delivery, error: str, *, now: datetime) -> None:
        channel, day = delivery.channel, now.astimezone(NEW_YORK).date()
        key = f"channel_failing:{channel}:{day.isoformat()}"
        others = [name for name in self._notifiers if name != channel]
        if key in self._warned or not others:
            return
        self._warned.add(key)
        missed = delivery.alert
        text = (
            f"Alerts to {channel} are failing: {error}\n"
            f"They are retried with backoff. Until {channel} recovers, its alerts may reach"
            f" no one, such as: {missed.title} ({missed.kind}, {missed.severity.label}).\n"
            f"Check the channel's settings and the daemon's log (alert_delivery_failed)."
        )
        alert = Alert(
            key=key,
            kind="channel_failing",
            severity=Severity.WARNING,
            title=f"Alert channel {channel} is failing",
            text=text,
        )
        self._enqueue(alert, others)


@dataclass(slots=True, kw_only=True)
class _Pending:
    delivery: Delivery
    delivered: bool = False


class MemoryOutbox:
    """The ``Outbox`` in memory: the dispatcher's fallback when the journal cannot take
    an alert, and a fake for tests. Same rules as the journal's, minus durability."""

    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}
        self._deliveries: dict[int, _Pending] = {}

    def enqueue(self, alert: Alert, channels: Sequence[str], *, at: datetime) -> bool:
        new = alert.key not in self._alerts
        alert = self._alerts.setdefault(alert.key, alert)
        taken = {p.delivery.channel for p in self._of(alert.key)}
        for channel in dict.fromkeys(channels):
            if channel not in taken:
                new = True
                ident = len(self._deliveries) + 1
                self._deliveries[ident] = _Pending(
                    delivery=Delivery(
                        id=ident, channel=channel, alert=alert, attempts=0, next_attempt_at=at
                    )
                )
        return new

    def due(self, *, now: datetime, limit: int = 100) -> list[Delivery]:
        waiting = [p.delivery for p in self._deliveries.values() if not p.delivered]
        due = [d for d in waiting if d.next_attempt_at <= now]
        return sorted(due, key=lambda d: (d.next_attempt_at, d.id))[:limit]

    def next_attempt_at(self, channels: Sequence[str]) -> datetime | None:
        waiting = [
            p.delivery.next_attempt_at
            for p in self._deliveries.values()
            if not p.delivered and p.delivery.channel in channels
        ]
        return min(waiting, default=None)

    def delivered(self, delivery_id: int, *, at: datetime) -> None:
        pending = self._pending(delivery_id)
        pending.delivered = True
        pending.delivery = replace(pending.delivery, attempts=pending.delivery.attempts + 1)

    def failed(self, delivery_id: int, *, at: datetime, error: str, retry_at: datetime) -> None:
        pending = self._pending(delivery_id)
        attempts = pending.delivery.attempts + 1
        pending.delivery = replace(pending.delivery, attempts=attempts, next_attempt_at=retry_at)

    def deliveries_of(self, key: str) -> list[tuple[Delivery, bool]]:
        """Each delivery of ``key`` and whether it was delivered (for tests)."""
        return [(p.delivery, p.delivered) for p in self._of(key)]

    def _of(self, key: str) -> list[_Pending]:
        return [p for p in self._deliveries.values() if p.delivery.alert.key == key]

    def _pending(self, delivery_id: int) -> _Pending:
        pending = self._deliveries.get(delivery_id)
        if pending is None or pending.delivered:
            raise ValueError(f"delivery {delivery_id} is not pending")
        return pending
