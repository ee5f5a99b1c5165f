"""``exerciser run``, ``status`` and ``cancel`` end to end against the simulator, with
the simulator's clock on the same rehearsal time as ``--as-of``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from exerciser import cli
from exerciser.adapters.clock import RehearsalClock
from exerciser.adapters.journal import SqliteJournal
from exerciser.domain.ledger import RowState
from exerciser.sim import Simulator, load_scenario, running_simulator, sample_scenario_path

AS_OF = datetime(2026, 11, 20, 21, 1, tzinfo=UTC)  # a minute after the close


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = load_scenario(sample_scenario_path())
    with running_simulator(scenario, clock=RehearsalClock(AS_OF)) as simulator:
        yield simulator


def run(sim: Simulator, state: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {
        "EXERCISER_API_KEY": sim.token,
        "EXERCISER_API_BASE_URL": sim.base_url,
        "EXERCISER_STATE_DIR": str(state),
        "EXERCISER_POLL_INTERVAL": "0.05",
    }
    code = cli.main(list(argv), environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_run_submits_reconciles_and_reports(sim: Simulator, tmp_path: Path) -> None:
    code, out, err = run(sim, tmp_path, "run", "--as-of", AS_OF.isoformat())
    assert code == 1, err  # the sample book partly accepts one instruction, by design
    assert "partly accepted: 2 of 4" in out
    assert "1 rows need attention" in out
    stored = sim.book.instructions(100001) + sim.book.instructions(100002)
    assert sorted(i["instruction_type"] for i in stored) == ["DO_NOT_EXERCISE"] * 2
    with SqliteJournal.open(tmp_path / "journal.sqlite3") as journal:
        rows = journal.rows(AS_OF.date())
    assert [r.state for r in rows] == [RowState.ACCEPTED, RowState.ACCEPTED]


def test_a_second_run_the_same_day_sends_nothing_twice(sim: Simulator, tmp_path: Path) -> None:
    run(sim, tmp_path, "run", "--as-of", AS_OF.isoformat())
    code, _, err = run(sim, tmp_path, "run", "--as-of", (AS_OF + timedelta(minutes=5)).isoformat())
    assert code == 1, err
    assert sim.book.submit_count == 2  # one POST per account, in the first run only
    assert len(sim.book.instructions(100001)) == 1


def test_status_shows_journal_and_broker_side_by_side(sim: Simulator, tmp_path: Path) -> None:
    run(sim, tmp_path, "run", "--as-of", AS_OF.isoformat())
    code, out, err = run(sim, tmp_path, "status", "--date", "2026-11-20")
    assert code == 0, err
    assert "ACCEPTED 2" in out  # the broker's status now, with the accepted quantity
    assert "2 instructions, 0 open" in out


def test_cancel_one_of_ours_and_journal_it(sim: Simulator, tmp_path: Path) -> None:
    run(sim, tmp_path, "run", "--as-of", AS_OF.isoformat())
    with SqliteJournal.open(tmp_path / "journal.sqlite3") as journal:
        target = journal.rows(AS_OF.date())[1].instruction_id
    code, out, err = run(sim, tmp_path, "cancel", target)
    assert code == 0, err
    assert f"{target}: CANCEL_REQUESTED" in out
    with SqliteJournal.open(tmp_path / "journal.sqlite3") as journal:
        assert journal.row(target) is not None
        assert journal.row(target).state is RowState.CANCEL_REQUESTED  # type: ignore[union-attr]


def test_cancel_of_an_unknown_id_is_bad_input(sim: Simulator, tmp_path: Path) -> None:
    code, _, err = run(sim, tmp_path, "cancel", "xr-nope")
    assert code == 2
    assert "not in the journal" in err


def test_dry_run_sends_nothing(sim: Simulator, tmp_path: Path) -> None:
    code, out, err = run(sim, tmp_path, "run", "--as-of", AS_OF.isoformat(), "--dry-run")
    assert code == 0, err
    assert "Dry run: nothing was sent. Would send:" in out
    assert sim.book.submit_count == 0


def test_as_of_is_refused_against_a_real_broker_unless_dry_run(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    env = {"EXERCISER_API_KEY": "k", "EXERCISER_STATE_DIR": str(tmp_path)}
    code = cli.main(["run", "--as-of", AS_OF.isoformat()], environ=env, stdout=out, stderr=err)
    assert code == 2
    assert "refused against a real broker unless --dry-run" in err.getvalue()
