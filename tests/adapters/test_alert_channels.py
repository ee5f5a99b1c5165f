"""Alert channels against real local peers: an aiosmtpd server on 127.0.0.1 (STARTTLS
with a trustme CA, implicit TLS, AUTH), and a webhook sink (``ThreadingHTTPServer``)
that can fail on demand. Then the whole path with a real journal file: retries with
backoff on a fake clock, restarts, one delivery per key and channel, a failing channel
reported on the other, and secrets in no log line and no error."""

from __future__ import annotations

import email
import email.policy
import io
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr
from structlog.testing import capture_logs

from exerciser.adapters.alerts import ConsoleChannel, EmailChannel, SlackWebhook
from exerciser.adapters.alerts.slack import MAX_SECTION, looks_like_table, slack_payload
from exerciser.adapters.journal import SqliteJournal
from exerciser.domain.alerts import Alert, Attachment, Severity
from exerciser.errors import AlertError
from exerciser.services.alerts import AlertDispatcher

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
TOKEN = "s3cr3tW3bh00kT0k3n"
USER, PASSWORD = "exerciser", "sm7p-pa55w0rd-never-shown"
HTML = "<html><body><h1>Plan for 2026-11-20 ✓</h1></body></html>\n".encode() * 50
TABLE = "#  account  contract\n-  -------  --------\n1  7        AAPL  261120C00190000"


def alert(key: str = "preview_ready:2026-11-20:abc", **changes: Any) -> Alert:
    values: dict[str, Any] = {
        "key": key,
        "kind": "preview_ready",
        "severity": Severity.WARNING,
        "title": "Exercise preview for 2026-11-20",
        "text": TABLE,
        "attachments": (Attachment(filename="plan.html", content_type="text/html", data=HTML),),
    }
    return Alert(**(values | changes))


# ---------------------------------------------------------------------- the webhook sink


@dataclass
class Sink:
    """What the local webhook received, and how it should fail next."""

    server: ThreadingHTTPServer
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "500" or "drop", one per request

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/{TOKEN}"

    def fail_next(self, n: int, how: str = "500") -> None:
        self.failures.extend([how] * n)

    @property
    def keys(self) -> list[str]:
        return [b["blocks"][-1]["elements"][0]["text"].rsplit(" · ", 1)[1] for b in self.bodies]


def _handler(sink_ref: list[Sink]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sink = sink_ref[0]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if sink.failures:
                how = sink.failures.pop(0)
                if how == "drop":
                    self.close_connection = True
                    return  # no reply at all
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"internal_error")
                return
            sink.paths.append(self.path)
            sink.bodies.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    return Handler


@pytest.fixture
def sink() -> Iterator[Sink]:
    ref: list[Sink] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    ref.append(Sink(server=server))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield ref[0]
    server.shutdown()
    server.server_close()
    thread.join()


def slack(sink: Sink, **kw: Any) -> SlackWebhook:
    return SlackWebhook(
        name="slack:ops", url=SecretStr(sink.url), min_severity=Severity.INFO, timeout=5, **kw
    )


# ---------------------------------------------------------------------- the SMTP server


@dataclass
class Mailbox:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = (data.login.decode(), data.password.decode()) == (USER, PASSWORD)
        if ok:
            self.logins.append(f"{mechanism}:{data.login.decode()}")
        return AuthResult(success=ok, handled=False)  # handled=False: the server says 535


