"""Webhook rules: endpoints (at most 10 per organization, URL unique per organization), the outbox
(:func:`emit`), recording delivery attempts, and resending by hand. Nothing here commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from billow.core import jsontext
from billow.core.errors import NotAllowed, ValidationFailed
from billow.customers.repository import lock_organization
from billow.jobs import queue
from billow.models import Organization, Webhook, WebhookAttempt, WebhookEndpoint
from billow.webhooks import repository
from billow.webhooks.schemas import MAX_ENDPOINTS, WebhookEndpointIn

DELIVER = "webhooks.deliver"
EXCERPT_CHARS = 1024


# ---- endpoints ----------------------------------------------------------------------------------


def create_endpoint(session: Session, organization: Organization, data: WebhookEndpointIn) -> WebhookEndpoint:
    if data.webhook_url is None:
        raise ValidationFailed.field("webhook_url", "value_is_mandatory")
    lock_organization(session, organization.id)
    if repository.count_endpoints(session, organization.id) >= MAX_ENDPOINTS:
        raise ValidationFailed.field("base", "webhook_endpoints_limit_reached")
    if repository.url_taken(session, organization.id, data.webhook_url):
        raise ValidationFailed.field("webhook_url", "value_already_exist")
    endpoint = WebhookEndpoint(
        organization_id=organization.id, webhook_url=data.webhook_url, signature_algo=data.signature_algo or "jwt",
        name=data.name, event_types=data.event_types,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(session: Session, organization: Organization, lago_id: str, data: WebhookEndpointIn,
                    *, all_event_types: bool = False) -> WebhookEndpoint:
    """Change the keys sent; ``all_event_types`` (an explicit ``"event_types": null``) subscribes
    the endpoint to every type again."""
    endpoint = repository.get_endpoint(session, organization.id, lago_id)
    if data.webhook_url is not None and repository.url_taken(session, organization.id, data.webhook_url, endpoint.id):
        raise ValidationFailed.field("webhook_url", "value_already_exist")
    for key, value in data.changes().items():
        setattr(endpoint, key, value)
    if all_event_types:
        endpoint.event_types = None
    session.flush()
    return endpoint


def delete_endpoint(session: Session, organization: Organization, lago_id: str) -> WebhookEndpoint:
    """Removes the endpoint and its webhooks (pending deliveries to it are dropped)."""
    endpoint = repository.get_endpoint(session, organization.id, lago_id)
    session.delete(endpoint)
    session.flush()
    return endpoint


# ---- the outbox ---------------------------------------------------------------------------------


def _body(envelope: dict[str, Any]) -> str:
    try:
        return jsontext.dumps(envelope)  # exact decimals, as the API writes them
    except TypeError:
        return json.dumps(envelope, default=str, separators=(",", ":"))


def emit(session: Session, organization_id: uuid.UUID, webhook_type: str, object_type: str,
         payload: dict[str, Any], *, endpoints_of: list[WebhookEndpoint] | None = None) -> list[Webhook]:
    """Record ``webhook_type`` for every endpoint of the organization that listens to it, in the
    caller's transaction, with its delivery job: nothing is sent unless the change commits. The
    body is serialized here, once. ``endpoints_of``: the organization's endpoints, when the caller
    emits many webhooks and has read them once."""
    if endpoints_of is None:
        endpoints_of = repository.endpoints_for(session, organization_id)
    endpoints = [endpoint for endpoint in endpoints_of if listens(endpoint, webhook_type)]
    if not endpoints:
        return []
    body = _body({"webhook_type": webhook_type, "object_type": object_type,
                  "organization_id": str(organization_id), object_type: payload})
    webhooks = []
    for endpoint in endpoints:
        webhook = Webhook(id=uuid.uuid4(), organization_id=organization_id, webhook_endpoint_id=endpoint.id,
                          webhook_type=webhook_type, object_type=object_type, body=body, status="pending", retries=0)
        webhook.job_id = queue.enqueue(session, DELIVER, {"webhook_id": str(webhook.id)},
                                       dedupe_key=f"webhook:{webhook.id}")
        session.add(webhook)
        webhooks.append(webhook)
    session.flush()
    return webhooks


def emit_many(session: Session, organization_id: uuid.UUID, webhook_type: str, object_type: str,
              payloads: Iterable[dict[str, Any]], *, endpoints_of: list[WebhookEndpoint] | None = None) -> int:
    """:func:`emit` for many objects of one type (a billing run's invoices): the webhooks and their
    delivery jobs are written by one statement each, without ORM objects. Returns how many."""
    if endpoints_of is None:
        endpoints_of = repository.endpoints_for(session, organization_id)
    endpoints = [endpoint for endpoint in endpoints_of if listens(endpoint, webhook_type)]
    if not endpoints:
        return 0
    rows: list[dict[str, Any]] = []
    for payload in payloads:
        body = _body({"webhook_type": webhook_type, "object_type": object_type,
                      "organization_id": str(organization_id), object_type: payload})
        rows.extend({"id": uuid.uuid4(), "organization_id": organization_id, "webhook_endpoint_id": endpoint.id,
                     "webhook_type": webhook_type, "object_type": object_type, "body": body, "status": "pending",
                     "retries": 0} for endpoint in endpoints)
    jobs = queue.enqueue_new(session, DELIVER, [({"webhook_id": str(row["id"])}, f"webhook:{row['id']}")
                                                for row in rows])
    for row, job_id in zip(rows, jobs, strict=True):
        row["job_id"] = job_id
    if rows:
        session.connection().execute(insert(Webhook.__table__), rows)
    return len(rows)


def listens(endpoint: WebhookEndpoint, webhook_type: str) -> bool:
    return endpoint.event_types is None or webhook_type in endpoint.event_types


def resend(session: Session, webhook: Webhook, *, key: str) -> Webhook:
    """Queue a new round of delivery attempts for ``webhook`` (same body, same unique key)."""
    webhook.status = "pending"
    webhook.job_id = queue.enqueue(session, DELIVER, {"webhook_id": str(webhook.id)},
                                   dedupe_key=f"webhook:{webhook.id}:{key}")
    session.flush()
    return webhook


def retry(session: Session, organization: Organization, lago_id: str) -> Webhook:
    """Resend a failed webhook by hand."""
    webhook = repository.get_webhook(session, organization.id, lago_id)
    if webhook.status != "failed":
        raise NotAllowed("webhook_not_failed")
    return resend(session, webhook, key=f"retry:{uuid.uuid4()}")


# ---- delivery -----------------------------------------------------------------------------------


def record_attempt(session: Session, webhook_id: uuid.UUID, *, http_status: int | None, error: str | None,
                   excerpt: str | None, duration_ms: int, final: bool, now: datetime) -> Webhook | None:
    """Keep one attempt and move the webhook to ``succeeded`` (2xx), ``failed`` (``final``) or
    ``retrying``."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        return None
    number = repository.attempt_count(session, webhook_id) + 1
    session.add(WebhookAttempt(webhook_id=webhook_id, number=number, http_status=http_status,
                               error=error[:EXCERPT_CHARS] if error else None,
                               response_excerpt=excerpt[:EXCERPT_CHARS] if excerpt is not None else None,
                               duration_ms=duration_ms, attempted_at=now))
    succeeded = http_status is not None and 200 <= http_status < 300
    webhook.status = "succeeded" if succeeded else ("failed" if final else "retrying")
    webhook.http_status = http_status
    if number > 1:
        webhook.retries = number - 1
        webhook.last_retried_at = now
    session.flush()
    return webhook
