"""Email over SMTP: one message per alert to every recipient, with its attachments.

``smtplib`` is blocking, so each send runs in a worker thread. ``security`` is
``starttls`` (port 587: plain connection upgraded before anything else; a server that
does not offer STARTTLS is an error, never a silent downgrade), ``tls`` (port 465:
TLS from the first byte) or ``none`` (a local relay). Certificates are checked against
the system's CAs unless an ``ssl_context`` is given (tests use their own CA).

The password never appears in an error: SMTP errors are described by their type and
the server's reply, with the password scrubbed in case a server echoes it.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

import structlog
from pydantic import SecretStr

from exerciser.domain.alerts import Alert, Severity
from exerciser.errors import AlertError

log = structlog.get_logger("exerciser.alerts.email")

Security = Literal["starttls", "tls", "none"]
_HIDDEN = "***"


class EmailChannel:
    """A ``Notifier`` sending each alert as one email to all ``recipients``."""

    def __init__(
        self,
        *,
        name: str = "email",
        host: str,
        port: int = 587,
        security: Security = "starttls",
        username: str | None = None,
        password: SecretStr | None = None,
        sender: str,
        recipients: list[str],
        min_severity: Severity = Severity.WARNING,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not recipients:
            raise ValueError("an email channel needs at least one recipient")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.name = name
        self.min_severity = min_severity
        self._host = host
        self._port = port
        self._security = security
        self._username = username
        self._password = password
        self._sender = sender
        self._recipients = list(recipients)
        self._timeout = timeout
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return (
            f"EmailChannel(name={self.name!r}, host={self._host!r}, port={self._port}, "
            f"security={self._security!r}, min_severity={self.min_severity.label})"
        )

    async def send(self, alert: Alert) -> None:
        message = email_message(alert, sender=self._sender, recipients=self._recipients)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        context = self._ssl_context or ssl.create_default_context()
        try:
            smtp = (
                smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
                if self._security == "tls"
                else smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            )
            with smtp:
                if self._security == "starttls":
                    smtp.starttls(context=context)
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password.get_secret_value())
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise AlertError(self._describe(exc), channel=self.name) from exc
        if refused:  # the others have it: sending again would duplicate it for them
            log.warning(
                "alert_recipients_refused",
                channel=self.name,
                recipients=sorted(refused),
                subject=str(message["Subject"]),
            )

    def _describe(self, exc: BaseException) -> str:
        detail = " ".join(str(exc).split())
        text = f"SMTP {self._host}:{self._port}: {type(exc).__name__}" + (
            f": {detail}" if detail else ""
        )
        if self._password is not None and self._password.get_secret_value():
            text = text.replace(self._password.get_secret_value(), _HIDDEN)
        return text


def email_message(alert: Alert, *, sender: str, recipients: list[str]) -> EmailMessage:
    """The message: ``[exerciser WARNING] title``, the text as the plain body, each
    attachment as a base64 MIME part, and the alert's kind and key in a header."""
    message = EmailMessage()
    message["Subject"] = f"[exerciser {alert.severity.name}] {alert.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "exerciser.invalid"
    message["Message-ID"] = make_msgid(idstring="exerciser", domain=domain)
    message["X-Exerciser-Alert"] = f"{alert.kind} {alert.key}"
    footer = f"\n\n-- \n{alert.severity.name} · {alert.kind} · {alert.key}\n"
    message.set_content(alert.text.rstrip() + footer, charset="utf-8")
    for attachment in alert.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype.split(";")[0].strip(),
            filename=attachment.filename,
        )
    return message
