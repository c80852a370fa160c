from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from billow.core import clock, jsontext
from billow.core.db import Database, ReadSession
from billow.core.errors import LagoError, MissingRoot, NotFound, ValidationFailed
from billow.core.pagination import Paging, paginate
from billow.core.query import datetime_param
from billow.core.wire import read_json
from billow.events import service
from billow.events.schemas import MAX_BATCH, EventIn, event_out, events_json, parse_event
from billow.models import Event as EventRow
from billow.organizations.auth import CachedOrgId, ReadingOrg, cached_organization_id
from billow.usage import estimate

router = APIRouter(prefix="/events", tags=["events"])


def _json(body: dict[str, Any]) -> Response:
    return Response(jsontext.dumps(body), media_type="application/json")


def _one(payload: Any, *, require_transaction_id: bool = True) -> EventIn:
    raw = payload.get("event") if isinstance(payload, dict) else None
    if not raw:
        raise MissingRoot("event")
    parsed = parse_event(raw, clock.now(), require_transaction_id=require_transaction_id)
    if isinstance(parsed, dict):
        raise ValidationFailed(parsed)
    return parsed


def _many(payload: Any) -> list[EventIn]:
    raw = payload.get("events") if isinstance(payload, dict) else None
    if raw is None:
        raise MissingRoot("events")
    if not isinstance(raw, list):
        raise ValidationFailed.field("events", "value_is_invalid")
    if not raw:
        raise ValidationFailed.field("events", "no_events")
    if len(raw) > MAX_BATCH:
        raise ValidationFailed.field("events", "too_many_events")
    now = clock.now()
    parsed = [parse_event(item, now) for item in raw]
    errors = {str(index): item for index, item in enumerate(parsed) if isinstance(item, dict)}
    if errors:
        raise ValidationFailed(errors)  # type: ignore[arg-type]
    return parsed  # type: ignore[return-value]


async def _store(request: Request, org_id: Any, events: list[EventIn], *, batch: bool) -> list[Any]:
    database: Database = request.app.state.db
    return await database.group_commit.submit_async(  # type: ignore[no-any-return]
        service.ingest_requests,
        service.IngestRequest(org_id, events, batch))


async def ingest(request: Request, org_id: uuid.UUID, *, batch: bool) -> str:
    """Store the body's event(s) once committed; the answer's JSON text."""
    payload = await read_json(request, exact=True)
    if batch:
        stored = await _store(request, org_id, _many(payload), batch=True)
        return '{"events":[' + ",".join(events_json(stored)) + "]}"
    stored = await _store(request, org_id, [_one(payload)], batch=False)
    return '{"event":' + events_json(stored)[0] + "}"


@router.post("")
async def create_event(request: Request, org_id: CachedOrgId) -> Response:
    return Response(await ingest(request, org_id, batch=False), media_type="application/json")


@router.post("/batch")
async def create_batch(request: Request, org_id: CachedOrgId) -> Response:
    return Response(await ingest(request, org_id, batch=True), media_type="application/json")


class IngestMiddleware:
    """``POST /api/v1/events`` and ``/events/batch`` handled before the framework's routing.

    The two routes above describe them (OpenAPI) and answer the same; this serves them without
    the router's matching, dependency solving and middleware layers, which cost more per request
    than storing a single event. Authentication, parsing, storage and errors are the same code.
    """

    PATHS = {"/api/v1/events": False, "/api/v1/events/batch": True}

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        batch = self.PATHS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if batch is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            status, body = 200, await ingest(request, await cached_organization_id(request), batch=batch)
        except LagoError as exc:
            status, body = exc.status, jsontext.dumps(exc.body())
        encoded = body.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]})
        await send({"type": "http.response.body", "body": encoded})


@router.post("/estimate_fees")
async def estimate_fees(request: Request, org: ReadingOrg) -> Response:
    event = _one(await read_json(request, exact=True), require_transaction_id=False)
    database: Database = request.app.state.db

    def run() -> list[dict[str, Any]]:
        with database.unit_of_work(write=False) as session:
            return estimate.estimate_fees(session, org, event)

    return _json({"fees": await run_in_threadpool(run)})


@router.get("")
def list_events(request: Request, org: ReadingOrg, session: ReadSession, paging: Paging) -> Response:
    params = request.query_params
    query = select(EventRow).where(EventRow.organization_id == org.id)
    if params.get("external_subscription_id"):
        query = query.where(EventRow.external_subscription_id == params["external_subscription_id"])
    if params.get("code"):
        query = query.where(EventRow.code == params["code"])
    if params.get("timestamp_from"):
        query = query.where(EventRow.timestamp >= datetime_param("timestamp_from", params["timestamp_from"]))
    if params.get("timestamp_to"):
        query = query.where(EventRow.timestamp <= datetime_param("timestamp_to", params["timestamp_to"]))
    if params.get("unmatched") in ("true", "1"):
        query = query.where(service.unmatched())
    rows, meta = paginate(session, query.order_by(EventRow.timestamp.desc(), EventRow.id.desc()), paging)
    return _json({"events": [event_out(row) for row in rows], "meta": meta})


@router.get("/{transaction_id}")
def get_event(transaction_id: str, org: ReadingOrg, session: ReadSession) -> Response:
    row = session.scalars(
        select(EventRow)
        .where(EventRow.organization_id == org.id, EventRow.transaction_id == transaction_id)
        .order_by(EventRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound("event")
    return _json({"event": event_out(row)})
