"""Command line: ``exerciser demo | simulate | positions | plan | run | status | cancel |
rules check``.

``main(argv) -> int`` only parses, wires and maps errors to exit codes:
0 success, 1 failure, 2 bad input or settings, 3 broker unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, TextIO

import structlog

from exerciser import __version__
from exerciser.commands import (
    cancel,
    daemon,
    demo,
    plan,
    positions,
    rules,
    run,
    simulate,
    status,
)
from exerciser.commands._common import Context
from exerciser.domain.calendar import CalendarRangeError
from exerciser.errors import (
    BrokerAmbiguousError,
    BrokerAuthError,
    BrokerTransientError,
    ConfigError,
    ExerciserError,
)
from exerciser.logging import configure_logging
from exerciser.settings import Settings, load_settings
from exerciser.sim import ScenarioError

# Each command module has add_parser(commands, parents) and run(args, context) -> int.
_COMMANDS: dict[str, ModuleType] = {
    "demo": demo,
    "simulate": simulate,
    "positions": positions,
    "plan": plan,
    "run": run,
    "status": status,
    "cancel": cancel,
    "daemon": daemon,
    "rules": rules,
}

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

log = structlog.get_logger("exerciser.cli")


def build_parser() -> argparse.ArgumentParser:
    settings = argparse.ArgumentParser(add_help=False)
    group = settings.add_argument_group("settings (override environment and config file)")
    group.add_argument("--config", type=Path, help="TOML config file (or EXERCISER_CONFIG)")
    group.add_argument("--base-url", dest="api_base_url", help="Clear Street API base URL")
    group.add_argument("--api-key-file", type=Path, help="file holding the API key")
    group.add_argument("--accounts", help="account ids, comma-separated (default: all)")
    group.add_argument("--rules", dest="rules_file", type=Path, help="rules YAML file")
    group.add_argument("--state-dir", type=Path, help="directory for the journal and reports")
    group.add_argument(
        "--dry-run", action="store_const", const=True, default=None, help="never POST or DELETE"
    )
    group.add_argument("--concurrency", type=int, help="parallel requests to the broker")
    group.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    group.add_argument("--log-format", choices=["auto", "json", "console"])

    parser = argparse.ArgumentParser(
        prog="exerciser",
        description="Expiration-day option exercise daemon for the Clear Street Trading API.",
    )
    parser.add_argument("--version", action="version", version=f"exerciser {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command in _COMMANDS.values():
        command.add_parser(commands, [settings])
    return parser


# Command arguments that are not settings.
_NOT_SETTINGS = frozenset(
    {
        "instruction_id",
        "command",
        "scenario",
        "host",
        "port",
        "date",
        "as_of",
        "account",
        "prices",
        "format",
        "output",
        "rules_command",
        "file",
    }
)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage, the error, or --help
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    flags = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}
    try:
        settings = load_settings(flags, environ=environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"exerciser: error: {problem}", file=err)
        return EXIT_BAD_INPUT
    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    configure_logging(
        level=settings.log_level, fmt=settings.log_format, secrets=[secret], stream=err
    )
    structlog.contextvars.bind_contextvars(run_id=uuid.uuid4().hex[:12], command=args.command)
    try:
        return _dispatch(args, settings, out, environ)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (ExerciserError, ScenarioError, CalendarRangeError) as exc:
        code, problems = _explain(exc)
        for problem in problems:
            print(f"exerciser: error: {problem}", file=err)
        return code


def _explain(
    exc: ExerciserError | ScenarioError | CalendarRangeError,
) -> tuple[int, Sequence[str]]:
    """The exit code for an error, and the lines that tell the operator about it."""
    if isinstance(exc, ConfigError):
        return EXIT_BAD_INPUT, exc.problems
    if isinstance(exc, BrokerAuthError):
        return EXIT_BAD_INPUT, [f"broker refused the credentials: {exc}"]
    if isinstance(exc, BrokerTransientError | BrokerAmbiguousError):
        return EXIT_UNREACHABLE, [f"broker unreachable: {exc}"]
    if isinstance(exc, ScenarioError | CalendarRangeError):
        return EXIT_BAD_INPUT, [str(exc)]
    return EXIT_FAILED, [str(exc)]


def entrypoint() -> NoReturn:
    sys.exit(main())


def _dispatch(
    args: argparse.Namespace, settings: Settings, out: TextIO, environ: Mapping[str, str] | None
) -> int:
    context = Context(
        settings=settings, out=out, environ=os.environ if environ is None else environ
    )
    handler: Any = _COMMANDS[args.command]
    code: int = handler.run(args, context)
    return code
