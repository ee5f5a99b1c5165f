"""The process killed for real: ``python -m exerciser run`` in a subprocess against a
simulator in this process, SIGKILLed at each checkpoint of the submit path (or stopped
with SIGTERM), then run again: every planned instruction reaches the broker exactly once,
none is lost, and the journal agrees with the broker.

The CLI's ``--as-of`` clock starts at the rehearsal instant and runs at the wall clock's
pace; the simulator's clock does the same from the same instant (a few seconds apart at
most, which nothing here depends on: no ``cutoff_at``, the after-hours switch long past).
Subprocess waits are bounded; nothing sleeps on a fixed delay.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from exerciser.adapters.journal import SqliteJournal
from exerciser.domain.ledger import RowState
from exerciser.sim import Simulator, parse_scenario, running_simulator

from .helpers import (
    ACCEPTED,
    AFTER_HOURS,
    BUSINESS_DATE,
    CAPTURED_CLOSES,
    EXPECTED,
    RULES,
    SETTLE_ON_FIRST_POLL,
    assert_exactly_once,
    book_yaml,
    held,
    terms,
)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90  # seconds any one subprocess may take before the test gives up on it
SETTLES_IN_TEN_MINUTES = "{settle_after_polls: null, settle_after_seconds: 600}"


class RunningClock:
    """The simulator's clock: starts at the rehearsal instant and runs at ``rate`` times
    the wall clock's pace (1 = as ``--as-of`` does in the CLI)."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base, self._origin, self._rate = start, time.monotonic(), 1.0

    def __call__(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._origin) * self._rate
            return self._base + timedelta(seconds=elapsed)

    def speed_up(self, rate: float) -> None:
        now = self()
        with self._lock:
            self._base, self._origin, self._rate = now, time.monotonic(), rate


@dataclass
class Day:
    """A simulator and a state directory (rules, captured closes, journal) for the CLI."""

    sim: Simulator
    clock: RunningClock
    state: Path
    rules: Path

    def env(self, **extra: str) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("EXERCISER_")}
        return {
            **inherited,
            "EXERCISER_API_KEY": self.sim.token,
            "EXERCISER_API_BASE_URL": self.sim.base_url,
            "EXERCISER_STATE_DIR": str(self.state),
            "EXERCISER_RULES_FILE": str(self.rules),
            "EXERCISER_POLL_INTERVAL": "0.05",
            "EXERCISER_RETRY_ATTEMPTS": "2",
            "EXERCISER_LOG_LEVEL": "warning",
            **extra,
        }

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "exerciser",
            "run",
            "--as-of",
            AFTER_HOURS.isoformat(),
            "--date",
            BUSINESS_DATE.isoformat(),
        ]

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed argv
            self.argv(),
            env=self.env(**extra),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def journal(self) -> SqliteJournal:
        return SqliteJournal.open(self.state / "journal.sqlite3")


@contextmanager
def open_day(root: Path, lifecycle: str) -> Iterator[Day]:
    """A running simulator of the day and a state directory holding the rules file and
    the closes captured at 16:00 (so the after-hours plan decides MSFT on `last`)."""
    state = root / "state"
    references = state / "references"
    references.mkdir(parents=True)
    captured = {symbol: str(price) for symbol, price in CAPTURED_CLOSES.items()}
    (references / f"{BUSINESS_DATE}.json").write_text(json.dumps(captured), encoding="utf-8")
    rules = root / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    clock = RunningClock(AFTER_HOURS)
    scenario = parse_scenario(book_yaml(lifecycle), source="integration-book.yaml")
    with running_simulator(scenario, clock=clock) as sim:
        yield Day(sim=sim, clock=clock, state=state, rules=rules)


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    with open_day(tmp_path, SETTLE_ON_FIRST_POLL) as opened:
        yield opened


