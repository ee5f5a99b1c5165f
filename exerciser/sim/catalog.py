"""Instruments and their prices: lookups, the option-contracts and snapshot endpoints.

Not thread-safe on its own; :class:`exerciser.sim.book.Book` calls it under its lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from exerciser.sim import wire
from exerciser.sim.market import contract_snapshot, last_price, underlying_snapshot
from exerciser.sim.osi import pad_osi
from exerciser.sim.pagination import paginate
from exerciser.sim.render import contract_json
from exerciser.sim.scenario import Contract, Scenario, Underlying
from exerciser.sim.wire import ApiFailure, Reply

Query = Mapping[str, str]
MAX_IDS = 100
EXACTLY_ONE = (
    "Exactly one identifier must be provided: underlier, underlying_instrument_id, or contract_ids"
)


def split_ids(raw: str | None) -> list[str]:
    """A comma-separated query value as a list, blanks dropped, repeats kept once."""
    parts = (part.strip() for part in (raw or "").split(","))
    return list(dict.fromkeys(part for part in parts if part))


class Catalog:
    """The scenario's underlyings and contracts; underlying prices can change."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._underlyings = {u.symbol: u for u in scenario.underlyings}
        self._contracts = {c.symbol: c for c in scenario.contracts}
        self._symbol_of_id = {u.id: u.symbol for u in scenario.underlyings} | {
            c.id: c.symbol for c in scenario.contracts
        }
        self._known: dict[str, str] = {}  # text -> symbol, for texts resolve() has seen

    def resolve(self, text: str) -> Underlying | Contract | None:
        """An instrument by id (UUID) or symbol (ticker, padded or unpadded OSI)."""
        symbol = self._known.get(text)
        if symbol is None:
            symbol = self._symbol(text)
            if symbol is None:
                return None
        found = self._contracts.get(symbol) or self._underlyings.get(symbol)
        if found is not None:
            # Only texts naming an instrument are kept: the cache stays as small as the
            # catalog. The symbol, not the instrument, since set_prices replaces those.
            # Parsing ids and OSI symbols was a third of a positions page's CPU.
            self._known[text] = symbol
        return found

    def _symbol(self, text: str) -> str | None:
        text = text.strip()
        try:
            return self._symbol_of_id.get(str(uuid.UUID(text)))
        except ValueError:
            return pad_osi(text) or text.upper()

    def contract(self, text: str) -> Contract | None:
        instrument = self.resolve(text)
        return instrument if isinstance(instrument, Contract) else None

    def contract_by_id(self, text: str) -> Contract | None:
        """A contract by its UUID only (what the submit endpoint's ``instrument_id`` is)."""
        try:
            uuid.UUID(text)
        except ValueError:
            return None
        return self.contract(text)

    def underlying_of(self, instrument: Underlying | Contract) -> Underlying:
        if isinstance(instrument, Contract):
            return self._underlyings[instrument.underlying]
        return instrument

    def spot(self, underlying: Underlying, now: datetime) -> Decimal:
        current = self._underlyings[underlying.symbol]
        return last_price(current, after_hours_at=self._scenario.after_hours_at, now=now)

    def set_prices(
        self,
        symbol: str,
        *,
        close: Decimal | None,
        last: Decimal | None,
        previous_close: Decimal | None,
    ) -> None:
        """Change an underlying's prices; a new ``close`` without ``last`` moves both."""
        current = self._underlyings[symbol.upper()]
        new_close = current.close if close is None else close
        if last is None:
            last = new_close if close is not None else current.last
        self._underlyings[current.symbol] = replace(
            current,
            close=new_close,
            last=last,
            previous_close=current.previous_close if previous_close is None else previous_close,
        )

    def contracts(self, query: Query) -> Reply:
        given = [
            key
            for key in ("underlier", "underlying_instrument_id", "contract_ids")
            if query.get(key)
        ]
        if len(given) != 1:
            raise ApiFailure(400, EXACTLY_ONE)
        keep = _filters(query)
        if given[0] == "contract_ids":
            wanted = split_ids(query["contract_ids"])
            if len(wanted) > MAX_IDS:
                raise ApiFailure(400, f"At most {MAX_IDS} contract_ids may be given")
            found = (self.contract(text) for text in wanted)
            chosen = [c for c in dict.fromkeys(found) if c is not None]
        else:
            text = query[given[0]]
            underlying = self.resolve(text)
            if not isinstance(underlying, Underlying):
                raise ApiFailure(404, f"Instrument not found: {text}")
            chosen = [c for c in self._contracts.values() if c.underlying == underlying.symbol]
        rows = [
            contract_json(
                c,
                underlying=self._underlyings[c.underlying],
                business_date=self._scenario.business_date,
                close_at=self._scenario.close_at,
            )
            for c in chosen
            if keep(c)
        ]
        page, meta = paginate(rows, query, cap=self._scenario.page_size)
        return wire.success(list(page), page=meta)

    def snapshot(self, query: Query, *, now: datetime) -> Reply:
        wanted = split_ids(query.get("instrument_ids"))
        if not wanted:
            raise ApiFailure(400, "At least one instrument_id is required")
        if len(wanted) > MAX_IDS:
            raise ApiFailure(400, f"At most {MAX_IDS} instrument_ids may be given")
        rows = []
        for text in wanted:
            instrument = self.resolve(text)
            if instrument is None:
                raise ApiFailure(404, f"Instrument not found for id `{text}`")
            if isinstance(instrument, Contract):
                rows.append(contract_snapshot(instrument))
            else:
                rows.append(
                    underlying_snapshot(
                        instrument,
                        close_at=self._scenario.close_at,
                        after_hours_at=self._scenario.after_hours_at,
                        now=now,
                    )
                )
        return wire.success(rows)


def _filters(query: Query) -> _Filter:
    expiry_text, kind, settle = (
        query.get("expiry"),
        query.get("contract_type"),
        query.get("is_settle_on_open"),
    )
    expiry: date | None = None
    if expiry_text:
        try:
            expiry = date.fromisoformat(expiry_text)
        except ValueError:
            raise ApiFailure(
                400, f"expiry must be a date YYYY-MM-DD, got {expiry_text!r}"
            ) from None
    if kind and kind not in ("CALL", "PUT"):
        raise ApiFailure(400, f"contract_type must be CALL or PUT, got {kind!r}")
    if settle and settle not in ("true", "false"):
        raise ApiFailure(400, f"is_settle_on_open must be true or false, got {settle!r}")
    return _Filter(
        expiry=expiry, kind=kind or None, settle=None if not settle else settle == "true"
    )


class _Filter:
    def __init__(self, *, expiry: date | None, kind: str | None, settle: bool | None) -> None:
        self._expiry, self._kind, self._settle = expiry, kind, settle

    def __call__(self, contract: Contract) -> bool:
        return (
            (self._expiry is None or contract.expiry == self._expiry)
            and (self._kind is None or contract.contract_type == self._kind)
            and (self._settle is None or contract.settle_on_open == self._settle)
        )
