"""Logging: JSON lines off a terminal, and no secret ever rendered."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from pydantic import SecretStr

from exerciser.logging import REDACTED, Redactor, configure_logging


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_json_lines_with_bound_context_when_not_a_tty() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    structlog.contextvars.bind_contextvars(run_id="r-1")
    structlog.get_logger().info("positions_loaded", account_id=7, positions=3)
    event = json.loads(stream.getvalue())
    assert event["event"] == "positions_loaded"
    assert event["run_id"] == "r-1"
    assert event["account_id"] == 7
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


def test_level_filters_lower_events() -> None:
    stream = io.StringIO()
    configure_logging(level="warning", stream=stream)
    structlog.get_logger().info("quiet")
    structlog.get_logger().warning("loud")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_console_format_is_not_json() -> None:
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    structlog.get_logger().info("positions_loaded", account_id=7)
    assert "positions_loaded" in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream.getvalue())


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_secrets_are_redacted_whatever_the_caller_passes() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, secrets=["tok-SECRET-42"])
    logger = structlog.get_logger()
    logger.info(
        "oops",
        api_key="tok-SECRET-42",
        headers={"Authorization": "Bearer tok-SECRET-42", "Accept": "json"},
        note="sent Bearer tok-SECRET-42 to the broker",
        nested=[{"x": "tok-SECRET-42"}],
        wrapped=SecretStr("another"),
        password="hunter2",
    )
    try:
        fail("failed with tok-SECRET-42")
    except RuntimeError:
        logger.exception("crash")
    text = stream.getvalue()
    assert "tok-SECRET-42" not in text
    assert "hunter2" not in text
    assert "another" not in text
    first = json.loads(text.splitlines()[0])
    assert first["api_key"] == REDACTED
    assert first["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert first["note"] == f"sent Bearer {REDACTED} to the broker"


def test_redactor_keeps_ordinary_values() -> None:
    event = Redactor(["s3"])(None, "info", {"event": "x", "count": 3, "token_count": None})
    assert event == {"event": "x", "count": 3, "token_count": None}
