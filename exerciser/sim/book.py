"""The simulated broker's state and the meaning of every endpoint, without any HTTP.

Each endpoint method takes already-split request parts and returns a :class:`Reply`
(status, JSON body, headers) or raises :class:`ApiFailure`. One re-entrant lock guards
the whole book, so the threaded server and the test thread can both use it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from exerciser.sim import submission, wire
from exerciser.sim.catalog import Catalog, split_ids
from exerciser.sim.instructions import CANCELLABLE, Instruction, advance, render
from exerciser.sim.pagination import paginate
from exerciser.sim.render import account_json, balances_json, position_json
from exerciser.sim.scenario import (
    REVISIONS,
    Account,
    Contract,
    Holding,
    Revision,
    Scenario,
    Underlying,
)
from exerciser.sim.wire import ApiFailure, JsonObject, Reply

Clock = Callable[[], datetime]
Query = Mapping[str, str]


class Book:
    """Accounts, positions, instruments, prices and instructions of one simulated day."""

    def __init__(
        self, scenario: Scenario, *, clock: Clock, new_id: Callable[[], str] | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._scenario = scenario
        self._clock = clock
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._revision: Revision = scenario.revision
        self._catalog = Catalog(scenario)
        self._accounts = {a.id: a for a in scenario.accounts}
        self._holdings = {a.id: {h.symbol: h for h in a.positions} for a in scenario.accounts}
        self._instructions: dict[int, list[Instruction]] = {a.id: [] for a in scenario.accounts}
        self.submit_count = 0

    # -- clock, revision, lookups -------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    def now(self) -> datetime:
        moment = self._clock()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    @property
    def revision(self) -> Revision:
        return self._revision

    @revision.setter
    def revision(self, value: Revision) -> None:
        if value not in REVISIONS:
            raise ValueError(f"unknown revision {value!r}; expected one of {REVISIONS}")
        self._revision = value

    def resolve(self, text: str) -> Underlying | Contract | None:
        """An instrument by id (UUID) or symbol (ticker, padded or unpadded OSI)."""
        with self._lock:
            return self._catalog.resolve(text)

    def _account(self, account_id: int) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise ApiFailure(404, f"Account not found: {account_id}") from None

    # -- read-only endpoints ------------------------------------------------------------

    def list_accounts(self, query: Query) -> Reply:
        prefix, name = query.get("account_id", ""), query.get("account_name", "").lower()
        with self._lock:
            rows = [
                account_json(a)
                for a in self._accounts.values()
                if str(a.id).startswith(prefix) and name in a.full_name.lower()
            ]
        page, meta = paginate(rows, query, cap=self._scenario.page_size)
        return wire.success(list(page), page=meta)

    def account(self, account_id: int) -> Reply:
        with self._lock:
            return wire.success(account_json(self._account(account_id)))

    def balances(self, account_id: int) -> Reply:
        with self._lock:
            account = self._account(account_id)
            return wire.success(balances_json(account, business_date=self._scenario.business_date))

    def positions(self, account_id: int, query: Query) -> Reply:
        wanted = split_ids(query.get("instrument_ids"))
        with self._lock:
            self._account(account_id)
            catalog, now = self._catalog, self.now()
            ids = {i.id for i in (catalog.resolve(w) for w in wanted) if i is not None}
            rows = []
            for holding in self._holdings[account_id].values():
                instrument = catalog.resolve(holding.symbol)
                assert instrument is not None  # the loader checked every holding's symbol
                if wanted and instrument.id not in ids:
                    continue
                underlying = catalog.underlying_of(instrument)
                rows.append(
                    position_json(
                        account_id,
                        holding,
                        instrument=instrument,
                        underlying=underlying,
                        spot=catalog.spot(underlying, now),
                        business_date=self._scenario.business_date,
                    )
                )
        page, meta = paginate(rows, query, cap=self._scenario.page_size)
        return wire.success(list(page), page=meta)

    def contracts(self, query: Query) -> Reply:
        with self._lock:
            return self._catalog.contracts(query)

    def snapshot(self, query: Query) -> Reply:
        with self._lock:
            return self._catalog.snapshot(query, now=self.now())

    # -- position instructions ----------------------------------------------------------

    def list_instructions(self, account_id: int, query: Query) -> Reply:
        """Every instruction of the account (or of one contract); each counts one poll."""
        with self._lock:
            self._account(account_id)
            selected = self._instructions[account_id]
            text = query.get("instrument_id")
            if text:
                instrument = self._catalog.resolve(text)
                if instrument is None:
                    raise ApiFailure(404, f"Instrument not found: {text}")
                selected = [i for i in selected if i.contract.id == instrument.id]
            lifecycle, now = self._scenario.lifecycle, self.now()
            for instruction in selected:
                advance(instruction, lifecycle=lifecycle, now=now, polled=True)
            return wire.success([render(i, self._revision) for i in selected])

    def submit(
        self, account_id: int, body: bytes, *, clearing_unavailable: Callable[[], bool]
    ) -> Reply:
        """A batch submit; ``clearing_unavailable`` is asked once the batch passed pre-flight."""
        with self._lock:
            self.submit_count += 1
            self._account(account_id)
            revision = self._revision
            rows = submission.read_rows(
                body, resolve=self._catalog.contract_by_id, revision=revision
            )
            now = self.now()
            if clearing_unavailable():
                return submission.unavailable_reply(
                    rows, account_id=account_id, now=now, new_id=self._new_id, revision=revision
                )
            self._observe(account_id)
            desk = submission.Desk(
                account_id=account_id,
                stored=self._instructions[account_id],
                holdings=self._holdings[account_id],
                business_date=self._scenario.business_date,
                cutoff_at=self._scenario.cutoff_at,
                now=now,
                new_id=self._new_id,
            )
            return submission.batch_reply(desk.judge(rows), revision)

    def cancel(self, account_id: int, instruction_id: str) -> Reply:
        with self._lock:
            self._account(account_id)
            instruction = self._find(account_id, instruction_id)
            if instruction is None:
                raise ApiFailure(404, f"Instruction not found: {instruction_id}")
            now = self.now()
            advance(instruction, lifecycle=self._scenario.lifecycle, now=now, polled=False)
            if instruction.status not in CANCELLABLE:
                raise ApiFailure(409, "Instruction is in a terminal state")
            instruction.status = "CANCEL_REQUESTED"
            instruction.updated_at = now
            instruction.polls = 0
            return wire.success(render(instruction, self._revision))

    def _find(self, account_id: int, instruction_id: str) -> Instruction | None:
        wanted = instruction_id.strip().lower()
        return next((i for i in self._instructions[account_id] if i.id == wanted), None)

    def _observe(self, account_id: int) -> None:
        """Apply time-driven lifecycle moves (a look that is not a list call)."""
        lifecycle, now = self._scenario.lifecycle, self.now()
        for instruction in self._instructions[account_id]:
            advance(instruction, lifecycle=lifecycle, now=now, polled=False)

    # -- for tests: inspect and arrange -------------------------------------------------

    def instructions(self, account_id: int) -> list[JsonObject]:
        """The account's stored instructions as the list endpoint would show them.

        Time-driven lifecycle moves apply; this look does not count as a poll.
        """
        with self._lock:
            self._account(account_id)
            self._observe(account_id)
            return [render(i, self._revision) for i in self._instructions[account_id]]

    def add_instruction(
        self,
        account_id: int,
        *,
        instrument: str,
        quantity: int | str,
        instruction_type: str = "EXERCISE",
        status: str = "SENT",
        instruction_id: str | None = None,
    ) -> JsonObject:
        """Store an instruction "entered by hand" (e.g. at the broker's desk).

        The key is server-generated unless ``instruction_id`` is given; no position or
        duplicate checks apply. ``status`` is SENT or ACCEPTED.
        """
        if status not in ("SENT", "ACCEPTED"):
            raise ValueError(f"status must be SENT or ACCEPTED, not {status!r}")
        with self._lock:
            self._account(account_id)
            contract = self._catalog.contract(instrument)
            if contract is None:
                raise ValueError(f"{instrument!r} is not a contract of this scenario")
            now = self.now()
            instruction = Instruction(
                id=self._new_id(),
                account_id=account_id,
                key=instruction_id or self._new_id(),
                instruction_type=instruction_type,
                contract=contract,
                quantity=int(quantity),
                status=status,
                accepted_quantity=int(quantity) if status == "ACCEPTED" else None,
                created_at=now,
                updated_at=now,
            )
            self._instructions[account_id].append(instruction)
            return render(instruction, self._revision)

    def set_prices(
        self,
        symbol: str,
        *,
        close: Decimal | str | None = None,
        last: Decimal | str | None = None,
        previous_close: Decimal | str | None = None,
    ) -> None:
        """Change an underlying's prices; a new ``close`` without ``last`` moves both."""
        with self._lock:
            self._catalog.set_prices(
                symbol,
                close=None if close is None else Decimal(close),
                last=None if last is None else Decimal(last),
                previous_close=None if previous_close is None else Decimal(previous_close),
            )

    def set_position(
        self,
        account_id: int,
        symbol: str,
        quantity: Decimal | str | int,
        *,
        available_quantity: Decimal | str | int | None = None,
    ) -> None:
        """Add or replace a position line of an account."""
        with self._lock:
            self._account(account_id)
            instrument = self._catalog.resolve(symbol)
            if instrument is None:
                raise ValueError(f"{symbol!r} is neither a contract nor an underlying")
            amount = Decimal(quantity)
            available = abs(amount) if available_quantity is None else Decimal(available_quantity)
            self._holdings[account_id][instrument.symbol] = Holding(
                symbol=instrument.symbol, quantity=amount, available_quantity=available
            )
