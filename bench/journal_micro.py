"""CPU per journal call type in one bench-sized cycle, without a network:
``python3 -m uv run --locked python -m bench.journal_micro [--rounds N] [--profile FILE]``.

The plan is the bench's: the book generator's 2,000 accounts x 50 expiring options
(``bench/book.py``), decided by the real core with ``rules/conservative.yaml``
(about 104,000 plan rows, 47,000 instructions). Each round replays, on a fresh
``SqliteJournal`` in a temporary directory, the journal calls ``run_day`` makes for
that plan when the broker answers everything at once:

* ``begin_run``, ``rows(day)`` (the empty ledger), ``record_plan``;
* per account, in batches of 50 as ``Submitter`` sends them: ``record_attempt``, then
  ``apply`` of the reply (every row ``SENT`` with a server id) closing the attempt;
* ``open_rows(day)``, then the reconciler's one poll: ``apply`` of the listings in
  chunks of 2,000 (``ACCEPTED``; one contract in 200 ``REJECTED``, one in 200 partly
  accepted), ``open_rows(day)`` again (now empty);
* ``rows(day)`` (the final ledger) and ``end_run``.

Reported: CPU seconds (``time.process_time``) per call type, summed over the round;
the least over the rounds and the range. The machine is shared, so the least is the
figure other work disturbed least. The plan stays alive through the rounds, as in the
daemon, so the cyclic GC's collections walk it: their CPU seconds inside each call
type are reported too (``gc.callbacks``). ``--profile FILE`` writes a cProfile of one more
round (``python -m pstats FILE``); ``--split`` one more round with the CPU of each call
type split into sqlite3's (statements, fetching, ``COMMIT``), the GC's and the rest
(Python: encoding, decoding, checks). To compare two versions of ``exerciser/``, put the
other one first on ``PYTHONPATH`` and run both alternately; ``--plan-cache FILE`` keeps
the decided plan in a pickle so that each run need not decide it again.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pickle
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from bench.book import BookSpec, generate
from bench.core import build_inputs
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.rules_yaml import load_rules
from exerciser.domain.decide import decide
from exerciser.domain.ledger import LedgerRow, RowState, RowUpdate
from exerciser.domain.plan import Plan
from exerciser.ports import RunRecord

ROOT = Path(__file__).resolve().parent.parent
BATCH = 50  # RunOptions.batch_size in the bench
APPLY_CHUNK = 2000  # the reconciler's updates per apply
T = TypeVar("T")


def build_plan(accounts: int, expiring: int) -> Plan:
    spec = BookSpec(accounts=accounts, expiring=expiring)
    inputs = build_inputs(generate(spec), load_rules(ROOT / "rules" / "conservative.yaml"))
    return decide(inputs)


class _Clock:
    """Strictly increasing aware datetimes, a millisecond apart."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


class _Timer:
    """CPU seconds and calls per call type, and the cyclic GC's share of them."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.gc: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._gc_started = 0.0
        self._gc_cpu = 0.0

    def __call__(self, name: str, call: Callable[[], T]) -> T:
        gc_before = self._gc_cpu
        start = time.process_time()
        result = call()
        self.cpu[name] += time.process_time() - start
        self.gc[name] += self._gc_cpu - gc_before
        self.calls[name] += 1
        return result

    def collecting(self, phase: str, _info: dict[str, Any]) -> None:
        """A ``gc.callbacks`` entry: adds up the collector's CPU seconds."""
        if phase == "start":
            self._gc_started = time.process_time()
        else:
            self._gc_cpu += time.process_time() - self._gc_started


def _sent(row: LedgerRow, n: int) -> RowUpdate:
    return RowUpdate(
        instruction_id=row.instruction_id,
        state=RowState.SENT,
        server_id=f"0195f6d0-a1b2-7c3d-8e4f-{n:012d}",
        raw_status="SENT",
    )


def _listed(row: LedgerRow, n: int) -> RowUpdate:
    server_id = f"0195f6d0-a1b2-7c3d-8e4f-{n:012d}"
    if n % 200 == 7:
        return RowUpdate(
            instruction_id=row.instruction_id,
            state=RowState.REJECTED,
            server_id=server_id,
            reason="clearing rejected the instruction",
            reason_code="CLEARING_REJECTED",
            raw_status="REJECTED",
        )
    accepted = row.quantity if n % 200 != 11 else (row.quantity / 2).to_integral_value()
    return RowUpdate(
        instruction_id=row.instruction_id,
        state=RowState.ACCEPTED,
        server_id=server_id,
        accepted_quantity=Decimal(accepted),
        raw_status="ACCEPTED",
    )


