"""``exerciser daemon``: schedule and run every expiration day until stopped.

Built for systemd (``systemd/exerciser.service``): READY once scheduling, watchdog
pings from the heartbeat, STOPPING on SIGTERM; logs are JSON lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from exerciser.adapters.alerts import notifiers_from_settings
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import system_now
from exerciser.adapters.systemd import SystemdNotifier
from exerciser.bootstrap import (
    build_calendar,
    build_client,
    build_journal,
    build_reference_store,
    build_rules,
)
from exerciser.commands._common import NEW_YORK, Context, Subcommands
from exerciser.commands._hooks import ReportingHooks
from exerciser.daemon import Daemon
from exerciser.domain.alerts import Alert, Severity
from exerciser.domain.schedule import ScheduleConfig
from exerciser.services.alerts import AlertDispatcher
from exerciser.services.day import DayRunner, DayServices
from exerciser.services.run import RunOptions
from exerciser.settings import Settings, require_api_key

log = structlog.get_logger("exerciser.daemon")


def add_parser(commands: Subcommands, parents: list[Any]) -> None:
    commands.add_parser(
        "daemon",
        parents=parents,
        help="run every expiration day, unattended (for systemd)",
        description="Schedule each session's steps from the exchange calendar and run them.",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    del args
    require_api_key(ctx.settings)  # before anything starts: a missing key is exit 2
    with SystemdNotifier.from_environ(ctx.environ) as notifier:
        asyncio.run(serve(ctx.settings, notifier))
    return 0


def schedule_config(settings: Settings) -> ScheduleConfig:
    return ScheduleConfig(
        morning_check_at=settings.morning_check_at,
        preview_before_close=timedelta(minutes=settings.preview_minutes_before_close),
        capture_after_close=timedelta(seconds=settings.capture_seconds_after_close),
        submit_after_close=timedelta(minutes=settings.submit_minutes_after_close),
        cutoff_margin=timedelta(minutes=settings.cutoff_margin_minutes),
        reevaluate=settings.reevaluate,
        reevaluate_every=timedelta(minutes=settings.reevaluate_every_minutes),
    )


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(
        dry_run=settings.dry_run,
        batch_size=settings.batch_size,
        concurrency=settings.concurrency,
        cutoff_margin=timedelta(minutes=settings.cutoff_margin_minutes),
        poll_first_delay=settings.poll_interval,
        poll_max_delay=settings.poll_max_interval,
    )


async def serve(settings: Settings, notifier: SystemdNotifier) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    clock = system_now
    today = clock().astimezone(NEW_YORK).date()
    with build_journal(settings) as journal:
        alerts = AlertDispatcher(
            outbox=journal, notifiers=notifiers_from_settings(settings), clock=clock
        )
        hooks = ReportingHooks(
            reports_dir=Path(settings.state_dir) / "reports", alerts=alerts, clock=clock
        )
        async with build_client(settings) as client:
            runner = DayRunner(
                DayServices(
                    source=ClearStreetBookSource(client),
                    broker=ClearStreetInstructions(client),
                    journal=journal,
                    references=build_reference_store(settings),
                    calendar=build_calendar(today),
                    rules=lambda: build_rules(settings),
                    clock=clock,
                    options=run_options(settings),
                    account_ids=settings.accounts,
                ),
                hooks,
            )
            interval = notifier.watchdog_interval()
            daemon = Daemon(
                runner=runner,
                calendar=build_calendar(today),
                config=schedule_config(settings),
                clock=clock,
                notifier=notifier,
                heartbeat=alerts.deliver_due,
                on_failure=hooks.step_failed,
                heartbeat_seconds=min(15.0, interval) if interval else 15.0,
            )
            mode = "dry run: nothing will be sent" if settings.dry_run else "live"
            alerts.raise_alert(_lifecycle_alert("daemon_started", clock(), mode))
            try:
                await daemon.run(stop)
            finally:
                alerts.raise_alert(_lifecycle_alert("daemon_stopped", clock(), mode))
                await alerts.drain(until=clock() + timedelta(seconds=10))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _lifecycle_alert(kind: str, at: Any, mode: str) -> Alert:
    verb = "started" if kind == "daemon_started" else "stopped"
    return Alert(
        key=f"{kind}:{at.isoformat()}",
        kind=kind,
        severity=Severity.INFO,
        title=f"exerciser daemon {verb} ({mode})",
        text=f"The exerciser daemon {verb} at {at.isoformat(timespec='seconds')} ({mode}).",
    )
