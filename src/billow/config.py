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
    # Invoice and credit-note PDFs (billow.documents): off, no document is rendered and
    # `invoice.generated` / `credit_note.generated` are not sent (Lago's LAGO_DISABLE_PDF_GENERATION).
    # Their `file_url` is built on `api_url` above.
    disable_pdf_generation: bool = False
    log_level: str = "info"
    # SQLite waits this long for the write lock before giving up.
    sqlite_busy_timeout_seconds: float = 60.0
    db_pool_size: int = 20
    # How long the event and usage endpoints remember which organization an API key belongs to.
    api_key_cache_seconds: float = 30.0

    # ---- background work (README "Jobs and periodic services") ----
    # `billow serve` runs a worker thread in the same process.
    worker_enabled: bool = True
    # Worker threads of `billow worker` (PostgreSQL; SQLite always runs one).
    worker_threads: int = 1
    # How often an idle worker looks for due jobs.
    worker_poll_seconds: float = 0.5
    # Jobs a worker claims at once (all under one lease: keep batch x webhook timeout < lease).
    worker_batch: int = 5
    # A claimed job is the worker's for this long; after that (the worker died) it runs again.
    job_lease_seconds: int = 300
    # Jobs other than webhook deliveries: attempts, then the wait before attempt n+1 is
    # base * 2**(n-1) seconds, capped, plus up to 10% jitter.
    job_max_attempts: int = 10
    job_backoff_base_seconds: float = 10.0
    job_backoff_cap_seconds: float = 3600.0
    # Finished (done) jobs are deleted after this many days; dead jobs are kept.
    jobs_retention_days: int = 7

    # ---- webhook delivery ----
    webhook_timeout_seconds: float = 30.0
    # With the defaults the attempts span more than 24 hours (README "Webhooks").
    webhook_max_attempts: int = 15
    webhook_backoff_base_seconds: float = 30.0
    webhook_backoff_cap_seconds: float = 21600.0
    # Events the event_errors service checks per organization and run.
    event_errors_batch: int = 1000
    # Events the draft_refresh service reads per organization and batch.
    draft_refresh_batch: int = 10000
    # Pay-in-advance charge fees: events per transaction, and how old an event must be to be
    # priced (a younger id may still commit out of order).
    pay_in_advance_fees_batch: int = 500
    pay_in_advance_fees_settle_seconds: int = 5

    # ---- periodic services: BILLOW_PERIODIC_<NAME>_INTERVAL (seconds) and _ENABLED ----
    periodic_billing_clock_interval: int = 3600
    periodic_billing_clock_enabled: bool = True
    periodic_webhook_sweeper_interval: int = 300
    periodic_webhook_sweeper_enabled: bool = True
    periodic_event_errors_interval: int = 300
    periodic_event_errors_enabled: bool = True
    periodic_pay_in_advance_fees_interval: int = 5
    periodic_pay_in_advance_fees_enabled: bool = True
    periodic_jobs_cleanup_interval: int = 3600
    periodic_jobs_cleanup_enabled: bool = True
    periodic_draft_refresh_interval: int = 300
    periodic_draft_refresh_enabled: bool = True
    periodic_progressive_billing_interval: int = 60
    periodic_progressive_billing_enabled: bool = True
