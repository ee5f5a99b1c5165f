"""The one place that builds adapters from settings."""

from __future__ import annotations

from pydantic import SecretStr

from exerciser import __version__
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.settings import Settings, require_api_key


def build_client(settings: Settings, *, api_key: SecretStr | None = None) -> ClearStreetClient:
    """A Clear Street client configured from ``settings``."""
    return ClearStreetClient(
        base_url=settings.api_base_url,
        api_key=api_key or require_api_key(settings),
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        concurrency=settings.concurrency,
        page_size=settings.page_size,
        id_field=settings.instruction_id_field,
        retry=RetryPolicy(attempts=settings.retry_attempts),
        user_agent=f"exerciser/{__version__}",
    )
