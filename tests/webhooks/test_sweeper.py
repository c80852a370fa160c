"""The webhook sweeper: undelivered webhooks whose delivery job is gone get a new one; those whose
job died are marked failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete, update

from billow.core import clock
from billow.core.db import Database
from billow.jobs.worker import run_pending
from billow.models import Job, Webhook
from tests.customers.support import create_customer
from tests.webhooks.support import Receiver, add_endpoint, deliver, settings_for, webhooks_of


def test_lost_and_dead_delivery_jobs(api: httpx.Client, database: Database, org: Any, receiver: Receiver) -> None:
    add_endpoint(api, receiver.url)
    create_customer(api, "cus-lost")
    create_customer(api, "cus-dead")
    lost, dead = webhooks_of(database, org.id)
    with database.unit_of_work() as session:
        session.execute(delete(Job).where(Job.id == lost.job_id))  # e.g. removed by hand
        session.execute(update(Job).where(Job.id == dead.job_id).values(state="dead", last_error="gave up"))
        session.execute(update(Webhook).where(Webhook.id == dead.id).values(status="retrying"))

    later = clock.now() + timedelta(minutes=10)
    deliver(database, now=later)
    assert receiver.requests == []  # nothing to deliver: the jobs are gone or dead

    settings = settings_for(database, periodic_billing_clock_enabled=False, periodic_event_errors_enabled=False,
                            periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False)
    assert run_pending(database, settings, now=later, periodic=True, names=["periodic.webhook_sweeper"]) == 1
    deliver(database, now=later)
    assert [request.key for request in receiver.delivered()] == [str(lost.id)]
    statuses = {webhook.id: webhook.status for webhook in webhooks_of(database, org.id)}
    assert statuses == {lost.id: "succeeded", dead.id: "failed"}
