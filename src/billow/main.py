"""The ASGI application: routers, error handlers, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from billow import __version__
from billow.add_ons.router import router as add_ons_router
from billow.billable_metrics.router import router as billable_metrics_router
from billow.config import Settings
from billow.core.db import Database
from billow.core.errors import install_error_handlers
from billow.coupons.router import router as coupons_router
from billow.credit_notes.router import router as credit_notes_router
from billow.customers.router import router as customers_router
from billow.documents.router import router as documents_router
from billow.events.router import IngestMiddleware
from billow.events.router import router as events_router
from billow.fees.router import router as fees_router
from billow.invoices.router import router as invoices_router
from billow.organizations.auth import KeyCache
from billow.organizations.router import router as organizations_router
from billow.plans.router import router as plans_router
from billow.subscriptions.router import router as subscriptions_router
from billow.taxes.router import router as taxes_router
from billow.usage.router import router as usage_router
from billow.webhooks.router import endpoints as webhook_endpoints_router
from billow.webhooks.router import webhooks as webhooks_router

# Every resource router, mounted under /api/v1.
ROUTERS: list[APIRouter] = [
    add_ons_router,
    billable_metrics_router,
    coupons_router,
    credit_notes_router,
    customers_router,
    events_router,
    fees_router,
    invoices_router,
    organizations_router,
    plans_router,
    subscriptions_router,
    taxes_router,
    usage_router,
    webhook_endpoints_router,
    webhooks_router,
]


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    database = database or Database(
        settings.database_url,
        busy_timeout_seconds=settings.sqlite_busy_timeout_seconds,
        pool_size=settings.db_pool_size,
    )
    app = FastAPI(title="Billow", version=__version__, description="Usage-based billing that speaks Lago's API.")
    app.state.settings = settings
    app.state.db = database
    app.state.api_keys = KeyCache(settings.api_key_cache_seconds)
    install_error_handlers(app)
    app.add_middleware(IngestMiddleware)

    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    app.include_router(api)
    app.include_router(documents_router)  # file_url: no API key

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        return {"version": __version__, "github_url": "https://github.com/billow-billing/billow", "message": "Success"}

    return app
