"""sd_notify: tell systemd that the daemon is ready, alive, or stopping.

The protocol is one datagram per message on the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace), holding
newline-separated ``KEY=value`` assignments: ``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ``STOPPING=1``. See sd_notify(3) and systemd/README.md.

Off systemd (no ``NOTIFY_SOCKET``) the notifier is a no-op, so the daemon calls it
unconditionally. Notifying is best effort: a failure to send is logged as
``sd_notify_failed`` and never raised into the daemon. After a failure the socket is
dropped and the next message connects afresh, so a restarted service manager (which
re-creates its socket) hears from us again.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import structlog

log = structlog.get_logger("exerciser.systemd")

# A full receive queue on systemd's side must not stall the daemon for long; a message
# that cannot be sent in this time is logged and dropped (a watchdog ping is repeated
# at half the timeout anyway).
SEND_TIMEOUT_SECONDS = 1.0


class SystemdNotifier:
    """A client for systemd's notification socket. Build it with ``from_environ``.

    ``address`` is the socket address as ``socket.connect`` takes it (a path, or a
    leading NUL for the abstract namespace); ``None`` makes every call a no-op.
    ``watchdog_usec`` is the service's watchdog timeout, when it applies to us.
    Safe to call from several threads.
    """

    def __init__(self, *, address: str | None = None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, pid: int | None = None) -> Self:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from ``environ``.

        No ``NOTIFY_SOCKET`` gives a no-op notifier; an unusable one is logged
        (``sd_notify_socket_invalid``) and gives a no-op notifier too. ``pid`` is our
        process id, compared with ``WATCHDOG_PID`` (default: ``os.getpid()``).
        """
        address = _parse_address(environ.get("NOTIFY_SOCKET", ""))
        watchdog = _parse_watchdog(environ, os.getpid() if pid is None else pid)
        return cls(address=address, watchdog_usec=watchdog)

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere: under systemd with a notify socket, not closed."""
        return self._address is not None and not self._closed

    def ready(self, status: str | None = None) -> None:
        """Start-up is complete (``READY=1``): systemd now considers the unit active."""
        self._send("READY=1", status)

    def status(self, text: str) -> None:
        """A one-line, human-readable state, shown by ``systemctl status``."""
        self._send(None, text)

    def watchdog(self) -> None:
        """We are alive (``WATCHDOG=1``); send it every ``watchdog_interval()`` seconds."""
        self._send("WATCHDOG=1", None)

    def stopping(self, status: str | None = None) -> None:
        """Shutdown has begun (``STOPPING=1``)."""
        self._send("STOPPING=1", status)

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, or ``None`` when no watchdog applies to us.

        Half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises, and only when
        ``WATCHDOG_PID`` is unset or names this process and a notify socket is set (with
        nobody to hear them, pings are pointless).
        """
        if self._watchdog_usec is None or self._address is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def close(self) -> None:
        """Release the socket. Later messages are dropped: the daemon is done."""
        with self._lock:
            self._closed = True
            self._disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SystemdNotifier(address={_shown(self._address)!r}, enabled={self.enabled})"

    def _send(self, head: str | None, status: str | None) -> None:
        lines = [] if head is None else [head]
        if status is not None:
            # A newline would start a new assignment: the status stays one line.
            lines.append("STATUS=" + " ".join(status.splitlines()))
        message = "\n".join(lines)
        with self._lock:
            if self._address is None or self._closed:
                return
            try:
                if self._socket is None:
                    self._socket = _connect(self._address)
                self._socket.sendall(message.encode("utf-8"))
            except OSError as exc:
                self._disconnect()
                log.warning(
                    "sd_notify_failed",
                    socket=_shown(self._address),
                    message=message,
                    error=str(exc) or type(exc).__name__,
                )

    def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _connect(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.settimeout(SEND_TIMEOUT_SECONDS)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _parse_address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    log.warning("sd_notify_socket_invalid", notify_socket=value)
    return None


def _parse_watchdog(environ: Mapping[str, str], pid: int) -> int | None:
    usec_text = environ.get("WATCHDOG_USEC")
    if usec_text is None:
        return None
    pid_text = environ.get("WATCHDOG_PID")
    try:
        usec = int(usec_text)
        watchdog_pid = None if pid_text is None else int(pid_text)
    except ValueError:
        usec = 0
        watchdog_pid = None
    if usec <= 0:
        log.warning("sd_watchdog_invalid", watchdog_usec=usec_text, watchdog_pid=pid_text)
        return None
    if watchdog_pid is not None and watchdog_pid != pid:
        return None  # the watchdog is meant for another process (our parent, say)
    return usec


def _shown(address: str | None) -> str | None:
    """The address as NOTIFY_SOCKET spells it (``@name`` for the abstract namespace)."""
    if address is None:
        return None
    return "@" + address[1:] if address.startswith("\0") else address
