"""The running simulator: a :class:`Book` behind a real HTTP server, one asyncio event loop
on a background thread."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType, TracebackType

from exerciser.sim.book import Book, Clock
from exerciser.sim.faults import Faults
from exerciser.sim.scenario import Revision, Scenario
from exerciser.sim.server import App, SimServer


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Simulator:
    """A simulated Clear Street Trading API for one scenario.

    The socket is bound on construction (``port=0`` picks a free port); :meth:`start`
    serves on a background thread; :meth:`close` stops and cleans up. Use it as a
    context manager, or through :func:`running_simulator` / :func:`serve`.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.book = Book(scenario, clock=clock or _wall_clock)
        self._app = App(
            book=self.book, faults=scenario.faults.copy(), token=scenario.token, sleep=sleep
        )
        self._server = SimServer((host, port), self._app)
        self._started = False
        self._stop_requested = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_name, self._server.server_port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def token(self) -> str:
        return self._app.token

    @property
    def faults(self) -> Faults:
        """Live fault settings; change fields (or assign a new ``Faults``) at any time."""
        return self._app.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._app.faults = value

    @property
    def revision(self) -> Revision:
        return self.book.revision

    @revision.setter
    def revision(self, value: Revision) -> None:
        self.book.revision = value

    @property
    def sleep(self) -> Callable[[float], None] | None:
        """How the ``latency_ms`` fault waits: ``None`` waits on the event loop (the
        default, costing no thread); tests may set a plain callable, such as a recorder or a
        fake clock's ``advance``, which is then called on a worker thread (see :class:`App`).
        """
        return self._app.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None] | None) -> None:
        self._app.sleep = value

    def start(self) -> None:
        """Serve on a background thread (idempotent)."""
        if self._started:
            return
        self._started = True
        self._server.start()

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to return. Only sets a flag: safe in signal handlers."""
        self._stop_requested.set()

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called or KeyboardInterrupt arrives, then close."""
        self.start()
        try:
            while not self._stop_requested.wait(0.5):
                pass
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving, hang up open connections, release the socket (idempotent)."""
        self._stop_requested.set()
        self._server.close()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def running_simulator(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
) -> Iterator[Simulator]:
    """A started simulator for the duration of the ``with`` block."""
    with Simulator(scenario, host=host, port=port, clock=clock) as simulator:
        yield simulator


def serve(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``scenario`` until SIGTERM or Ctrl-C (blocking; for the CLI).

    ``on_ready(base_url)`` is called once the server is listening. SIGTERM is handled
    only when called on the main thread (the previous handler is restored on return).
    """
    simulator = Simulator(scenario, host=host, port=port, clock=clock)
    restore = _stop_on_sigterm(simulator)
    try:
        simulator.start()
        if on_ready is not None:
            on_ready(simulator.base_url)
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
        restore()


def _stop_on_sigterm(simulator: Simulator) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        simulator.shutdown()

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
