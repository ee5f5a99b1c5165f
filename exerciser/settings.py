"""Settings: one model, four layers.

Precedence, highest first: command-line flags > environment (``EXERCISER_*``) > TOML
config file (``--config PATH`` or ``EXERCISER_CONFIG``) > defaults. ``load_settings``
builds the layers explicitly, so every problem can name the layer it came from.

The API key is a ``SecretStr``. It comes from ``EXERCISER_API_KEY`` (or ``api_key``
in the config file), else from the file named by ``api_key_file``, else from
``$CREDENTIALS_DIRECTORY/api_key`` (systemd ``LoadCredential=api_key:...``). There is
deliberately no command-line flag for it: flags show up in ``ps`` and shell history.

Alert channels: ``slack_webhooks`` (TOML ``[[slack_webhooks]]`` tables, or JSON in
``EXERCISER_SLACK_WEBHOOKS``) and ``email`` (a TOML ``[email]`` table, or JSON in
``EXERCISER_EMAIL``). Webhook URLs and the SMTP password are secrets: no problem line
echoes them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from exerciser.errors import ConfigError

PRODUCTION_URL = "https://api.clearstreet.com"
ENV_PREFIX = "EXERCISER_"
SECRET_FIELDS = frozenset({"api_key", "slack_webhooks"})  # a problem here never shows its value
SECRET_PATHS = frozenset({("email",), ("email", "password")})  # ... nor at exactly these
SECRET_KEYS = frozenset({"api_key", "password", "url"})  # masked inside any value shown
SeverityName = Literal["info", "warning", "error", "critical"]


def _account_list(value: Any) -> Any:
    """Accept ``[1, 2]`` (TOML, JSON) or ``1,2`` (environment, flags)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return value  # let validation say what is wrong
    return [part.strip() for part in text.split(",") if part.strip()]


AccountIds = Annotated[list[Annotated[int, Field(gt=0)]], NoDecode, BeforeValidator(_account_list)]


def _json_table(value: Any) -> Any:
    """A table comes as a TOML table, or as JSON text from the environment."""
    return _json_value(value, empty=None)


def _json_tables(value: Any) -> Any:
    """Tables come as TOML arrays of tables, or as a JSON list from the environment."""
    return _json_value(value, empty=[])


def _json_value(value: Any, *, empty: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return empty
    if text[0] not in "[{":
        return value  # let validation say what is wrong
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None


def _address(value: str) -> str:
    name, address = parseaddr(value)
    del name
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError("must be an email address such as ops@example.com")
    return value


class SlackTarget(BaseModel):
    """One Slack incoming webhook; its channel is named ``slack:<name>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    url: SecretStr
    min_severity: SeverityName = "warning"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
            return value  # a local test sink
        raise ValueError("must be an https URL (https://hooks.slack.com/services/...)")


class EmailTarget(BaseModel):
    """SMTP delivery of alerts to a fixed list of recipients; the channel ``email``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    min_severity: SeverityName = "warning"

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @model_validator(mode="after")
    def _check_login(self) -> EmailTarget:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.password is not None and self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                'security = "none" would send the password in clear text; use starttls or tls'
            )
        return self


