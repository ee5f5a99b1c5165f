"""The CLI end to end: ``cli.main(argv)`` against the simulator over real HTTP."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from exerciser import cli
from exerciser.sim import Simulator, load_scenario, running_simulator, sample_scenario_path


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with running_simulator(load_scenario(sample_scenario_path())) as simulator:
        yield simulator


def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), environ=env or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_demo_plays_a_whole_day_against_the_simulator(tmp_path: Path) -> None:
    code, out, err = run("demo", env={"EXERCISER_STATE_DIR": str(tmp_path)})
    assert code == 0, err
    steps = re.findall(r"^-- \d\d:\d\d:\d\d (\w+) done$", out, flags=re.MULTILINE)
    assert steps == ["morning_check", "preview", "capture", "submit", "report"]
    assert "== [WARNING] Exercise preview for 2026-11-20" in out
    assert "1 instruction only partly accepted" in out
    assert "2 positions for manual review" in out
    reports = sorted(p.name for p in tmp_path.glob("demo/*/reports/*.html"))
    assert "2026-11-20-preview.html" in reports
    assert "2026-11-20-day.html" in reports
    events = [json.loads(line) for line in err.splitlines()]
    assert len({e["run_id"] for e in events if "run_id" in e}) >= 1
    assert all(e["command"] == "demo" for e in events)


def test_positions_against_a_running_simulator(sim: Simulator) -> None:
    env = {"EXERCISER_API_KEY": sim.token}
    code, out, err = run(
        "positions",
        "--base-url",
        sim.base_url,
        "--date",
        "2026-11-20",
        "--accounts",
        "100002",
        env=env,
    )
    assert code == 0, err
    assert "TSLA  261120C00350000" in out
    assert "100001" not in out
    assert out.rstrip().endswith("1 accounts, 2 option positions, 2 expiring 2026-11-20")


def test_invalid_settings_exit_2_with_one_line_each_and_no_request(sim: Simulator) -> None:
    before = sim.book.submit_count
    code, out, err = run(
        "positions",
        "--base-url",
        "http://broker.example",
        "--concurrency",
        "0",
        env={"EXERCISER_ACCOUNTS": "1,x"},
    )
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("exerciser: error: ") for line in lines)
    assert sim.book.submit_count == before


def test_missing_api_key_is_bad_input(sim: Simulator) -> None:
    code, _, err = run("positions", "--base-url", sim.base_url)
    assert code == 2
    assert "api_key: missing" in err


def test_refused_credentials_exit_2_without_echoing_the_key(sim: Simulator) -> None:
    env = {"EXERCISER_API_KEY": "wrong-key-123", "EXERCISER_RETRY_ATTEMPTS": "1"}
    code, out, err = run("positions", "--base-url", sim.base_url, env=env)
    assert code == 2
    assert "broker refused the credentials" in err
    assert "wrong-key-123" not in out + err


def test_unreachable_broker_exits_3() -> None:
    env = {"EXERCISER_API_KEY": "k", "EXERCISER_RETRY_ATTEMPTS": "1"}
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run("positions", "--base-url", url, env=env)
    assert code == 3
    assert "broker unreachable" in err


@pytest.mark.parametrize(
    "argv",
    [["bogus"], ["positions", "--date", "20261120"], ["positions", "--concurrency", "many"], []],
    ids=["unknown-command", "bad-date", "bad-int", "no-command"],
)
def test_bad_command_lines_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv, environ={}) == 2
    assert "error:" in capsys.readouterr().err


def test_bad_scenario_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "book.yaml"
    bad.write_text("business_date: not-a-date\n", encoding="utf-8")
    code, _, err = run("demo", "--scenario", str(bad))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "book.yaml" in err
    assert "business_date" in err


def test_simulate_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exerciser", "simulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        base_url = line.split()[3]
        reply = httpx.get(f"{base_url}/v1/accounts", headers={"Authorization": "Bearer sim-token"})
        assert reply.status_code == 200
        assert [a["id"] for a in reply.json()["data"]] == [100001, 100002, 100003]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