class LocalController(Controller):
    """aiosmtpd's controller on an ephemeral port (it only knows fixed ones)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def smtp_server(ca: trustme.CA) -> Iterator[tuple[LocalController, Mailbox]]:
    """STARTTLS required, then AUTH (offered only over TLS)."""
    box = Mailbox()
    controller = LocalController(
        box,
        hostname="127.0.0.1",
        port=0,
        server_hostname="localhost",
        tls_context=server_context(ca),
        require_starttls=True,
        authenticator=box.authenticate,
        auth_required=True,
    )
    controller.start()
    yield controller, box
    controller.stop()


def mailer(port: int, context: ssl.SSLContext | None, **kw: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": USER,
        "password": SecretStr(PASSWORD),
        "sender": "Exerciser <exerciser@example.com>",
        "recipients": ["ops@example.com", "desk@example.com", "risk@example.com"],
        "min_severity": Severity.WARNING,
        "timeout": 5,
        "ssl_context": context,
    }
    return EmailChannel(**(values | kw))


# ---------------------------------------------------------------------- email


async def test_starttls_login_and_every_recipient_get_the_report_intact(
    smtp_server: tuple[LocalController, Mailbox], trusting: ssl.SSLContext
) -> None:
    controller, box = smtp_server
    await mailer(controller.port, trusting).send(alert())
    [(sender, recipients, message)] = box.messages
    assert sender == "exerciser@example.com"
    assert recipients == ["ops@example.com", "desk@example.com", "risk@example.com"]
    assert box.logins in ([f"PLAIN:{USER}"], [f"LOGIN:{USER}"])
    assert message["Subject"] == "[exerciser WARNING] Exercise preview for 2026-11-20"
    assert message["To"] == "ops@example.com, desk@example.com, risk@example.com"
    assert message["X-Exerciser-Alert"] == "preview_ready preview_ready:2026-11-20:abc"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert TABLE in body.get_content().replace("\r\n", "\n")
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "plan.html"
    assert part.get_content_type() == "text/html"
    assert part.get_payload(decode=True) == HTML


async def test_a_wrong_password_is_an_alert_error_that_does_not_show_it(
    smtp_server: tuple[LocalController, Mailbox], trusting: ssl.SSLContext
) -> None:
    controller, box = smtp_server
    wrong = "wr0ng-pa55w0rd-also-secret"
    with capture_logs() as logs, pytest.raises(AlertError) as info:
        await mailer(controller.port, trusting, password=SecretStr(wrong)).send(alert())
    assert info.value.channel == "email"
    assert "SMTPAuthenticationError" in str(info.value)
    assert wrong not in str(info.value)
    assert wrong not in repr(logs)
    assert box.messages == []


async def test_a_certificate_the_client_does_not_trust_is_refused(
    smtp_server: tuple[LocalController, Mailbox],
) -> None:
    controller, box = smtp_server
    with pytest.raises(AlertError, match="CERTIFICATE_VERIFY_FAILED"):
        await mailer(controller.port, None).send(alert())  # the system's CAs
    assert box.messages == []


async def test_a_server_without_starttls_is_never_used_in_clear(trusting: ssl.SSLContext) -> None:
    box = Mailbox()
    controller = LocalController(box, hostname="127.0.0.1", port=0, server_hostname="localhost")
    controller.start()
    try:
        with pytest.raises(AlertError, match="STARTTLS extension not supported"):
            await mailer(controller.port, trusting).send(alert())
        assert box.messages == []
        plain = mailer(controller.port, None, security="none", username=None, password=None)
        await plain.send(alert(attachments=()))
        assert len(box.messages) == 1
    finally:
        controller.stop()


async def test_implicit_tls_with_login(ca: trustme.CA, trusting: ssl.SSLContext) -> None:
    box = Mailbox()
    controller = LocalController(
        box,
        hostname="127.0.0.1",
        port=0,
        server_hostname="localhost",
        ssl_context=server_context(ca),
        authenticator=box.authenticate,
        auth_require_tls=False,  # the whole session is TLS: aiosmtpd cannot tell
    )
    controller.start()
    try:
        await mailer(controller.port, trusting, security="tls").send(alert())
    finally:
        controller.stop()
    [(_, _, message)] = box.messages
    assert box.logins
    [part] = list(message.iter_attachments())
    assert part.get_payload(decode=True) == HTML


async def test_nobody_listening_is_an_alert_error(trusting: ssl.SSLContext) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    with pytest.raises(AlertError, match=r"SMTP 127\.0\.0\.1:\d+: ConnectionRefusedError"):
        await mailer(port, trusting).send(alert())


# ---------------------------------------------------------------------- slack


async def test_the_webhook_gets_a_bold_title_and_the_table_in_a_code_block(sink: Sink) -> None:
    await slack(sink).send(alert())
    [body] = sink.bodies
    assert sink.paths == [f"/services/T000/B000/{TOKEN}"]
    assert body["text"] == "[WARNING] Exercise preview for 2026-11-20"
    title, text, files, footer = body["blocks"]
    assert title["text"]["text"] == ":warning: *Exercise preview for 2026-11-20*"
    assert text["text"]["text"] == f"```\n{TABLE}\n```"
    assert "`plan.html`" in files["elements"][0]["text"]
    assert footer["elements"][0]["text"] == "WARNING · preview_ready · preview_ready:2026-11-20:abc"


async def test_a_shared_client_is_used_when_given(sink: Sink) -> None:
    async with httpx.AsyncClient() as client:
        await slack(sink, client=client).send(alert(attachments=()))
    assert len(sink.bodies) == 1


def test_prose_is_sent_as_prose_escaped_and_cut_to_fit() -> None:
    prose = alert(text="Rejected <after cutoff> & more " * 200, attachments=())
    _, text, _ = slack_payload(prose)["blocks"]
    assert not text["text"]["text"].startswith("```")
    assert "&lt;after cutoff&gt; &amp; more" in text["text"]["text"]
    assert len(text["text"]["text"]) <= MAX_SECTION
    assert text["text"]["text"].endswith(
        "(cut short; the full text is in the email and the journal)"
    )


@pytest.mark.parametrize(
    ("text", "table"),
    [
        (TABLE, True),
        ("a  b\nc  d", True),
        ("one line  with gaps", False),
        ("Plain words.\nMore words.", False),
        ("- account 7: rejected", False),
    ],
    ids=["rule", "columns", "one-gap", "prose", "bullets"],
)
def test_what_counts_as_a_table(text: str, table: bool) -> None:
    assert looks_like_table(text) is table


@pytest.mark.parametrize("how", ["500", "drop"])
async def test_a_failing_webhook_is_an_alert_error_that_never_shows_the_url(
    sink: Sink, how: str
) -> None:
    sink.fail_next(1, how)
    with capture_logs() as logs, pytest.raises(AlertError) as info:
        await slack(sink).send(alert())
    message = str(info.value)
    assert message.startswith("slack:ops: ")
    assert ("answered 500: internal_error" if how == "500" else "RemoteProtocolError") in message
    assert info.value.__cause__ is None  # httpx's error holds the request, and its URL
    assert info.value.__context__ is None or info.value.__suppress_context__
    for shown in (message, repr(logs)):
        assert TOKEN not in shown
        assert "/services/" not in shown


async def test_an_unreachable_webhook_is_an_alert_error(sink: Sink) -> None:
    url = sink.url
    sink.server.shutdown()
    sink.server.server_close()
    with pytest.raises(AlertError, match="ConnectError") as info:
        await SlackWebhook(name="slack:ops", url=SecretStr(url), timeout=2).send(alert())
    assert TOKEN not in str(info.value)


async def test_the_console_prints_the_alert() -> None:
    out = io.StringIO()
    await ConsoleChannel(out=out).send(alert())
    text = out.getvalue()
    assert text.startswith("== [WARNING] Exercise preview for 2026-11-20\n")
    assert TABLE in text
    assert "attached: plan.html (text/html, " in text


# ---------------------------------------------------------------------- the whole path


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def dispatcher(journal: SqliteJournal, clock: FakeClock, *channels: Any) -> AlertDispatcher:
    return AlertDispatcher(
        outbox=journal, notifiers=channels, clock=clock, sleep=clock.sleep, base_delay=60
    )


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite3"


async def test_a_webhook_failing_three_times_gets_the_alert_once_after_backoff(
    sink: Sink, journal_path: Path
) -> None:
    sink.fail_next(2, "500")
    sink.fail_next(1, "drop")
    clock = FakeClock()
    with SqliteJournal.open(journal_path) as journal, capture_logs() as logs:
        alerts = dispatcher(journal, clock, slack(sink))
        assert alerts.raise_alert(alert())
        assert await alerts.drain(until=T0 + timedelta(hours=1)) == 1
        [record] = journal.deliveries_of(alert().key)
    assert sink.keys == [alert().key]
    assert (record["state"], record["attempts"]) == ("delivered", 4)
    assert len(clock.slept) == 3
    for slept, nominal in zip(clock.slept, [60, 120, 240], strict=True):
        assert 0.75 * nominal <= slept <= nominal
    failed = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert [(e["channel"], e["key"], e["attempts"]) for e in failed] == [
        ("slack:ops", alert().key, n) for n in (1, 2, 3)
    ]
    assert TOKEN not in repr(logs)
    assert TOKEN not in json.dumps(journal_state(journal_path))


def journal_state(path: Path) -> list[dict[str, Any]]:
    with SqliteJournal.open(path) as journal:
        return [{k: str(v) for k, v in d.items()} for d in journal.deliveries_of()]


async def test_a_restart_in_the_middle_still_delivers_exactly_once(
    sink: Sink, journal_path: Path
) -> None:
    sink.fail_next(2)
    clock = FakeClock()
    with SqliteJournal.open(journal_path) as journal:
        first = dispatcher(journal, clock, slack(sink))
        first.raise_alert(alert())
        assert await first.deliver_due() == 0  # attempt 1 fails; then the process dies
    clock.now += timedelta(seconds=30)
    with SqliteJournal.open(journal_path) as journal:
        second = dispatcher(journal, clock, slack(sink))
        assert second.raise_alert(alert()) is False  # the restart raises it again
        assert await second.drain(until=clock.now + timedelta(hours=1)) == 1
        assert await second.drain(until=clock.now + timedelta(hours=1)) == 0
    clock.now += timedelta(minutes=30)
    with SqliteJournal.open(journal_path) as journal:
        third = dispatcher(journal, clock, slack(sink))
        assert third.raise_alert(alert()) is False
        assert await third.drain(until=clock.now + timedelta(hours=1)) == 0
    assert sink.keys == [alert().key]


async def test_a_failing_webhook_is_reported_by_email_exactly_once(
    sink: Sink,
    journal_path: Path,
    smtp_server: tuple[LocalController, Mailbox],
    trusting: ssl.SSLContext,
) -> None:
    controller, box = smtp_server
    sink.fail_next(5)
    clock = FakeClock()
    with SqliteJournal.open(journal_path) as journal, capture_logs() as logs:
        alerts = dispatcher(
            journal,
            clock,
            slack(sink),
            mailer(controller.port, trusting, min_severity=Severity.ERROR),
        )
        alerts.raise_alert(
            alert("rejections:2026-11-20:1", kind="rejections", severity=Severity.ERROR)
        )
        alerts.raise_alert(alert("pin_risk:2026-11-20:1", kind="pin_risk", attachments=()))
        assert await alerts.drain(until=T0 + timedelta(hours=2)) == 4
    subjects = [m["Subject"] for _, _, m in box.messages]
    assert subjects == [
        "[exerciser ERROR] Exercise preview for 2026-11-20",
        "[exerciser WARNING] Alert channel slack:ops is failing",
    ]
    assert sorted(sink.keys) == ["pin_risk:2026-11-20:1", "rejections:2026-11-20:1"]
    failing = box.messages[1][2].get_body(preferencelist=("plain",))
    assert failing is not None
    assert "answered 500: internal_error" in failing.get_content()
    shown = repr(logs) + json.dumps(journal_state(journal_path))
    assert TOKEN not in shown
    assert PASSWORD not in shown


async def test_a_failing_mail_server_is_reported_on_slack_without_its_password(
    sink: Sink, journal_path: Path, trusting: ssl.SSLContext
) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    clock = FakeClock()
    with SqliteJournal.open(journal_path) as journal, capture_logs() as logs:
        alerts = dispatcher(journal, clock, slack(sink), mailer(port, trusting))
        alerts.raise_alert(alert())
        await alerts.drain(until=T0 + timedelta(minutes=5))
    assert sink.keys == [alert().key, "channel_failing:email:2026-11-20"]
    assert "ConnectionRefusedError" in sink.bodies[1]["blocks"][1]["text"]["text"]
    assert PASSWORD not in repr(logs) + json.dumps(sink.bodies)
