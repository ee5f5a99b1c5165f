"""Command line: ``exerciser demo | simulate | positions``.

``main(argv) -> int`` only parses, wires and maps errors to exit codes:
0 success, 1 failure, 2 bad input or settings, 3 broker unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

import structlog
from pydantic import SecretStr

from exerciser import __version__
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.bootstrap import build_client
from exerciser.domain.book import Book
from exerciser.errors import (
    BrokerAmbiguousError,
    BrokerAuthError,
    BrokerTransientError,
    ConfigError,
    ExerciserError,
)
from exerciser.logging import configure_logging
from exerciser.reports.table import render_table
from exerciser.services.load import load_book
from exerciser.settings import Settings, load_settings
from exerciser.sim import (
    Scenario,
    ScenarioError,
    load_scenario,
    running_simulator,
    sample_scenario_path,
    serve,
)

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

    demo = commands.add_parser(
        "demo",
        parents=[settings],
        help="run an expiry cycle against the built-in simulator",
        description="Start the broker simulator with a sample book and run against it.",
    )
    demo.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")

    simulate = commands.add_parser(
        "simulate",
        parents=[settings],
        help="serve the local broker simulator",
        description="Serve the Clear Street API simulator until interrupted.",
    )
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8181, help="0 picks a free port")
    simulate.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")

    positions = commands.add_parser(
        "positions",
        parents=[settings],
        help="load and show option positions from the broker",
        description="Load accounts, option positions, contracts and prices, and print them.",
    )
    positions.add_argument(
        "--date", type=date.fromisoformat, help="only contracts expiring on this date"
    )
    return parser


_NOT_SETTINGS = frozenset({"command", "scenario", "host", "port", "date"})


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
        return _dispatch(args, settings, out)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (ExerciserError, ScenarioError) as exc:
        code, problems = _explain(exc)
        for problem in problems:
            print(f"exerciser: error: {problem}", file=err)
        return code


def _explain(exc: ExerciserError | ScenarioError) -> tuple[int, Sequence[str]]:
    """The exit code for an error, and the lines that tell the operator about it."""
    if isinstance(exc, ConfigError):
        return EXIT_BAD_INPUT, exc.problems
    if isinstance(exc, BrokerAuthError):
        return EXIT_BAD_INPUT, [f"broker refused the credentials: {exc}"]
    if isinstance(exc, BrokerTransientError | BrokerAmbiguousError):
        return EXIT_UNREACHABLE, [f"broker unreachable: {exc}"]
    if isinstance(exc, ScenarioError):
        return EXIT_BAD_INPUT, [str(exc)]
    return EXIT_FAILED, [str(exc)]


def entrypoint() -> NoReturn:
    sys.exit(main())


def _dispatch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "simulate":
        return _simulate(args, out)
    if args.command == "demo":
        return _demo(args, settings, out)
    return _positions(args, settings, out)


def _scenario(args: argparse.Namespace) -> Scenario:
    return load_scenario(args.scenario or sample_scenario_path())


def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    scenario = _scenario(args)

    def ready(base_url: str) -> None:
        print(f"simulator listening on {base_url} (token {scenario.token!r})", file=out)
        out.flush()

    serve(scenario, args.host, args.port, on_ready=ready)
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    scenario = _scenario(args)
    # A rehearsal clock: ten minutes after the scenario's close, when the day's
    # decisions are made.
    rehearsal_at = scenario.close_at.astimezone(UTC) + timedelta(minutes=10)
    with running_simulator(scenario, clock=lambda: rehearsal_at) as sim:
        print(
            f"Simulated broker at {sim.base_url}, business date {scenario.business_date}, "
            f"clock {rehearsal_at.isoformat()}",
            file=out,
        )
        demo_settings = settings.model_copy(update={"api_base_url": sim.base_url})
        book = asyncio.run(_load(demo_settings, api_key=sim.token))
    _print_book(book, scenario.business_date, out)
    return EXIT_OK


def _positions(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    book = asyncio.run(_load(settings))
    _print_book(book, args.date, out)
    return EXIT_OK


async def _load(settings: Settings, *, api_key: str | None = None) -> Book:
    key = SecretStr(api_key) if api_key is not None else None
    async with build_client(settings, api_key=key) as client:
        return await load_book(
            ClearStreetBookSource(client),
            account_ids=settings.accounts,
            concurrency=settings.concurrency,
        )


def _print_book(book: Book, day: date | None, out: TextIO) -> None:
    rows: list[list[Any]] = []
    for account in book.accounts:
        for position in account.option_positions:
            contract = book.contracts.get(position.instrument_id)
            if day is not None and (contract is None or contract.expiry != day):
                continue
            quote = book.quotes.get(contract.underlying_id or "") if contract else None
            rows.append(
                [
                    account.account_id,
                    position.symbol,
                    position.quantity,
                    position.available_quantity,
                    contract.right if contract else None,
                    contract.strike if contract else None,
                    contract.expiry.isoformat() if contract else None,
                    contract.multiplier if contract else None,
                    quote.symbol if quote else None,
                    quote.price if quote else None,
                ]
            )
    headers = [
        "account", "contract", "qty", "avail", "right", "strike", "expiry", "mult",
        "underlying", "last",
    ]  # fmt: skip
    print(render_table(headers, rows), file=out)
    expiring = len(book.expiring_on(day)) if day else None
    total = sum(len(a.option_positions) for a in book.accounts)
    summary = f"{len(book.accounts)} accounts, {total} option positions"
    if expiring is not None:
        summary += f", {expiring} expiring {day}"
    print(summary, file=out)
