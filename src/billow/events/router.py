from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from billow.core import clock, jsontext
from billow.core.db import Database, ReadSession
from billow.core.errors import MissingRoot, NotFound, ValidationFailed
from billow.core.pagination import Paging, paginate
from billow.core.query import datetime_param
from billow.core.wire import read_json
from billow.events import service
from billow.events.schemas import MAX_BATCH, EventIn, event_out, parse_event
from billow.models import Event as EventRow
from billow.organizations.auth import ReadingOrg
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
    return await run_in_threadpool(  # type: ignore[no-any-return]
        database.group_commit.submit, service.ingest_requests, service.IngestRequest(org_id, events, batch)
    )


@router.post("")
async def create_event(request: Request, org: ReadingOrg) -> Response:
    event = _one(await read_json(request, exact=True))
    stored = await _store(request, org.id, [event], batch=False)
    return _json({"event": event_out(stored[0])})


@router.post("/batch")
async def create_batch(request: Request, org: ReadingOrg) -> Response:
    events = _many(await read_json(request, exact=True))
    stored = await _store(request, org.id, events, batch=True)
    return _json({"events": [event_out(row) for row in stored]})


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
