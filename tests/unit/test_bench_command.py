"""The command a benchmark result records (``bench/cli.py``): run again, it must run the
same Python in the same environment."""

from __future__ import annotations

import sys

import pytest

from bench.cli import _command, _interpreter


def test_the_default_environment_records_the_readme_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UV_PROJECT_ENVIRONMENT", raising=False)
    monkeypatch.setattr(sys, "argv", ["/x/bench/__main__.py", "--quick", "--out", "a b"])

    assert _command() == "python3 -m uv run --locked python -m bench --quick --out 'a b'"


def test_an_environment_of_its_own_is_recorded_with_its_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", ".venv-system")
    monkeypatch.setattr(sys, "argv", ["/x/bench/__main__.py", "--quick"])
    python = _interpreter()["python_executable"]

    assert _command() == (
        f"UV_PROJECT_ENVIRONMENT=.venv-system python3 -m uv run --locked --python {python}"
        " python -m bench --quick"
    )
