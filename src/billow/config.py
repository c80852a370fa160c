"""Settings, read from ``BILLOW_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLOW_", extra="ignore")

    database_url: str = "sqlite:///./billow.db"
    # Bootstrap of the first organization on an empty database.
    org_api_key: str | None = None
    org_name: str = "Default organization"
    admin_email: str | None = None
    admin_password: str | None = None

    host: str = "127.0.0.1"
    port: int = 3000
    # Public URL of this instance (the `iss` of signed webhooks, links in documents).
    api_url: str = "http://127.0.0.1:3000"
    log_level: str = "info"
    # SQLite waits this long for the write lock before giving up.
    sqlite_busy_timeout_seconds: float = 60.0
    db_pool_size: int = 20
    # How long the event endpoints remember which organization an API key belongs to.
    api_key_cache_seconds: float = 30.0