class Settings(BaseSettings):
    """Everything the daemon can be told. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    api_base_url: str = PRODUCTION_URL
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    instruction_id_field: Literal["instruction_id", "client_instruction_id"] = "instruction_id"
    accounts: Annotated[
        list[Annotated[int, Field(gt=0)]], NoDecode, BeforeValidator(_account_list)
    ] = Field(default_factory=list)
    rules_file: Path | None = None
    state_dir: Path = Path("state")
    dry_run: bool = False
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    read_timeout: float = Field(default=30.0, gt=0, le=600)
    concurrency: int = Field(default=8, ge=1, le=256)
    page_size: int = Field(default=1000, ge=1, le=1000)
    retry_attempts: int = Field(default=4, ge=1, le=20)
    batch_size: int = Field(default=50, ge=1, le=1000)
    cutoff_margin_minutes: int = Field(default=30, ge=0, le=240)
    poll_interval: float = Field(default=2.0, gt=0, le=300)
    poll_max_interval: float = Field(default=30.0, gt=0, le=600)
    # The daemon's day, in America/New_York, relative to each session's close.
    morning_check_at: time = time(9, 0)
    preview_minutes_before_close: int = Field(default=30, ge=0, le=390)
    capture_seconds_after_close: int = Field(default=30, ge=0, le=600)
    submit_minutes_after_close: int = Field(default=10, ge=0, le=90)
    reevaluate: bool = False
    reevaluate_every_minutes: int = Field(default=15, ge=1, le=120)
    # Alerts: Slack incoming webhooks, email, and how long one delivery may take.
    slack_webhooks: Annotated[list[SlackTarget], NoDecode, BeforeValidator(_json_tables)] = Field(
        default_factory=list
    )
    email: Annotated[EmailTarget | None, NoDecode, BeforeValidator(_json_table)] = None
    alert_timeout: float = Field(default=10.0, gt=0, le=120)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges the layers itself; the model only validates.
        return (init_settings,)

    @field_validator("api_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://api.clearstreet.com")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("plain http is only allowed to 127.0.0.1 or localhost (the simulator)")
        return value.rstrip("/")

    @field_validator("slack_webhooks")
    @classmethod
    def _unique_names(cls, value: list[SlackTarget]) -> list[SlackTarget]:
        names = [t.name for t in value]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"webhook names must be unique: {', '.join(dupes)}")
        return value

    @property
    def talks_to_simulator(self) -> bool:
        host = urlsplit(self.api_base_url).hostname or ""
        return _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(
    cli: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags, environment, config file and defaults; raise ``ConfigError`` listing
    every problem (field, value, why), with secrets never echoed."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (cli or {}).items() if v is not None}
    config_path = flags.pop("config", None) or environ.get(f"{ENV_PREFIX}CONFIG")
    layers: list[tuple[str, dict[str, Any]]] = [("flag", flags)]
    layers.append(("env", _env_layer(environ)))
    if config_path:
        layers.append((str(config_path), _toml_layer(Path(config_path))))
    merged: dict[str, Any] = {}
    for _, values in reversed(layers):
        merged.update(values)
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError([_describe(err, layers) for err in exc.errors()]) from None
    return _with_api_key(settings, environ)


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    source = _EnvSource(Settings, environ)
    values = source()
    return {k: v for k, v in values.items() if k in Settings.model_fields}


class _EnvSource(EnvSettingsSource):
    """The library's env source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls, case_sensitive=False, env_prefix=ENV_PREFIX)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items()}


def _toml_layer(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"config file {str(path)!r}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config file {str(path)!r}: invalid TOML: {exc}"]) from None
    return data


def _describe(error: Mapping[str, Any], layers: list[tuple[str, dict[str, Any]]]) -> str:
    loc = [str(p) for p in error["loc"]]
    field = loc[0] if loc else "settings"
    where = "default"
    for layer, values in layers:
        if field in values:
            names = {"flag": f"--{field.replace('_', '-')}", "env": f"{ENV_PREFIX}{field.upper()}"}
            where = names.get(layer, layer)
            break
    if error["type"] == "extra_forbidden":
        return f"{where}: {'.'.join(loc)}: unknown setting"
    secret = field in SECRET_FIELDS or tuple(loc) in SECRET_PATHS
    shown = "'***'" if secret else repr(_masked(error.get("input")))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {'.'.join(loc)} = {shown}: {message}"


def _masked(value: Any) -> Any:
    """``value`` with every secret-named entry hidden, however deep (a missing field's
    problem shows the whole table it is missing from)."""
    if isinstance(value, Mapping):
        return {k: "***" if str(k).lower() in SECRET_KEYS else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _with_api_key(settings: Settings, environ: Mapping[str, str]) -> Settings:
    if settings.api_key is not None:
        return settings
    if settings.api_key_file is not None:
        key = _read_key(settings.api_key_file, "api_key_file")
    else:
        creds = environ.get("CREDENTIALS_DIRECTORY")
        if not creds or not (Path(creds) / "api_key").exists():
            return settings
        key = _read_key(Path(creds) / "api_key", "$CREDENTIALS_DIRECTORY/api_key")
    return settings.model_copy(update={"api_key": SecretStr(key)})


def _read_key(path: Path, what: str) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([f"{what}: {str(path)!r}: cannot read: {exc.strerror}"]) from None
    if not key:
        raise ConfigError([f"{what}: {str(path)!r}: file is empty"])
    return key


def require_api_key(settings: Settings) -> SecretStr:
    """The key, or a ConfigError saying every way to provide one."""
    if settings.api_key is None:
        raise ConfigError(
            [
                "api_key: missing: set EXERCISER_API_KEY, or api_key_file, "
                "or run under systemd with LoadCredential=api_key:PATH"
            ]
        )
    return settings.api_key
