"""Lago's wire shapes for webhook endpoints, plus Billow's delivery log (webhooks and attempts)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import field_validator

from billow.core.wire import UtcDateTime, WireIn, WireOut, lago_error

MAX_ENDPOINTS = 10
STATUSES = ("pending", "retrying", "succeeded", "failed")

# Every webhook type Lago's server emits (an endpoint's `event_types` must name these).
WEBHOOK_TYPES = frozenset(
    f"{resource}.{action}"
    for resource, actions in {
        "alert": "triggered",
        "billable_metric": "created updated deleted",
        "customer": "created updated accounting_provider_created accounting_provider_error crm_provider_created "
        "crm_provider_error payment_provider_created payment_provider_error checkout_url_generated "
        "tax_provider_error vies_check",
        "credit_note": "created generated provider_refund_failure",
        "dunning_campaign": "finished",
        "event": "error",
        "events": "errors",
        "feature": "created updated deleted",
        "fee": "created tax_provider_error",
        "invoice": "created one_off_created paid_credit_added generated drafted ready_to_finalize voided deleted "
        "payment_dispute_lost payment_status_updated payment_overdue payment_failure resynced",
        "integration": "provider_error",
        "order": "created executed",
        "order_form": "created signed expired voided",
        "payment": "succeeded requires_action",
        "payment_provider": "error",
        "payment_receipt": "created generated",
        "payment_request": "created payment_failure payment_status_updated",
        "plan": "created updated deleted",
        "quote": "created approved voided",
        "subscription": "canceled incomplete terminated started updated termination_alert trial_ended "
        "usage_threshold_reached",
        "wallet": "created depleted_ongoing_balance terminated updated",
        "wallet_transaction": "created updated payment_failure",
    }.items()
    for action in actions.split()
)


class WebhookEndpointIn(WireIn):
    webhook_url: str | None = None
    signature_algo: Literal["jwt", "hmac"] | None = None
    name: str | None = None
    event_types: list[str] | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(value) > 1024:
            raise lago_error("url_is_invalid")
        return value

    @field_validator("event_types")
    @classmethod
    def _types(cls, values: list[str]) -> list[str]:
        if any(value not in WEBHOOK_TYPES for value in values):
            raise lago_error("value_is_invalid")
        return list(dict.fromkeys(values))


class WebhookEndpointOut(WireOut):
    lago_id: uuid.UUID
    lago_organization_id: uuid.UUID
    webhook_url: str
    signature_algo: str
    name: str | None
    event_types: list[str] | None
    created_at: UtcDateTime


def endpoint_json(endpoint: Any) -> dict[str, Any]:
    return WebhookEndpointOut.model_validate({
        "lago_id": endpoint.id, "lago_organization_id": endpoint.organization_id,
        "webhook_url": endpoint.webhook_url, "signature_algo": endpoint.signature_algo, "name": endpoint.name,
        "event_types": endpoint.event_types, "created_at": endpoint.created_at,
    }).model_dump(mode="json")


class WebhookOut(WireOut):
    lago_id: uuid.UUID
    lago_webhook_endpoint_id: uuid.UUID
    webhook_url: str
    webhook_type: str
    object_type: str
    status: str
    retries: int
    http_status: int | None
    last_retried_at: UtcDateTime | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    payload: dict[str, Any]


def webhook_json(webhook: Any) -> dict[str, Any]:
    return WebhookOut.model_validate({
        "lago_id": webhook.id, "lago_webhook_endpoint_id": webhook.webhook_endpoint_id,
        "webhook_url": webhook.webhook_endpoint.webhook_url, "webhook_type": webhook.webhook_type,
        "object_type": webhook.object_type, "status": webhook.status, "retries": webhook.retries,
        "http_status": webhook.http_status, "last_retried_at": webhook.last_retried_at,
        "created_at": webhook.created_at, "updated_at": webhook.updated_at, "payload": json.loads(webhook.body),
    }).model_dump(mode="json")


class WebhookAttemptOut(WireOut):
    number: int
    http_status: int | None
    error: str | None
    response_excerpt: str | None
    duration_ms: int
    attempted_at: UtcDateTime
