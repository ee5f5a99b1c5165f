"""Fixtures of the fault-injection runs: the calendar, built once per session over the
few months the day needs (a narrow range builds in a tenth of the time of ``around``),
and a directory for each day's journal."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from exerciser.adapters.calendar import XnysCalendar

SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - only the parent of a private mkdtemp dir


@pytest.fixture(scope="session")
def fault_calendar() -> XnysCalendar:
    return XnysCalendar(start=date(2026, 9, 1), end=date(2027, 2, 26))


@pytest.fixture
def journal_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a day's journal lives: in memory-backed storage when the machine has it.
    The kills here are of a process, not of the machine, so the journal's fsyncs (one
    per transaction, most of a day's I/O time on a slow disk) prove nothing; the SQLite
    file and its WAL are as real as on disk."""
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK):
        with tempfile.TemporaryDirectory(dir=SHARED_MEMORY, prefix="exerciser-faults-") as d:
            yield Path(d)
    else:
        yield tmp_path
