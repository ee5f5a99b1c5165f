"""``serve`` and ``Simulator``: blocking service for the CLI, stopped by SIGTERM, Ctrl-C or
``shutdown()``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import httpx
import pytest

from exerciser.sim import Simulator, serve

from .helpers import FakeClock, book_scenario


def fetch_accounts(base_url: str) -> int:
    headers = {"Authorization": "Bearer sim-token"}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        return client.get("/v1/accounts").status_code


@pytest.fixture
def ctrl_c_interrupts() -> Iterator[None]:
    """Python's own SIGINT handler for the test. A shell starts a background job with
    SIGINT ignored, and Python then leaves it ignored: a raised SIGINT would do nothing
    and ``serve`` would wait forever (seen when the suite ran in the background)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.usefixtures("ctrl_c_interrupts")
def test_serve_listens_then_returns_on_sigterm_or_ctrl_c(
    clock: FakeClock, signum: signal.Signals
) -> None:
    seen: list[tuple[str, int]] = []
    before = signal.getsignal(signal.SIGTERM)

    def on_ready(base_url: str) -> None:
        seen.append((base_url, fetch_accounts(base_url)))
        signal.raise_signal(signum)

    serve(book_scenario(), "127.0.0.1", 0, clock=clock, on_ready=on_ready)

    ((base_url, status),) = seen
    assert base_url.startswith("http://127.0.0.1:")
    assert status == 200
    assert signal.getsignal(signal.SIGTERM) == before
    with pytest.raises(httpx.ConnectError):
        fetch_accounts(base_url)


def test_shutdown_from_another_thread_ends_serve_forever(clock: FakeClock) -> None:
    simulator = Simulator(book_scenario(), clock=clock)
    done = threading.Event()

    def stop_when_served() -> None:
        assert fetch_accounts(simulator.base_url) == 200
        simulator.shutdown()
        done.set()

    helper = threading.Thread(target=stop_when_served)
    simulator.start()
    helper.start()
    simulator.serve_forever()
    helper.join()

    assert done.is_set()


def test_close_is_idempotent(clock: FakeClock) -> None:
    simulator = Simulator(book_scenario(), clock=clock)
    simulator.start()

    simulator.close()
    simulator.close()
