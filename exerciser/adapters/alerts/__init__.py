"""Alert channels: Slack incoming webhooks, email over SMTP, and the console.

Each is a ``Notifier`` (see ``exerciser.ports``): ``send`` one alert or raise
``AlertError`` with a message free of secrets. ``notifiers_from_settings`` builds the
configured ones; channel names are ``slack:<name>`` and ``email``.
"""

from __future__ import annotations

from typing import TextIO

from exerciser.adapters.alerts.console import ConsoleChannel
from exerciser.adapters.alerts.email import EmailChannel
from exerciser.adapters.alerts.slack import SlackWebhook
from exerciser.domain.alerts import Severity
from exerciser.ports import Notifier
from exerciser.settings import Settings

__all__ = ["ConsoleChannel", "EmailChannel", "SlackWebhook", "notifiers_from_settings"]


def notifiers_from_settings(settings: Settings, *, console: TextIO | None = None) -> list[Notifier]:
    """Every channel the settings configure, plus the console when ``console`` is given
    (it then hears every alert)."""
    notifiers: list[Notifier] = [
        SlackWebhook(
            name=f"slack:{target.name}",
            url=target.url,
            min_severity=Severity.parse(target.min_severity),
            timeout=settings.alert_timeout,
        )
        for target in settings.slack_webhooks
    ]
    if (email := settings.email) is not None:
        notifiers.append(
            EmailChannel(
                name="email",
                host=email.host,
                port=email.port,
                security=email.security,
                username=email.username,
                password=email.password,
                sender=email.sender,
                recipients=list(email.recipients),
                min_severity=Severity.parse(email.min_severity),
                timeout=settings.alert_timeout,
            )
        )
    if console is not None:
        notifiers.append(ConsoleChannel(out=console))
    return notifiers
