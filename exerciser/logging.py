"""Structured logging: JSON lines for journald and files, readable lines on a terminal.

Configure once, in ``main``. Event names are stable snake_case keys
(``positions_loaded``, ``broker_retry_scheduled``); context such as ``run_id`` and
``account_id`` is bound with ``structlog.contextvars``. The ``redact`` processor runs
last before rendering, so no secret reaches the output whatever a caller passes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretStr

REDACTED = "***"
_SECRET_KEY_PARTS = ("api_key", "apikey", "authorization", "password", "secret", "token")

Format = Literal["auto", "json", "console"]


class Redactor:
    """A structlog processor that drops secrets from an event dict.

    It masks values under secret-looking keys (``api_key``, ``authorization``,
    ``*token*``, ``password``...), any ``SecretStr``, and every occurrence of the known
    secret values inside any string, however deeply nested.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        del logger, method_name
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict

    def _clean(self, key: str, value: Any) -> Any:
        lowered = key.lower()
        if any(part in lowered for part in _SECRET_KEY_PARTS) and value is not None:
            return REDACTED
        return self._scrub(value)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub(v) for v in value]
        if isinstance(value, BaseException | bytes):
            return self._scrub(str(value))
        return value


def configure_logging(
    *,
    level: str = "info",
    fmt: Format = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up structlog for the process. Logs go to ``stream`` (stderr by default, so
    that command output on stdout stays clean); ``auto`` picks console rendering when
    that stream is a terminal and JSON lines otherwise."""
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