def _batches(rows: list[LedgerRow]) -> Iterator[tuple[int, list[LedgerRow]]]:
    by_account: dict[int, list[LedgerRow]] = {}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    for account_id, mine in sorted(by_account.items()):
        for start in range(0, len(mine), BATCH):
            yield account_id, mine[start : start + BATCH]


class _Fetched:
    """A SELECT's rows, fetched while timed, served as the cursor would serve them."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows
        self.rowcount = -1
        self.lastrowid = None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows


class _TimedConnection:
    """Stands in for the journal's connection (``--split``): the CPU seconds spent in
    sqlite3 (preparing, binding, stepping, fetching the rows of a SELECT, committing),
    apart from the Python that calls it. Parameters are listed before a statement runs,
    so their making (a plan record's encoding) counts as the caller's."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.sqlite_cpu = 0.0
        self.commit_cpu = 0.0

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def close(self) -> None:
        self._connection.close()

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        start = time.process_time()
        cursor = self._connection.execute(sql, parameters)
        result = _Fetched(cursor.fetchall()) if cursor.description else cursor
        spent = time.process_time() - start
        self.sqlite_cpu += spent
        if sql == "COMMIT":
            self.commit_cpu += spent
        return result

    def executemany(self, sql: str, parameters: Iterable[Any]) -> Any:
        listed = list(parameters)
        start = time.process_time()
        cursor = self._connection.executemany(sql, listed)
        self.sqlite_cpu += time.process_time() - start
        return cursor


class _SplitTimer(_Timer):
    """``_Timer``, and per call type the sqlite3 share the connection measured."""

    def __init__(self) -> None:
        super().__init__()
        self.connection: _TimedConnection | None = None
        self.sqlite: dict[str, float] = defaultdict(float)
        self.commit: dict[str, float] = defaultdict(float)

    def __call__(self, name: str, call: Callable[[], T]) -> T:
        assert self.connection is not None
        sqlite_before, commit_before = self.connection.sqlite_cpu, self.connection.commit_cpu
        result = super().__call__(name, call)
        self.sqlite[name] += self.connection.sqlite_cpu - sqlite_before
        self.commit[name] += self.connection.commit_cpu - commit_before
        return result

    def wrap(self, journal: SqliteJournal) -> None:
        self.connection = _TimedConnection(journal._connection)
        journal._connection = self.connection  # type: ignore[assignment]  # a stand-in


def one_round(plan: Plan, directory: Path, timer: _Timer) -> dict[str, int]:
    """The journal calls of one cycle of ``plan``; returns counts to check against."""
    clock = _Clock(datetime(2026, 11, 20, 21, 1, tzinfo=UTC))
    day, run_id = plan.business_date, "run-bench"
    journal = SqliteJournal.open(directory / "journal.sqlite3")
    if isinstance(timer, _SplitTimer):
        timer.wrap(journal)
    try:
        run = RunRecord(
            run_id=run_id,
            business_date=day,
            as_of=plan.as_of,
            started_at=clock(),
            command="run",
            dry_run=False,
        )
        timer("begin_run", lambda: journal.begin_run(run))
        earlier = timer("rows", lambda: journal.rows(day))
        assert earlier == []
        wanted = timer("record_plan", lambda: journal.record_plan(run_id, plan, at=clock()))
        n = 0
        for account_id, batch in _batches(wanted):
            ids = [r.instruction_id for r in batch]
            attempt_id = timer(
                "record_attempt",
                lambda a=account_id, i=ids: journal.record_attempt(  # type: ignore[misc]
                    run_id, account_id=a, instruction_ids=i, at=clock()
                ),
            )
            updates = []
            for row in batch:
                n += 1
                updates.append(_sent(row, n))
            timer(
                "apply",
                lambda u=updates, a=attempt_id: journal.apply(  # type: ignore[misc]
                    run_id,
                    u,
                    at=clock(),
                    source="submit",
                    attempt_id=a,
                    attempt_outcome="200",
                    http_status=200,
                    request_id=f"req-{a}",
                ),
            )
        still_open = timer("open_rows", lambda: journal.open_rows(day))
        assert len(still_open) == len(wanted)
        listed = [_listed(row, k) for k, row in enumerate(still_open)]
        for start in range(0, len(listed), APPLY_CHUNK):
            chunk = listed[start : start + APPLY_CHUNK]
            timer("apply", lambda c=chunk: journal.apply(run_id, c, at=clock(), source="list"))  # type: ignore[misc]
        assert timer("open_rows", lambda: journal.open_rows(day)) == []
        final = timer("rows", lambda: journal.rows(day))
        assert len(final) == len(wanted)
        assert all(r.state.is_terminal and r.attempts == 1 for r in final)
        timer("end_run", lambda: journal.end_run(run_id, ended_at=clock(), outcome="ok"))
        return {"plan_rows": len(plan.rows), "instructions": len(wanted)}
    finally:
        journal.close()


def _round(plan: Plan, timer: _Timer | None = None) -> tuple[_Timer, dict[str, int]]:
    timer = timer or _Timer()
    gc.collect()
    gc.callbacks.append(timer.collecting)
    try:
        with tempfile.TemporaryDirectory(prefix="journal-micro-") as tmp:
            counts = one_round(plan, Path(tmp), timer)
    finally:
        gc.callbacks.remove(timer.collecting)
    return timer, counts


def _cached_plan(path: Path | None, accounts: int, expiring: int) -> Plan:
    """Deciding the plan takes longer than a round; comparing two versions of the
    journal in alternation needs it many times."""
    if path is not None and path.exists():
        with path.open("rb") as f:
            plan = pickle.load(f)  # noqa: S301 - a file this script wrote
        if not isinstance(plan, Plan):
            raise SystemExit(f"{path}: not a plan")
        return plan
    plan = build_plan(accounts, expiring)
    if path is not None:
        with path.open("wb") as f:
            pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)
    return plan


