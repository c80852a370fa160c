"""Running the document jobs of one test, reading PDFs, and the webhooks they send."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from pypdf import PdfReader
from sqlalchemy import or_, select, update

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.jobs.queue import ClaimedJob
from billow.jobs.worker import execute, http_client, load_tasks
from billow.models import Job, Webhook
from tests.conftest import Org

WORKER = "documents-test"
PUBLIC_URL = "https://billing.example.com"


def settings_for(database: Database, **overrides: Any) -> Settings:
    return Settings(database_url=database.url, api_url=PUBLIC_URL, **overrides)


def invoice_key(lago_id: str) -> str:
    return f"documents:invoice:{lago_id}"


def credit_note_key(lago_id: str) -> str:
    return f"documents:credit_note:{lago_id}"


def jobs(database: Database, prefix: str) -> list[Job]:
    """The jobs whose dedupe key starts with ``prefix`` (a document's key, and its downloads' keys)."""
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(Job).where(Job.dedupe_key.like(f"{prefix}%")).order_by(Job.id)))


def run(database: Database, *keys: str, settings: Settings | None = None, now: datetime | None = None) -> list[str]:
    """Claim and run, as the worker does, the due jobs with exactly these dedupe keys (the shared
    queue holds other tests' document jobs, which this test must leave alone); their new states."""
    load_tasks()
    settings = settings or settings_for(database)
    at = now or clock.now()
    due = or_(Job.state == "queued", Job.state == "running")
    with database.unit_of_work() as session:
        rows = session.execute(
            update(Job).where(Job.dedupe_key.in_(keys), due, Job.run_at <= at)
            .values(state="running", attempts=Job.attempts + 1, locked_by=WORKER, updated_at=at,
                    run_at=at + timedelta(seconds=settings.job_lease_seconds))
            .returning(Job.id, Job.name, Job.payload, Job.attempts).execution_options(synchronize_session=False)
        ).all()
    with http_client(settings) as http:
        return [execute(database, settings, ClaimedJob(row.id, row.name, row.payload, row.attempts, WORKER), http, at)
                for row in sorted(rows, key=lambda row: row.id)]


def fetch(anon: httpx.Client, file_url: str) -> bytes:
    """The PDF at ``file_url``, fetched without the API key."""
    path = file_url.removeprefix(PUBLIC_URL)
    assert path.startswith("/documents/") and path.endswith(".pdf")
    response = anon.get(path)
    assert (response.status_code, response.headers["content-type"]) == (200, "application/pdf"), response.text
    return response.content


def text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def sent(database: Database, org: Org, webhook_type: str) -> list[dict[str, Any]]:
    """The bodies of the organization's webhooks of this type, in the order they were recorded."""
    with database.unit_of_work(write=False) as session:
        bodies = session.scalars(select(Webhook.body).where(Webhook.organization_id == org.id,
                                                            Webhook.webhook_type == webhook_type)
                                 .order_by(Webhook.job_id)).all()
    return [json.loads(body) for body in bodies]
