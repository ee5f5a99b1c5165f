"""The one place that builds adapters from settings."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from exerciser import __version__
from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.adapters.rules_yaml import load_rules
from exerciser.domain.policy import RuleSet
from exerciser.services.submit import Checkpoint, never
from exerciser.settings import Settings, require_api_key


def build_client(settings: Settings, *, api_key: SecretStr | None = None) -> ClearStreetClient:
    """A Clear Street client configured from ``settings``."""
    return ClearStreetClient(
        base_url=settings.api_base_url,
        api_key=api_key or require_api_key(settings),
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        concurrency=settings.concurrency,
        page_size=settings.page_size,
        id_field=settings.instruction_id_field,
        retry=RetryPolicy(attempts=settings.retry_attempts),
        user_agent=f"exerciser/{__version__}",
    )


def build_calendar(today: date) -> XnysCalendar:
    """The XNYS calendar from a year back to two years ahead of ``today``."""
    return XnysCalendar.around(today)


def build_rules(settings: Settings) -> RuleSet:
    """The configured rules file, or the built-in defaults when none is set."""
    return load_rules(settings.rules_file) if settings.rules_file else RuleSet()


def build_reference_store(settings: Settings) -> FileReferenceStore:
    return FileReferenceStore(Path(settings.state_dir) / "references")


def build_journal(settings: Settings) -> SqliteJournal:
    return SqliteJournal.open(Path(settings.state_dir) / "journal.sqlite3")


CRASH_VARIABLE = "EXERCISER_TEST_CRASH_AT"


def build_checkpoint(environ: Mapping[str, str]) -> Checkpoint:
    """For the crash-recovery tests only: ``EXERCISER_TEST_CRASH_AT=NAME[:N]`` kills the
    process (SIGKILL, no clean-up) the Nth time the submit path passes checkpoint NAME.
    Unset — always, outside those tests — checkpoints do nothing."""
    spec = environ.get(CRASH_VARIABLE, "")
    if not spec:
        return never
    name, _, nth = spec.partition(":")
    remaining = [int(nth or 1)]

    def checkpoint(point: str) -> None:
        if point != name:
            return
        remaining[0] -= 1
        if remaining[0] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
