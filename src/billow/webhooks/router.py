"""``/webhook_endpoints`` (Lago) and ``/webhooks`` (the public key, as Lago; the delivery log and
manual resend, Billow's own). HTTP only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from billow.core.db import DbSession
from billow.core.errors import ValidationFailed
from billow.core.pagination import Paging, page_response
from billow.core.wire import JsonBody, RootBody, dump
from billow.organizations.auth import CurrentOrg
from billow.webhooks import repository, service, signing
from billow.webhooks.schemas import STATUSES, WebhookAttemptOut, WebhookEndpointIn, endpoint_json, webhook_json

endpoints = APIRouter(prefix="/webhook_endpoints", tags=["webhook_endpoints"])
webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"])


@endpoints.post("")
def create_endpoint(
    org: CurrentOrg, session: DbSession, data: WebhookEndpointIn = RootBody("webhook_endpoint", WebhookEndpointIn)
) -> dict[str, Any]:
    return {"webhook_endpoint": endpoint_json(service.create_endpoint(session, org, data))}


@endpoints.get("")
def list_endpoints(org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    return page_response("webhook_endpoints", session, repository.endpoints_query(org.id), paging, endpoint_json)


@endpoints.get("/{lago_id}")
def get_endpoint(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"webhook_endpoint": endpoint_json(repository.get_endpoint(session, org.id, lago_id))}


@endpoints.put("/{lago_id}")
def update_endpoint(
    lago_id: str, org: CurrentOrg, session: DbSession,
    data: WebhookEndpointIn = RootBody("webhook_endpoint", WebhookEndpointIn), payload: Any = JsonBody(),
) -> dict[str, Any]:
    sent = payload["webhook_endpoint"]
    all_types = "event_types" in sent and sent["event_types"] is None
    endpoint = service.update_endpoint(session, org, lago_id, data, all_event_types=all_types)
    return {"webhook_endpoint": endpoint_json(endpoint)}


@endpoints.delete("/{lago_id}")
def delete_endpoint(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"webhook_endpoint": endpoint_json(service.delete_endpoint(session, org, lago_id))}


@webhooks.get("/json_public_key")
def json_public_key(request: Request, org: CurrentOrg) -> dict[str, Any]:
    return {"webhook": {"public_key": signing.public_key_base64(request.app.state.db)}}


@webhooks.get("/public_key")
def public_key(request: Request, org: CurrentOrg) -> PlainTextResponse:
    return PlainTextResponse(signing.public_key_base64(request.app.state.db))


@webhooks.get("")
def list_webhooks(request: Request, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed.field("status", "value_is_invalid")
    query = repository.webhooks_query(org.id, status, request.query_params.get("webhook_type"))
    return page_response("webhooks", session, query, paging, webhook_json)


@webhooks.get("/{lago_id}")
def get_webhook(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"webhook": webhook_json(repository.get_webhook(session, org.id, lago_id))}


@webhooks.get("/{lago_id}/attempts")
def list_attempts(lago_id: str, org: CurrentOrg, session: DbSession, paging: Paging) -> dict[str, Any]:
    webhook = repository.get_webhook(session, org.id, lago_id)
    return page_response("webhook_attempts", session, repository.attempts_query(webhook.id), paging,
                         lambda attempt: dump(WebhookAttemptOut, attempt))


@webhooks.post("/{lago_id}/retry")
def retry_webhook(lago_id: str, org: CurrentOrg, session: DbSession) -> dict[str, Any]:
    return {"webhook": webhook_json(service.retry(session, org, lago_id))}
