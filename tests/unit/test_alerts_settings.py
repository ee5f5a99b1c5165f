"""Alert settings: Slack webhooks and email from TOML tables and from JSON in the
environment, the channels built from them, and problem lines that never echo a webhook
URL or a password."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from exerciser.adapters.alerts import (
    ConsoleChannel,
    EmailChannel,
    SlackWebhook,
    notifiers_from_settings,
)
from exerciser.domain.alerts import Severity
from exerciser.errors import ConfigError
from exerciser.settings import EmailTarget, SlackTarget, load_settings

ROOT = Path(__file__).resolve().parents[2]
HOOK = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tT0k3nXYZ"
PLAIN_HOOK = HOOK.replace("https", "http")  # plain http to a host that is not local
PASSWORD = "pa55-w0rd-never-shown"

TOML = f"""
alert_timeout = 4.5

[[slack_webhooks]]
name = "ops"
url = "{HOOK}"

[[slack_webhooks]]
name = "desk"
url = "https://hooks.slack.com/services/T1/B1/other"
min_severity = "error"

[email]
host = "smtp.example.com"
username = "exerciser"
password = "{PASSWORD}"
sender = "Exerciser <exerciser@example.com>"
recipients = ["ops@example.com", "desk@example.com"]
min_severity = "critical"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(env: dict[str, str], *, config: Path | None = None) -> str:
    cli = {"config": config} if config else {}
    with pytest.raises(ConfigError) as info:
        load_settings(cli, environ=env)
    assert all("\n" not in p for p in info.value.problems)
    return "\n".join(info.value.problems)


def test_no_alert_channel_by_default() -> None:
    settings = load_settings({}, environ={})
    assert settings.slack_webhooks == []
    assert settings.email is None
    assert settings.alert_timeout == 10.0
    assert notifiers_from_settings(settings) == []


def test_alert_channels_load_from_toml_tables(tmp_path: Path) -> None:
    settings = load_settings({"config": write(tmp_path / "c.toml", TOML)}, environ={})
    ops, desk = settings.slack_webhooks
    assert (ops.name, ops.min_severity, desk.min_severity) == ("ops", "warning", "error")
    assert ops.url.get_secret_value() == HOOK
    assert HOOK not in repr(settings)
    email = settings.email
    assert email is not None
    assert (email.host, email.port, email.security) == ("smtp.example.com", 587, "starttls")
    assert email.recipients == ["ops@example.com", "desk@example.com"]
    assert email.password is not None
    assert email.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings)
    assert settings.alert_timeout == 4.5


def test_alert_channels_load_from_json_in_the_environment() -> None:
    env = {
        "EXERCISER_SLACK_WEBHOOKS": f'[{{"name": "ops", "url": "{HOOK}"}}]',
        "EXERCISER_EMAIL": (
            '{"host": "smtp.example.com", "port": 465, "security": "tls",'
            ' "sender": "x@example.com", "recipients": ["ops@example.com"]}'
        ),
        "EXERCISER_ALERT_TIMEOUT": "3",
    }
    settings = load_settings({}, environ=env)
    [ops] = settings.slack_webhooks
    assert ops == SlackTarget(name="ops", url=HOOK, min_severity="warning")  # type: ignore[arg-type]
    assert settings.email == EmailTarget(
        host="smtp.example.com",
        port=465,
        security="tls",
        sender="x@example.com",
        recipients=["ops@example.com"],
    )
    assert settings.alert_timeout == 3


def test_the_environment_replaces_the_files_webhooks(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", TOML)
    env = {"EXERCISER_SLACK_WEBHOOKS": "[]", "EXERCISER_EMAIL": ""}
    settings = load_settings({"config": config}, environ=env)
    assert settings.slack_webhooks == []
    assert settings.email is None


def test_channels_are_built_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings({"config": write(tmp_path / "c.toml", TOML)}, environ={})
    console = io.StringIO()
    ops, desk, email, shown = notifiers_from_settings(settings, console=console)
    assert isinstance(ops, SlackWebhook)
    assert isinstance(desk, SlackWebhook)
    assert isinstance(email, EmailChannel)
    assert isinstance(shown, ConsoleChannel)
    assert [n.name for n in (ops, desk, email, shown)] == [
        "slack:ops",
        "slack:desk",
        "email",
        "console",
    ]
    assert [n.min_severity for n in (ops, desk, email, shown)] == [
        Severity.WARNING,
        Severity.ERROR,
        Severity.CRITICAL,
        Severity.INFO,
    ]
    assert HOOK not in repr(ops)
    assert PASSWORD not in repr(email)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"EXERCISER_SLACK_WEBHOOKS": f'[{{"name": "ops", "url": "{HOOK}", "colour": 1}}]'},
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks.0.colour: unknown setting",
        ),
        (
            {"EXERCISER_SLACK_WEBHOOKS": f'[{{"name": "ops", "url": "{PLAIN_HOOK}"}}]'},
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks.0.url = '***': must be an https URL",
        ),
        (
            {"EXERCISER_SLACK_WEBHOOKS": f'[{{"url": "{HOOK}"}}]'},
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks.0.name = '***': Field required",
        ),
        (
            {"EXERCISER_SLACK_WEBHOOKS": f'[{{"name": "ops", "url": "{HOOK}"'},
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks = '***': not valid JSON",
        ),
        (
            {"EXERCISER_SLACK_WEBHOOKS": HOOK},
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks = '***': Input should be a valid list",
        ),
        (
            {
                "EXERCISER_SLACK_WEBHOOKS": (
                    f'[{{"name": "ops", "url": "{HOOK}"}}, {{"name": "ops", "url": "{HOOK}"}}]'
                )
            },
            "EXERCISER_SLACK_WEBHOOKS: slack_webhooks = '***': webhook names must be unique: ops",
        ),
        (
            {"EXERCISER_SLACK_WEBHOOKS": f'[{{"name": "o", "url": "{HOOK}", "min_severity": 0}}]'},
            "slack_webhooks.0.min_severity = '***': Input should be 'info', 'warning'",
        ),
    ],
    ids=["unknown-key", "plain-http", "no-name", "bad-json", "bare-url", "dupes", "severity"],
)
def test_a_webhook_problem_never_shows_the_url(env: dict[str, str], expected: str) -> None:
    text = problems_of(env)
    assert expected in text
    assert "s3cr3t" not in text
    assert "T0AAA" not in text


