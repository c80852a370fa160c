"""The application's routes: every domain route added flat under /api/v1, described as before."""

from __future__ import annotations

import warnings

from fastapi import APIRouter, FastAPI

from billow.config import Settings
from billow.core.db import Database
from billow.documents.router import router as documents_router
from billow.main import ROUTERS, create_app


def _app(tmp_path) -> FastAPI:  # type: ignore[no-untyped-def]
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"),
                      database=Database(f"sqlite:///{tmp_path / 'routes.db'}"))


def test_every_domain_route_is_served_once_under_api_v1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = _app(tmp_path)
    served = [(route.path, frozenset(route.methods)) for route in app.routes if getattr(route, "methods", None)]
    expected = [("/api/v1" + route.path, frozenset(route.methods)) for router in ROUTERS for route in router.routes]
    assert len(set(served)) == len(served)
    assert set(expected) <= set(served)
    others = {path for path, _methods in set(served) - set(expected)}
    assert others == {"/health", "/documents/{token}.pdf", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def test_openapi_document_is_the_one_of_included_routers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The routes are copied flat for speed; the document must equal the one FastAPI builds when
    the same routers are included the usual way (an attribute the copy missed would show here)."""
    app = _app(tmp_path)
    reference = FastAPI(title=app.title, version=app.version, description=app.description)
    api = APIRouter(prefix="/api/v1")
    for router in ROUTERS:
        api.include_router(router)
    reference.include_router(api)
    reference.include_router(documents_router)
    health = next(route for route in app.routes if getattr(route, "path", None) == "/health")
    reference.add_api_route("/health", health.endpoint, methods=["GET"], tags=["health"])  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a duplicate operation id
        ours = app.openapi()
    assert ours == reference.openapi()
    assert len(ours["paths"]) > 50
