"""``exerciser plan`` and ``exerciser rules check`` end to end against the simulator."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from exerciser import cli
from exerciser.sim import Simulator, load_scenario, running_simulator, sample_scenario_path

CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 16:00 New York
ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = CLOSE + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Iterator[Simulator]:
    with running_simulator(load_scenario(sample_scenario_path()), clock=clock) as simulator:
        yield simulator


def run(sim: Simulator, state: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = {
        "EXERCISER_API_KEY": sim.token,
        "EXERCISER_API_BASE_URL": sim.base_url,
        "EXERCISER_STATE_DIR": str(state),
        "EXERCISER_RETRY_ATTEMPTS": "1",
    }
    code = cli.main(list(argv), environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def plan_json(sim: Simulator, state: Path, clock: Clock, *extra: str) -> dict[str, Any]:
    code, out, err = run(sim, state, "plan", "--as-of", clock.now.isoformat(), *extra)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def rows_by(document: dict[str, Any]) -> dict[tuple[int, str, str], dict[str, Any]]:
    return {(r["account_id"], r["symbol"], r["action"]): r for r in document["rows"]}


def test_plan_after_the_close_decides_every_expiring_position(
    sim: Simulator, clock: Clock, tmp_path: Path
) -> None:
    document = plan_json(sim, tmp_path, clock)
    assert document["business_date"] == "2026-11-20"
    assert len(document["rows"]) == 16
    rows = rows_by(document)
    dne = rows[(100002, "TSLA  261120C00350000", "DO_NOT_EXERCISE")]
    assert dne["quantity"] == "3"
    assert dne["occ_would_exercise"] is True
    assert dne["instruction_id"].startswith("xr-20261120-100002-DNE-")
    assert any("buying power" in r for r in dne["reasons"])
    assert rows[(100001, "AAPL1 261120C00185000", "MANUAL_REVIEW")]["instruction_id"] is None
    for row in document["rows"]:
        assert {"account_id", "underlying_symbol", "itm_amount", "expected_outcome"} <= set(row)
        assert row["reasons"]
        for money in ("strike", "quantity", "occ_reference_price"):
            assert row[money] is None or isinstance(row[money], str)


def test_the_close_captured_after_the_bell_is_used_after_hours(
    sim: Simulator, clock: Clock, tmp_path: Path
) -> None:
    clock.now = CLOSE + timedelta(minutes=30)
    uncaptured = rows_by(plan_json(sim, tmp_path / "fresh", clock))
    aapl = uncaptured[(100001, "AAPL  261120C00150000", "MANUAL_REVIEW")]
    assert any("not captured" in r for r in aapl["reasons"])

    clock.now = CLOSE + timedelta(minutes=1)
    plan_json(sim, tmp_path / "kept", clock)
    clock.now = CLOSE + timedelta(minutes=30)
    captured = rows_by(plan_json(sim, tmp_path / "kept", clock))
    row = captured[(100001, "AAPL  261120C00150000", "NONE")]
    assert row["occ_reference_price"] == "190.005"
    assert (tmp_path / "kept" / "references" / "2026-11-20.json").exists()


def test_a_prices_file_overrides_the_broker(sim: Simulator, clock: Clock, tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("symbol,close,last\nTSLA,300,\n", encoding="utf-8")
    rows = rows_by(plan_json(sim, tmp_path, clock, "--prices", str(prices)))
    tsla = rows[(100002, "TSLA  261120C00350000", "NONE")]
    assert tsla["price_source"] == "file"
    assert tsla["occ_reference_price"] == "300"
    assert tsla["expected_outcome"] == "LAPSES"


def test_rules_file_forces_an_action(sim: Simulator, clock: Clock, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n"
        "  - match: {account: 100001, symbol: 'AAPL  261120C00150000'}\n"
        "    action: do_not_exercise\n    quantity: 4\n",
        encoding="utf-8",
    )
    rows = rows_by(plan_json(sim, tmp_path, clock, "--rules", str(rules), "--account", "100001"))
    assert {k[0] for k in rows} == {100001}
    forced = rows[(100001, "AAPL  261120C00150000", "DO_NOT_EXERCISE")]
    assert forced["quantity"] == "4"
    assert rows[(100001, "AAPL  261120C00150000", "NONE")]["quantity"] == "6"


def test_table_and_csv_outputs(sim: Simulator, clock: Clock, tmp_path: Path) -> None:
    code, out, err = run(
        sim, tmp_path, "plan", "--as-of", clock.now.isoformat(), "--format", "table"
    )
    assert code == 0, err
    assert "Plan for 2026-11-20" in out
    assert "16 rows, 2 instructions to send, 2 for manual review" in out
    target = tmp_path / "out" / "plan.csv"
    code, out, err = run(
        sim, tmp_path, "plan", "--as-of", clock.now.isoformat(), "--output", str(target)
    )
    assert code == 0, err
    assert out == ""
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("account_id,instrument_id,symbol")
    assert len(lines) == 17


def test_a_day_without_a_session_plans_nothing(
    sim: Simulator, clock: Clock, tmp_path: Path
) -> None:
    code, out, _ = run(
        sim, tmp_path, "plan", "--date", "2026-11-26", "--as-of", clock.now.isoformat()
    )
    assert code == 0
    assert "2026-11-26 is not a trading session" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--date", "2019-01-02"], "outside the calendar range"),
        (["plan", "--as-of", "yesterday"], "'yesterday' is not an ISO date-time"),
        (["plan", "--prices", "missing.csv"], "missing.csv: cannot read"),
        (["plan", "--rules", "missing.yaml"], "missing.yaml"),
    ],
    ids=["date-out-of-range", "bad-as-of", "missing-prices", "missing-rules"],
)
def test_bad_plan_input_exits_2(
    sim: Simulator,
    tmp_path: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(sim, tmp_path, *argv)
    assert code == 2
    assert message in err + capsys.readouterr().err


def test_bad_prices_file_names_file_line_and_value(sim: Simulator, tmp_path: Path) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text("symbol,close,last\nAAPL,abc,\nMSFT,0,\n", encoding="utf-8")
    code, _, err = run(sim, tmp_path, "plan", "--prices", str(prices))
    assert code == 2
    assert f"{prices}:2: close = 'abc': not a decimal number" in err
    assert f"{prices}:3: close = '0': must be a positive price" in err


@pytest.mark.parametrize("example", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.name)
def test_rules_check_accepts_the_shipped_examples(
    sim: Simulator, tmp_path: Path, example: Path
) -> None:
    code, out, err = run(sim, tmp_path, "rules", "check", str(example))
    assert code == 0, err
    assert f"{example}: valid" in out


def test_rules_check_rejects_a_bad_file_with_line_and_column(
    sim: Simulator, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndefaults:\n  min_itm: lots\n", encoding="utf-8")
    code, out, err = run(sim, tmp_path, "rules", "check", str(bad))
    assert code == 2
    assert out == ""
    assert "bad.yaml:3:" in err
    assert "min_itm" in err
