"""Subscription jobs: bill a plan change or a termination as soon as it is committed."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from billow.jobs import queue
from billow.jobs.worker import JobContext, task
from billow.models import Subscription

BILL_NOW = "subscriptions.bill_now"


def bill_soon(session: Session, *subscriptions: Subscription) -> None:
    """Enqueue the billing of what ``subscriptions`` owe now (in the same transaction as the change)."""
    ids = [str(subscription.id) for subscription in subscriptions]
    queue.enqueue(session, BILL_NOW, {"subscription_ids": ids}, dedupe_key=f"{BILL_NOW}:{':'.join(ids)}")


@task(BILL_NOW)
def bill_now(ctx: JobContext) -> None:
    from billow.invoices import billing

    ids = [uuid.UUID(value) for value in ctx.job.payload["subscription_ids"]]
    report = billing.bill_subscriptions(ctx.database, ids, ctx.now)
    if report.failed:  # the job fails (and is retried); what was billed stays billed
        raise RuntimeError(f"billing failed for {report.failed}")