def _print_split(plan: Plan) -> None:
    timer = _SplitTimer()
    _round(plan, timer)
    print("one more round, through a timing stand-in for the connection (CPU seconds):")
    print(f"  {'':15s} {'all':>7s} {'sqlite3':>8s} {'COMMIT':>7s} {'GC':>6s} {'the rest':>9s}")
    for name in [*timer.cpu, "total"]:
        if name == "total":
            cpu, sqlite, commit, collecting = (
                sum(t.values()) for t in (timer.cpu, timer.sqlite, timer.commit, timer.gc)
            )
        else:
            cpu, sqlite = timer.cpu[name], timer.sqlite[name]
            commit, collecting = timer.commit[name], timer.gc[name]
        print(
            f"  {name:15s} {cpu:7.3f} {sqlite:8.3f} {commit:7.3f} {collecting:6.3f}"
            f" {cpu - sqlite - collecting:9.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.journal_micro")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--expiring", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="cProfile one more round into FILE")
    parser.add_argument(
        "--plan-cache", type=Path, help="load the plan from FILE (a pickle), or build and store it"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="one more round, each call type's CPU split into sqlite3, the GC and the rest",
    )
    args = parser.parse_args(argv)
    plan = _cached_plan(args.plan_cache, args.accounts, args.expiring)
    rounds: list[_Timer] = []
    counts: dict[str, Any] = {}
    for _ in range(args.rounds):
        timer, counts = _round(plan)
        rounds.append(timer)
    names = list(rounds[0].cpu)
    print(f"{counts['plan_rows']:,} plan rows, {counts['instructions']:,} instructions;")
    print(f"CPU seconds per call type, least of {args.rounds} rounds [range], cyclic GC in it:")
    for name in [*names, "total"]:
        values = [sum(t.cpu.values()) if name == "total" else t.cpu[name] for t in rounds]
        collecting = [sum(t.gc.values()) if name == "total" else t.gc[name] for t in rounds]
        calls = "" if name == "total" else f"{rounds[0].calls[name]:6,d} calls"
        print(
            f"  {name:15s} {calls:>12s} {min(values):7.3f} s  [{min(values):.3f}-{max(values):.3f}]"
            f"  GC {min(collecting):.3f} s [{min(collecting):.3f}-{max(collecting):.3f}]"
        )
    if args.split:
        _print_split(plan)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        _round(plan)
        profiler.disable()
        profiler.dump_stats(args.profile)
        print(f"profile of one more round: {args.profile}")


if __name__ == "__main__":
    main()
