"""Measuring the real code path from outside, without changing it.

- ``Requests``: within ``with requests.counting():``, every request the client's
  ``AsyncioTransport`` or any httpx ``AsyncHTTPTransport`` sends is counted by endpoint
  and phase and timed: to the whole reply through ``AsyncioTransport.exchange`` (the
  client's path since it stopped building httpx requests for its own pool), to the
  reply's headers through ``handle_async_request``. It wraps the transport classes'
  methods rather than passing a transport to ``ClearStreetClient``, which would replace
  the client's own connection pools.
- ``Phases``: wall and CPU time per phase of ``run_day``. The phase boundaries are the
  entry and exit of ``services.plan.plan_book`` and of ``Submitter.submit`` and
  ``Reconciler.reconcile``, which ``phase_marks`` wraps for the duration of a ``with``
  block (and restores after it): ``run_day`` itself runs unchanged.
- ``TimedJournal``: the journal port, delegating to a real ``SqliteJournal`` and timing
  each method.
"""

from __future__ import annotations

import functools
import gc
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.usage import cpu_seconds, wall
from exerciser.adapters.clearstreet.pool import Origin, Reply
from exerciser.adapters.clearstreet.transport import AsyncioTransport
from exerciser.domain.book import AccountBook
from exerciser.domain.decide import Decided, Decider
from exerciser.services.reconcile import Reconciler
from exerciser.services.submit import Submitter

# The transports whose requests ``Requests`` counts: the client's own, and httpx's.
TRANSPORTS: tuple[type[httpx.AsyncBaseTransport], ...] = (
    AsyncioTransport,
    httpx.AsyncHTTPTransport,
)
_Handle = Callable[[Any, httpx.Request], Awaitable[httpx.Response]]
_Exchange = Callable[..., Awaitable[Reply]]

_ACCOUNT = re.compile(r"/accounts/\d+")
_SERVER_ID = re.compile(r"/instructions/[^/]+$")
ENDPOINTS = {
    ("GET", "/v1/accounts"): "GET accounts",
    ("GET", "/v1/accounts/{id}/positions"): "GET positions",
    ("GET", "/v1/accounts/{id}/balances"): "GET balances",
    ("GET", "/v1/instruments/options/contracts"): "GET contracts",
    ("GET", "/v1/market-data/snapshot"): "GET snapshot",
    ("GET", "/v1/accounts/{id}/positions/instructions"): "GET instructions (list)",
    ("POST", "/v1/accounts/{id}/positions/instructions"): "POST instructions (submit)",
    ("DELETE", "/v1/accounts/{id}/positions/instructions/{id}"): "DELETE instruction (cancel)",
}


def endpoint(method: str, path: str) -> str:
    shape = _SERVER_ID.sub("/instructions/{id}", _ACCOUNT.sub("/accounts/{id}", path))
    return ENDPOINTS.get((method, shape), f"{method} {shape}")


class Phases:
    """A timeline of named phases: each ``enter`` ends the phase before it."""

    def __init__(self) -> None:
        self.current = "setup"
        self.marks: list[tuple[str, float, float]] = []
        self.deciding: dict[str, float] = defaultdict(float)  # CPU deciding accounts, by phase

    def enter(self, name: str) -> None:
        self.marks.append((name, wall(), cpu_seconds()))
        self.current = name

    def summary(self) -> dict[str, dict[str, float]]:
        """Wall and CPU seconds per phase name (a phase entered twice is summed)."""
        out: dict[str, dict[str, float]] = {}
        for (name, w0, c0), (_, w1, c1) in zip(self.marks, self.marks[1:], strict=False):
            spent = out.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            spent["wall_s"] += w1 - w0
            spent["cpu_s"] += c1 - c0
        return out


@dataclass
class _Tally:
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0


