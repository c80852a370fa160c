"""Delivering webhooks: the ``webhooks.deliver`` job and the ``webhook_sweeper`` periodic service.

A delivery POSTs the stored body to the endpoint, signed with the endpoint's current algorithm,
with ``X-Lago-Unique-Key`` = the webhook's id (the same on every attempt). A 2xx answer is a
success; anything else, a timeout or a connection error is recorded as an attempt and retried
with backoff (``webhook_*`` settings) until the attempts are spent, when the webhook is
``failed`` and the job ``dead``. The job is idempotent: a delivered webhook is not sent again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx

from billow.config import Settings
from billow.jobs.queue import Backoff, RetryPolicy
from billow.jobs.worker import JobContext, periodic, task
from billow.models import Webhook
from billow.webhooks import repository, service, signing


class DeliveryFailed(Exception):
    pass


def delivery_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        settings.webhook_max_attempts,
        Backoff(settings.webhook_backoff_base_seconds, settings.webhook_backoff_cap_seconds),
    )


@dataclass(frozen=True)
class Request:
    url: str
    body: str
    headers: dict[str, str]


def _request(ctx: JobContext, webhook_id: uuid.UUID) -> Request | None:
    """What to send, or None when there is nothing to do (delivered already, or gone)."""
    with ctx.database.unit_of_work(write=False) as session:
        webhook = session.get(Webhook, webhook_id)
        if webhook is None or webhook.status == "succeeded":
            return None
        endpoint = webhook.webhook_endpoint
        if endpoint.signature_algo == "hmac":
            signature = signing.hmac_signature(webhook.body, repository.hmac_key(session, webhook.organization_id))
        else:
            signature = signing.jwt_signature(webhook.body, signing.private_key(ctx.database),
                                              ctx.settings.api_url)
        headers = {
            "Content-Type": "application/json",
            "X-Lago-Signature": signature,
            "X-Lago-Signature-Algorithm": endpoint.signature_algo,
            "X-Lago-Unique-Key": str(webhook.id),
        }
        return Request(endpoint.webhook_url, webhook.body, headers)


def _post(http: httpx.Client, request: Request) -> tuple[int | None, str | None, str | None]:
    """(status, error, start of the answer's body); reads at most the excerpt of the answer."""
    try:
        with http.stream("POST", request.url, content=request.body.encode(), headers=request.headers) as response:
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= service.EXCERPT_CHARS:
                    break
            return response.status_code, None, excerpt[:service.EXCERPT_CHARS].decode(errors="replace")
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None


@task(service.DELIVER, policy=delivery_policy)
def deliver(ctx: JobContext) -> None:
    webhook_id = uuid.UUID(ctx.job.payload["webhook_id"])
    request = _request(ctx, webhook_id)
    if request is None:
        return
    started = time.perf_counter()
    status, error, excerpt = _post(ctx.http, request)
    duration_ms = int((time.perf_counter() - started) * 1000)
    with ctx.database.unit_of_work() as session:
        webhook = service.record_attempt(session, webhook_id, http_status=status, error=error, excerpt=excerpt,
                                         duration_ms=duration_ms, final=ctx.final_attempt, now=ctx.now)
    if webhook is not None and webhook.status != "succeeded":
        raise DeliveryFailed(error or f"HTTP {status}")


@periodic("webhook_sweeper")
def webhook_sweeper(ctx: JobContext) -> None:
    """Undelivered webhooks whose delivery job is gone or finished (e.g. removed by hand, or ended
    by an unexpected error) get a new delivery job; those whose job died are marked failed."""
    before = ctx.now - timedelta(seconds=ctx.settings.periodic_webhook_sweeper_interval)
    with ctx.database.unit_of_work() as session:
        for webhook, job_state in repository.stalled(session, before):
            if job_state == "dead":
                webhook.status = "failed"
            else:
                service.resend(session, webhook, key=f"sweep:{ctx.job.id}")
