"""The sd_notify client against a real AF_UNIX datagram socket standing in for systemd.

Delivery on an AF_UNIX datagram socket is synchronous: once ``sendall`` returns, the
message is in the receiver's queue, so the test reads it with a non-blocking ``recv``
and never waits.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exerciser.adapters.systemd import SystemdNotifier


class FakeSystemd:
    """The receiving end of a notify socket: what systemd would read."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)

    @property
    def notify_socket(self) -> str:
        """The address as systemd puts it in ``NOTIFY_SOCKET``."""
        return "@" + self.address[1:] if self.address.startswith("\0") else self.address

    def messages(self) -> list[str]:
        """Every datagram received so far, in order."""
        received = []
        while True:
            try:
                received.append(self.sock.recv(65536).decode("utf-8"))
            except BlockingIOError:
                return received

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("\0"):
            Path(self.address).unlink(missing_ok=True)


@pytest.fixture
def short_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # AF_UNIX paths are limited to 107 bytes: keep the directory name short.
    return tmp_path_factory.mktemp("sd")


@pytest.fixture
def systemd(short_dir: Path) -> Iterator[FakeSystemd]:
    peer = FakeSystemd(str(short_dir / "notify"))
    yield peer
    peer.close()


@pytest.fixture
def notifier(systemd: FakeSystemd) -> Iterator[SystemdNotifier]:
    with SystemdNotifier.from_environ({"NOTIFY_SOCKET": systemd.notify_socket}) as client:
        yield client


def test_ready_status_watchdog_and_stopping_are_sent_exactly(
    systemd: FakeSystemd, notifier: SystemdNotifier
) -> None:
    assert notifier.enabled
    notifier.ready()
    notifier.ready("waiting for 2026-11-20 09:00")
    notifier.status("submitting 12 instructions")
    notifier.watchdog()
    notifier.stopping()
    notifier.stopping("stopping: SIGTERM")
    assert systemd.messages() == [
        "READY=1",
        "READY=1\nSTATUS=waiting for 2026-11-20 09:00",
        "STATUS=submitting 12 instructions",
        "WATCHDOG=1",
        "STOPPING=1",
        "STOPPING=1\nSTATUS=stopping: SIGTERM",
    ]


def test_a_newline_in_a_status_cannot_inject_another_assignment(
    systemd: FakeSystemd, notifier: SystemdNotifier
) -> None:
    notifier.status("all done\nREADY=1")
    assert systemd.messages() == ["STATUS=all done READY=1"]


@pytest.mark.skipif(sys.platform != "linux", reason="the abstract namespace is Linux only")
def test_an_abstract_namespace_socket_is_reached_through_at_name() -> None:
    peer = FakeSystemd(f"\0exerciser-test-{uuid.uuid4().hex}")
    try:
        with SystemdNotifier.from_environ({"NOTIFY_SOCKET": peer.notify_socket}) as client:
            client.ready("ready")
            client.watchdog()
        assert peer.messages() == ["READY=1\nSTATUS=ready", "WATCHDOG=1"]
    finally:
        peer.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    client = SystemdNotifier.from_environ({"WATCHDOG_USEC": "120000000"})
    with capture_logs() as logs:
        client.ready("ready")
        client.status("x")
        client.watchdog()
        client.stopping()
        client.close()
    assert not client.enabled
    assert client.watchdog_interval() is None  # nobody would hear the pings
    assert logs == []


def test_an_unusable_notify_socket_is_logged_and_gives_a_no_op_notifier() -> None:
    with capture_logs() as logs:
        client = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "relative/notify"})
        client.ready()
    assert not client.enabled
    assert [(e["event"], e["notify_socket"]) for e in logs] == [
        ("sd_notify_socket_invalid", "relative/notify")
    ]


def test_a_vanished_socket_is_logged_and_never_raises(
    systemd: FakeSystemd, notifier: SystemdNotifier
) -> None:
    notifier.ready()
    assert systemd.messages() == ["READY=1"]
    systemd.close()
    with capture_logs() as logs:
        notifier.watchdog()
        notifier.stopping("bye")
    assert [(e["event"], e["log_level"], e["message"]) for e in logs] == [
        ("sd_notify_failed", "warning", "WATCHDOG=1"),
        ("sd_notify_failed", "warning", "STOPPING=1\nSTATUS=bye"),
    ]
    assert all(e["socket"] == systemd.notify_socket and e["error"] for e in logs)


def test_a_socket_that_never_existed_is_logged_and_never_raises(short_dir: Path) -> None:
    missing = str(short_dir / "absent")
    with capture_logs() as logs:
        SystemdNotifier.from_environ({"NOTIFY_SOCKET": missing}).ready()
    assert [(e["event"], e["socket"]) for e in logs] == [("sd_notify_failed", missing)]


def test_after_a_failure_the_next_message_reconnects(short_dir: Path) -> None:
    """A restarted service manager re-creates its socket at the same path."""
    address = str(short_dir / "notify")
    first = FakeSystemd(address)
    with SystemdNotifier.from_environ({"NOTIFY_SOCKET": address}) as client:
        client.ready()
        first.close()
        with capture_logs() as logs:
            client.watchdog()  # lost: nobody is listening
        second = FakeSystemd(address)
        try:
            client.watchdog()
            assert second.messages() == ["WATCHDOG=1"]
        finally:
            second.close()
    assert [e["event"] for e in logs] == ["sd_notify_failed"]


def test_after_close_messages_are_dropped_and_close_is_idempotent(
    systemd: FakeSystemd, notifier: SystemdNotifier
) -> None:
    notifier.close()
    notifier.close()
    notifier.ready()
    assert not notifier.enabled
    assert systemd.messages() == []


PID = 4242


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        pytest.param({"WATCHDOG_USEC": "120000000"}, 60.0, id="half-of-the-timeout"),
        pytest.param({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(PID)}, 1.5, id="our-pid"),
        pytest.param({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}, None, id="other-pid"),
        pytest.param({}, None, id="no-watchdog"),
        pytest.param({"WATCHDOG_USEC": "0"}, None, id="zero"),
        pytest.param({"WATCHDOG_USEC": "soon"}, None, id="not-a-number"),
        pytest.param({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"}, None, id="bad-pid"),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec_for_our_pid_only(
    environ: dict[str, str], interval: float | None
) -> None:
    client = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "/run/notify", **environ}, pid=PID)
    assert client.watchdog_interval() == interval


def test_watchdog_pid_defaults_to_this_process() -> None:
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier.from_environ(environ).watchdog_interval() == 1.0


def test_malformed_watchdog_settings_are_logged() -> None:
    with capture_logs() as logs:
        SystemdNotifier.from_environ({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "-5"})
    assert [(e["event"], e["watchdog_usec"]) for e in logs] == [("sd_watchdog_invalid", "-5")]
