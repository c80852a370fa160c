"""Queries for webhook endpoints, webhooks and their attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from billow.core.repository import get_or_404, newest_first, parse_uuid, scoped
from billow.models import Job, Organization, Webhook, WebhookAttempt, WebhookEndpoint


def endpoints_query(organization_id: uuid.UUID) -> Select[tuple[WebhookEndpoint]]:
    return newest_first(scoped(WebhookEndpoint, organization_id), WebhookEndpoint)


def get_endpoint(session: Session, organization_id: uuid.UUID, lago_id: str) -> WebhookEndpoint:
    return get_or_404(session, WebhookEndpoint, organization_id, "webhook_endpoint",
                      id=parse_uuid(lago_id, "webhook_endpoint"))


def count_endpoints(session: Session, organization_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
    return session.scalar(stmt) or 0


def url_taken(session: Session, organization_id: uuid.UUID, url: str, other_than: uuid.UUID | None = None) -> bool:
    stmt = select(WebhookEndpoint.id).where(
        WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.webhook_url == url
    )
    if other_than is not None:
        stmt = stmt.where(WebhookEndpoint.id != other_than)
    return session.scalar(stmt.limit(1)) is not None


def endpoints_for(session: Session, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    stmt = scoped(WebhookEndpoint, organization_id).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return list(session.scalars(stmt))


def webhooks_query(organization_id: uuid.UUID, status: str | None = None,
                   webhook_type: str | None = None) -> Select[tuple[Webhook]]:
    stmt = scoped(Webhook, organization_id)
    if status is not None:
        stmt = stmt.where(Webhook.status == status)
    if webhook_type is not None:
        stmt = stmt.where(Webhook.webhook_type == webhook_type)
    return newest_first(stmt, Webhook)


def get_webhook(session: Session, organization_id: uuid.UUID, lago_id: str) -> Webhook:
    return get_or_404(session, Webhook, organization_id, "webhook", id=parse_uuid(lago_id, "webhook"))


def attempts_query(webhook_id: uuid.UUID) -> Select[tuple[WebhookAttempt]]:
    return select(WebhookAttempt).where(WebhookAttempt.webhook_id == webhook_id).order_by(WebhookAttempt.number)


def hmac_key(session: Session, organization_id: uuid.UUID) -> str:
    return session.scalar(select(Organization.hmac_key).where(Organization.id == organization_id)) or ""


def stalled(session: Session, before: datetime, limit: int = 500) -> list[tuple[Webhook, str | None]]:
    """Undelivered webhooks (pending or retrying, unchanged since ``before``) whose delivery job is
    neither queued nor running, with that job's state (None when the job is gone)."""
    stmt = (
        select(Webhook, Job.state)
        .outerjoin(Job, Job.id == Webhook.job_id)
        .where(Webhook.status.in_(("pending", "retrying")), Webhook.updated_at < before)
        .where(or_(Job.id.is_(None), Job.state.in_(("done", "dead"))))
        .order_by(Webhook.updated_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def attempt_count(session: Session, webhook_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.webhook_id == webhook_id)
    return session.scalar(stmt) or 0