EMAIL = '"host": "smtp.example.com", "sender": "x@example.com", "recipients": ["o@example.com"]'


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        (
            f'{{"host": "smtp.example.com", "username": "u", "password": "{PASSWORD}",'
            ' "recipients": ["o@example.com"]}',
            "EXERCISER_EMAIL: email.sender = {'host': 'smtp.example.com', 'username': 'u',"
            " 'password': '***', 'recipients': ['o@example.com']}: Field required",
        ),
        (
            f'{{{EMAIL}, "username": "u", "password": {{"x": "{PASSWORD}"}}}}',
            "EXERCISER_EMAIL: email.password = '***': Input should be a valid string",
        ),
        (
            f'{{{EMAIL}, "security": "none", "username": "u", "password": "{PASSWORD}"}}',
            "EXERCISER_EMAIL: email = '***': security = \"none\" would send the password in clear",
        ),
        (
            f'{{{EMAIL}, "password": "{PASSWORD}"}}',
            "EXERCISER_EMAIL: email = '***': give both username and password, or neither",
        ),
        (
            f'{{"host": "h", "password": "{PASSWORD}"',
            "EXERCISER_EMAIL: email = '***': not valid JSON",
        ),
        (
            f'{{{EMAIL}, "port": 0, "password": "{PASSWORD}", "username": "u"}}',
            "EXERCISER_EMAIL: email.port = 0: Input should be greater than or equal to 1",
        ),
        (
            '{"host": "h", "sender": "nobody", "recipients": []}',
            "EXERCISER_EMAIL: email.recipients = []: List should have at least 1 item",
        ),
        (
            '{"host": "h", "sender": "nobody", "recipients": ["o@example.com"]}',
            "EXERCISER_EMAIL: email.sender = 'nobody': must be an email address",
        ),
    ],
    ids=["missing", "not-a-string", "cleartext", "no-user", "bad-json", "port", "none", "sender"],
)
def test_an_email_problem_never_shows_the_password(email: str, expected: str) -> None:
    text = problems_of({"EXERCISER_EMAIL": email})
    assert expected in text
    assert PASSWORD not in text


def test_problems_in_the_file_name_the_file_and_hide_the_secrets(tmp_path: Path) -> None:
    bad = TOML.replace('name = "desk"', 'name = "Desk Team"').replace("587", "x")
    bad = bad.replace('sender = "Exerciser <exerciser@example.com>"', "")
    config = write(tmp_path / "c.toml", bad)
    text = problems_of({}, config=config)
    assert f"{config}: slack_webhooks.1.name = '***': String should match pattern" in text
    assert f"{config}: email.sender = " in text
    assert "'password': '***'" in text
    assert PASSWORD not in text
    assert "s3cr3t" not in text


def test_a_clear_text_password_is_allowed_to_a_local_relay() -> None:
    env = {
        "EXERCISER_EMAIL": f"{{{EMAIL.replace('smtp.example.com', '127.0.0.1')}, "
        f'"security": "none", "username": "u", "password": "p"}}'
    }
    email = load_settings({}, environ=env).email
    assert email is not None
    assert email.security == "none"


def test_the_example_config_documents_every_alert_setting_and_they_load(tmp_path: Path) -> None:
    """Uncommenting the example's alert section (the file's last) gives valid settings."""
    example = (ROOT / "deploy" / "exerciser.example.toml").read_text(encoding="utf-8")
    section = example[example.index("# Alerts:") :]
    lines = [
        line.removeprefix("# ")
        for line in section.splitlines()
        if re.match(r"# (\[\[?\w+\]\]?$|\w+ = )", line)
    ]
    config = write(
        tmp_path / "c.toml", "\n".join(lines).replace('password = "..."', 'password = "p"')
    )
    settings = load_settings({"config": config}, environ={})
    assert [t.name for t in settings.slack_webhooks] == ["ops"]
    assert settings.email is not None
    assert settings.email.recipients == ["ops@example.com", "options-desk@example.com"]
    documented = {line.split(" = ")[0] for line in lines if " = " in line}
    fields = {"alert_timeout"} | set(SlackTarget.model_fields) | set(EmailTarget.model_fields)
    assert fields <= documented