def tail(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def assert_every_instruction_once(day: Day, journal: SqliteJournal) -> None:
    """The broker holds each planned instruction exactly once — by id and by (account,
    contract) — with the planned terms; the journal agrees."""
    stored = held(day.sim)
    by_key = Counter(i["instruction_id"] for i in stored)
    by_contract = Counter((i["account_id"], i["symbol"]) for i in stored)
    assert set(by_key.values()) == {1}, by_key
    assert set(by_contract.values()) == {1}, by_contract
    assert {
        (i["account_id"], i["symbol"]): (i["instruction_type"], Decimal(i["quantity"]))
        for i in stored
    } == EXPECTED
    rows = journal.rows(BUSINESS_DATE)
    assert terms(rows) == EXPECTED
    assert {r.instruction_id for r in rows} == set(by_key)
    assert [r.state for r in rows] == [ACCEPTED] * len(EXPECTED)
    assert_exactly_once(day.sim, journal, rows)


# ----------------------------------------------------------------------- SIGKILL


@pytest.mark.parametrize(
    ("crash_at", "batch_size", "arrived_between", "reply_journaled"),
    [
        # Accounts are submitted in parallel, so some cases leave a range, not a number.
        pytest.param("attempt_journaled", "50", (0, 0), False, id="before-the-post"),
        pytest.param("reply_received", "50", (2, 10), False, id="after-the-post-before-journaling"),
        pytest.param("reply_journaled", "50", (2, 10), True, id="after-journaling-the-reply"),
        pytest.param("attempt_journaled:2", "2", (0, 2), None, id="between-batches"),
    ],
)
def test_a_run_killed_at_any_point_of_the_submit_path_is_completed_by_the_next_run(
    day: Day,
    crash_at: str,
    batch_size: str,
    arrived_between: tuple[int, int],
    reply_journaled: bool | None,
) -> None:
    killed = day.run(EXERCISER_TEST_CRASH_AT=crash_at, EXERCISER_BATCH_SIZE=batch_size)

    assert killed.returncode == -signal.SIGKILL, tail(killed)
    arrived = {i["instruction_id"] for i in held(day.sim)}
    with day.journal() as journal:
        [crashed] = journal.runs_of(BUSINESS_DATE)
        assert crashed["ended_at"] is None  # killed: no clean-up ran
        before = {r.instruction_id: r for r in journal.rows(BUSINESS_DATE)}
    assert terms(before.values()) == EXPECTED  # the whole plan was journaled first
    assert arrived <= set(before)
    assert arrived_between[0] <= len(arrived) <= arrived_between[1], arrived
    assert any(r.attempts for r in before.values())
    if reply_journaled is not None:
        sent = {i for i, r in before.items() if r.state is RowState.SENT}
        assert bool(sent) is reply_journaled
        assert sent <= arrived

    again = day.run(EXERCISER_BATCH_SIZE=batch_size)

    assert again.returncode == 0, tail(again)
    assert "all rows ended as intended" in again.stdout
    with day.journal() as journal:
        assert_every_instruction_once(day, journal)
        # both runs start their rehearsal clock at --as-of: tell them apart by id
        [restart] = {r["run_id"] for r in journal.runs_of(BUSINESS_DATE)} - {crashed["run_id"]}
        for iid, row in before.items():
            by_restart = [a for a in journal.attempts_of(iid) if a["run_id"] == restart]
            if iid in arrived:  # at the broker already: adopted, never sent again
                assert by_restart == [], (row.symbol, by_restart)
            else:  # never arrived: sent once by the restart
                assert len(by_restart) == 1, (row.symbol, by_restart)


# ----------------------------------------------------------------------- SIGTERM


@dataclass(frozen=True)
class Terminated:
    """What a run stopped by SIGTERM mid-submit left, and how its restart went."""

    stopped: subprocess.CompletedProcess[str]
    seconds_to_exit: float
    held_when_stopped: int  # instructions at the broker right after the stop
    restarted: subprocess.CompletedProcess[str]
    every_instruction_once: str | None  # None, or why the check failed


@pytest.fixture(scope="module")
def terminated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terminated]:
    """One SIGTERM scenario for the tests below: a slow broker (every request waits
    200 ms), instructions that do not settle, SIGTERM as soon as the first POST arrives;
    then the broker is made quick and settling, and the run started again."""
    with open_day(tmp_path_factory.mktemp("sigterm"), SETTLES_IN_TEN_MINUTES) as day:
        day.sim.faults.latency_ms = 200
        env = day.env(EXERCISER_BATCH_SIZE="2")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed argv
            day.argv(), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            give_up = time.monotonic() + TIMEOUT
            while day.sim.book.submit_count == 0 and process.poll() is None:
                assert time.monotonic() < give_up, "no POST reached the simulator"
                time.sleep(0.02)  # polling a subprocess we wait for (bounded)
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            out, err = process.communicate(timeout=TIMEOUT)
            seconds = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        stopped = subprocess.CompletedProcess(day.argv(), process.returncode, out, err)
        held_when_stopped = len(held(day.sim))

        day.sim.faults.latency_ms = 0
        day.clock.speed_up(1000)  # ten simulated minutes pass in 0.6 s: everything settles
        restarted = day.run(EXERCISER_BATCH_SIZE="2")
        problem = None
        try:
            with day.journal() as journal:
                assert_every_instruction_once(day, journal)
        except AssertionError as exc:
            problem = str(exc)
        yield Terminated(stopped, seconds, held_when_stopped, restarted, problem)


def test_sigterm_stops_a_run_promptly_and_the_restart_sends_every_instruction_once(
    terminated: Terminated,
) -> None:
    stopped, restarted = terminated.stopped, terminated.restarted
    assert stopped.returncode not in (0, -signal.SIGTERM), tail(stopped)  # it handled it
    assert stopped.returncode > 0, tail(stopped)
    assert terminated.seconds_to_exit < 5
    # stopped mid-submit: the first batch arrived, at most one batch per account was in
    # flight, so the restart had instructions left to send
    assert 2 <= terminated.held_when_stopped < len(EXPECTED)
    assert restarted.returncode == 0, tail(restarted)
    assert "all rows ended as intended" in restarted.stdout
    assert terminated.every_instruction_once is None, terminated.every_instruction_once


def test_sigterm_exits_143_without_a_traceback(terminated: Terminated) -> None:
    """128 + SIGTERM, as a shell reports it; the unit counts 143 as a clean stop."""
    assert terminated.stopped.returncode == 143
    assert "stopped by SIGTERM" in terminated.stopped.stdout
    assert "Traceback" not in terminated.stopped.stderr