@dataclass
class Requests:
    """Counts and latencies of the requests sent, by phase and endpoint."""

    phases: Phases
    tallies: dict[tuple[str, str], _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    in_flight: int = 0
    peak_in_flight: int = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        originals = {cls: cls.handle_async_request for cls in TRANSPORTS}
        exchange = AsyncioTransport.exchange
        for cls, original in originals.items():
            cls.handle_async_request = self._counted(original)  # type: ignore[method-assign,assignment]
        AsyncioTransport.exchange = self._counted_exchange(exchange)  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            for cls, original in originals.items():
                cls.handle_async_request = original  # type: ignore[method-assign]
            AsyncioTransport.exchange = exchange  # type: ignore[method-assign]

    @asynccontextmanager
    async def _one(self, method: str, path: str) -> AsyncIterator[None]:
        key = (self.phases.current, endpoint(method, path))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        started = wall()
        try:
            yield
        finally:
            self.in_flight -= 1
            tally = self.tallies[key]
            tally.count += 1
            tally.seconds += wall() - started

    def _counted(self, original: _Handle) -> _Handle:
        @functools.wraps(original)
        async def counted(
            transport: httpx.AsyncBaseTransport, request: httpx.Request
        ) -> httpx.Response:
            async with self._one(request.method, request.url.path):
                return await original(transport, request)

        return counted

    def _counted_exchange(self, original: _Exchange) -> _Exchange:
        """The client's own path (``AsyncioTransport.exchange``): timed to the whole
        reply, where httpx's path above is timed to the reply's headers."""

        @functools.wraps(original)
        async def counted(
            transport: AsyncioTransport, origin: Origin, method: str, target: bytes, **kw: Any
        ) -> Reply:
            async with self._one(method, target.split(b"?")[0].decode("ascii")):
                return await original(transport, origin, method, target, **kw)

        return counted

    def by_endpoint(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (_, name), tally in self.tallies.items():
            totals[name] += tally.count
        return dict(sorted(totals.items()))

    def by_phase(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for (phase, name), tally in sorted(self.tallies.items()):
            entry = out.setdefault(phase, {"requests": 0, "request_s": 0.0, "endpoints": {}})
            entry["requests"] += tally.count
            entry["request_s"] += tally.seconds
            entry["endpoints"][name] = tally.count
        return out

    @property
    def total(self) -> int:
        return sum(t.count for t in self.tallies.values())

    @property
    def mean_latency_s(self) -> float:
        total = self.total
        return sum(t.seconds for t in self.tallies.values()) / total if total else 0.0


class TimedJournal:
    """The ``Journal`` port over a real journal: calls, wall and CPU seconds per method,
    and CPU seconds per phase."""

    def __init__(self, inner: Any, phases: Phases) -> None:
        self._inner = inner
        self._phases = phases
        self.calls: dict[str, _Tally] = defaultdict(_Tally)
        self.by_phase: dict[str, float] = defaultdict(float)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target
        tally = self.calls[name]
        phases, by_phase = self._phases, self.by_phase

        @functools.wraps(target)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = wall(), cpu_seconds()
            try:
                return target(*args, **kwargs)
            finally:
                used = cpu_seconds() - cpu
                tally.count += 1
                tally.seconds += wall() - started
                tally.cpu += used
                by_phase[phases.current] += used

        return timed

    def stats(self) -> dict[str, dict[str, float]]:
        return {
            name: {"calls": t.count, "seconds": round(t.seconds, 3), "cpu_s": round(t.cpu, 3)}
            for name, t in sorted(self.calls.items(), key=lambda kv: -kv[1].seconds)
            if t.count
        }


def _async_span(
    phases: Phases, name: str, after: str, fn: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def spanned(*args: Any, **kwargs: Any) -> Any:
        phases.enter(name)
        try:
            return await fn(*args, **kwargs)
        finally:
            phases.enter(after)

    return spanned


def _sync_span(phases: Phases, name: str, after: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def spanned(*args: Any, **kwargs: Any) -> Any:
        phases.enter(name)
        try:
            return fn(*args, **kwargs)
        finally:
            phases.enter(after)

    return spanned


@contextmanager
def phase_marks(phases: Phases) -> Iterator[None]:
    """Within the block, ``run_day``'s phases are marked on ``phases``:

    load (from the call to make_plan: the book, each account decided as its balance
    arrives) -> decide (``Decider.plan``: the accounts' parts put together) -> journal
    (begin the run, fresh ids, record the plan, supersede check) -> submit
    (Submitter.submit) -> reconcile (Reconciler.reconcile) -> finish (final rows, end run).
    The CPU of deciding the accounts (``Decider.account``) is also summed by phase.
    """
    account = Decider.account

    def deciding(decider: Decider, book: AccountBook) -> Decided:
        started = cpu_seconds()
        try:
            return account(decider, book)
        finally:
            phases.deciding[phases.current] += cpu_seconds() - started

    targets: list[tuple[Any, str, Any]] = [
        (Decider, "account", deciding),
        (Decider, "plan", _sync_span(phases, "decide", "journal", Decider.plan)),
        (Submitter, "submit", _async_span(phases, "submit", "reconcile", Submitter.submit)),
        (
            Reconciler,
            "reconcile",
            _async_span(phases, "reconcile", "finish", Reconciler.reconcile),
        ),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    try:
        for owner, name, replacement in targets:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@dataclass
class Collections:
    """The cyclic garbage collector's runs during a span: how many per generation, and
    their CPU seconds (``gc.callbacks``, start to stop), and the CPU seconds by the phase
    they ran in."""

    count: list[int] = field(default_factory=lambda: [0, 0, 0])
    cpu_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    by_phase: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def as_dict(self) -> dict[str, Any]:
        return {
            "collections": self.count,
            "cpu_s": [round(c, 3) for c in self.cpu_s],
            "total_cpu_s": round(sum(self.cpu_s), 3),
            "by_phase_cpu_s": {name: round(s, 3) for name, s in self.by_phase.items()},
        }


@contextmanager
def gc_time(phases: Phases) -> Iterator[Collections]:
    seen = Collections()
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
            return
        generation = info["generation"]
        seen.count[generation] += 1
        spent = time.process_time() - started[0]
        seen.cpu_s[generation] += spent
        seen.by_phase[phases.current] += spent

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)
