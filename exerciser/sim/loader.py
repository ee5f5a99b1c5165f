"""Scenario YAML -> :class:`Scenario`, validated, with one-line errors naming field and value."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import yaml

from exerciser.sim._accounts import read_account
from exerciser.sim._instruments import check_unique_instruments, read_contract, read_underlying
from exerciser.sim._reader import Field, Fields
from exerciser.sim._yaml import StrictLoader
from exerciser.sim.faults import FAULT_FIELDS, Faults
from exerciser.sim.scenario import (
    DEFAULT_REVISION,
    REVISIONS,
    Lifecycle,
    Revision,
    Scenario,
    ScenarioError,
)

NEW_YORK = ZoneInfo("America/New_York")
MAX_PAGE_SIZE = 1000
AFTER_HOURS_DELAY = timedelta(minutes=5)

_TOP = (
    "business_date",
    "close_at",
    "after_hours_at",
    "cutoff_at",
    "token",
    "revision",
    "page_size",
    "lifecycle",
    "underlyings",
    "contracts",
    "accounts",
    "faults",
)
_LIFECYCLE = ("settle_after_polls", "settle_after_seconds")


def sample_scenario_path() -> Path:
    """The packaged sample book, ``exerciser/sim/sample_book.yaml``."""
    resource = resources.files("exerciser.sim").joinpath("sample_book.yaml")
    if not isinstance(resource, Path):  # pragma: no cover - only for zipped installs
        raise ScenarioError(f"sample_book.yaml is not a file on disk: {resource}")
    return resource


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{source}: cannot read: {exc}") from exc
    return parse_scenario(text, source=source)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate scenario YAML held in a string."""
    try:
        tree: object = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ScenarioError(f"{source}: {where}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: {' '.join(str(exc).split())}") from exc
    top = Field(tree, "", source).mapping(allowed=_TOP, required=("business_date",))
    return _scenario(top, source)


def _scenario(top: Fields, source: str) -> Scenario:
    business_date = top.field("business_date").day()
    close = top.get("close_at")
    close_at = (
        close.moment() if close else datetime.combine(business_date, time(16), tzinfo=NEW_YORK)
    )
    cutoff = top.get("cutoff_at")
    after_hours = top.get("after_hours_at")
    after_hours_at = after_hours.moment() if after_hours else close_at + AFTER_HOURS_DELAY
    underlyings = tuple(read_underlying(item) for item in top.field("underlyings").items())
    symbols = {u.symbol: u for u in underlyings}
    contracts = tuple(read_contract(item, symbols) for item in top.field("contracts").items())
    check_unique_instruments(top, underlyings, contracts)
    accounts = tuple(
        read_account(item, symbols, {c.symbol for c in contracts})
        for item in top.field("accounts").items()
    )
    seen_accounts: set[int] = set()
    for index, account in enumerate(accounts):
        if account.id in seen_accounts:
            Field(account.id, f"accounts[{index}].id", source).fail(
                f"{account.id!r} is a duplicate account id"
            )
        seen_accounts.add(account.id)
    token = top.get("token")
    revision = top.get("revision")
    page_size = top.get("page_size")
    return Scenario(
        source=source,
        business_date=business_date,
        close_at=close_at,
        after_hours_at=after_hours_at,
        cutoff_at=cutoff.moment() if cutoff else None,
        token=token.text() if token else "sim-token",
        revision=cast(Revision, revision.choice(REVISIONS)) if revision else DEFAULT_REVISION,
        page_size=_page_size(page_size) if page_size else MAX_PAGE_SIZE,
        lifecycle=_lifecycle(top.field("lifecycle")),
        underlyings=underlyings,
        contracts=contracts,
        accounts=accounts,
        faults=_faults(top.field("faults")),
    )


def _page_size(field: Field) -> int:
    size = field.integer(minimum=1)
    if size > MAX_PAGE_SIZE:
        field.fail(f"{size!r} is above the maximum {MAX_PAGE_SIZE}")
    return size


def _lifecycle(field: Field) -> Lifecycle:
    if field.is_null:
        return Lifecycle()
    fields = field.mapping(allowed=_LIFECYCLE)
    polls, seconds = fields.get("settle_after_polls"), fields.get("settle_after_seconds")
    seconds_value = seconds.decimal() if seconds else None
    if seconds and seconds_value is not None and seconds_value < 0:
        seconds.fail(f"{seconds.value!r} is negative")
    if polls:
        polls_value: int | None = polls.integer(minimum=0)
    elif "settle_after_polls" in fields or seconds_value is not None:
        polls_value = None  # explicitly null, or time-driven only
    else:
        polls_value = 1
    return Lifecycle(settle_after_polls=polls_value, settle_after_seconds=seconds_value)


def _faults(field: Field) -> Faults:
    if field.is_null:
        return Faults()
    fields = field.mapping(allowed=FAULT_FIELDS)
    values = {name: fields.get(name) for name in FAULT_FIELDS}
    return Faults(
        **{name: value.integer(minimum=0) for name, value in values.items() if value is not None}
    )
