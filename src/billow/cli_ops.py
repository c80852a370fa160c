"""Operations commands: `billow jobs list`, `billow webhooks list | attempts | retry`."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from sqlalchemy import select

from billow.config import Settings
from billow.core.db import Database
from billow.core.wire import iso_utc
from billow.jobs import queue
from billow.models import Webhook, WebhookAttempt


def _database(settings: Settings) -> Database:
    return Database(settings.database_url, busy_timeout_seconds=settings.sqlite_busy_timeout_seconds, pool_size=2)


def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings).unit_of_work(write=False) as session:
        jobs = session.scalars(queue.list_query(args.state, args.name).limit(args.limit)).all()
        for job in jobs:
            error = f"  {job.last_error.splitlines()[-1][:120]}" if job.last_error else ""
            print(f"{job.id}  {job.name}  {job.state}  attempts={job.attempts}  run_at={iso_utc(job.run_at)}{error}")
    return 0


def _webhook(session: Any, lago_id: str) -> Webhook | None:
    try:
        return session.get(Webhook, uuid.UUID(lago_id))
    except ValueError:
        return None


def cmd_webhooks_list(args: argparse.Namespace, settings: Settings) -> int:
    stmt = select(Webhook).order_by(Webhook.created_at.desc(), Webhook.id).limit(args.limit)
    if args.status:
        stmt = stmt.where(Webhook.status == args.status)
    if args.org:
        stmt = stmt.where(Webhook.organization_id == uuid.UUID(args.org))
    with _database(settings).unit_of_work(write=False) as session:
        for webhook in session.scalars(stmt):
            print(f"{webhook.id}  {webhook.webhook_type}  {webhook.status}  retries={webhook.retries}  "
                  f"http={webhook.http_status}  {webhook.webhook_endpoint.webhook_url}  {iso_utc(webhook.created_at)}")
    return 0


def cmd_webhooks_attempts(args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings).unit_of_work(write=False) as session:
        if _webhook(session, args.id) is None:
            print(f"No webhook {args.id}.")
            return 1
        stmt = select(WebhookAttempt).where(WebhookAttempt.webhook_id == uuid.UUID(args.id))
        for attempt in session.scalars(stmt.order_by(WebhookAttempt.number)):
            outcome = f"http={attempt.http_status}" if attempt.http_status is not None else f"error={attempt.error}"
            excerpt = (attempt.response_excerpt or "").replace("\n", " ")[:80]
            print(f"#{attempt.number}  {iso_utc(attempt.attempted_at)}  {outcome}  {attempt.duration_ms} ms  {excerpt}")
    return 0


def cmd_webhooks_retry(args: argparse.Namespace, settings: Settings) -> int:
    from billow.core.errors import LagoError
    from billow.models import Organization
    from billow.webhooks import service

    with _database(settings).unit_of_work() as session:
        webhook = _webhook(session, args.id)
        if webhook is None:
            print(f"No webhook {args.id}.")
            return 1
        try:
            service.retry(session, session.get(Organization, webhook.organization_id), args.id)
        except LagoError as exc:
            print(f"Not resent: {exc} (only failed webhooks are resent).")
            return 1
    print(f"Webhook {args.id} queued for delivery again.")
    return 0


def add_commands(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="background jobs").add_subparsers(dest="jobs_command", required=True)
    listing = jobs.add_parser("list", help="jobs, newest first, with their state")
    listing.add_argument("--state", choices=queue.STATES)
    listing.add_argument("--name")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=cmd_jobs_list)

    hooks = commands.add_parser("webhooks", help="outbound webhooks").add_subparsers(dest="webhooks_command",
                                                                                     required=True)
    listing = hooks.add_parser("list", help="webhooks, newest first")
    listing.add_argument("--status", choices=("pending", "retrying", "succeeded", "failed"))
    listing.add_argument("--org", help="only this organization id")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=cmd_webhooks_list)
    attempts = hooks.add_parser("attempts", help="a webhook's delivery attempts")
    attempts.add_argument("id")
    attempts.set_defaults(handler=cmd_webhooks_attempts)
    retry = hooks.add_parser("retry", help="resend a failed webhook")
    retry.add_argument("id")
    retry.set_defaults(handler=cmd_webhooks_retry)
