"""Invoice and credit-note PDFs: rendering, storing, ``file_url`` and the ``*.generated`` webhooks.

A finalized invoice (every path: billing run, grace period ended, ``finalize``, one-off,
pay-in-advance charge and progressive invoices) and every new credit note enqueue a durable job
(:mod:`billow.documents.tasks`) in the transaction that finalizes or creates them. The job
(:func:`generate`) renders the HTML page of ``templates/`` from the object's Lago wire shape
(:mod:`billow.documents.views`; nothing is priced again) in a read-only transaction, prints it to
PDF with WeasyPrint outside any transaction, then in one write transaction, under the object's
row lock: stores the PDF, sets ``file_url`` and records the ``invoice.generated`` /
``credit_note.generated`` webhook. An object that has its ``file_url`` already is left as it is,
so a job run twice (retried, or a second job asked by a download) sends the webhook once. Drafts
get no document; a voided invoice keeps its file.

Storage: the PDF bytes are a row of the ``documents`` table, not a file. Every API process and
worker (one host or many, SQLite or PostgreSQL) then serves the same documents without a shared
directory; a document is written in the very transaction that sets ``file_url`` and sends the
webhook, so no announced link can point at a missing file; backups and restores take the
documents along with the invoices they print. A PDF weighs a few tens of kilobytes, once per
invoice, which a database carries well.

``file_url`` is ``{api_url}/documents/{token}.pdf``: ``api_url`` is the instance's public URL
(setting ``BILLOW_API_URL``), the token 32 random bytes. Like Lago's signed file URLs it works
without the API key (:mod:`billow.documents.router`). ``BILLOW_DISABLE_PDF_GENERATION`` turns
rendering off (jobs then end without a document, and downloads answer empty).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.core.errors import NotFound
from billow.credit_notes import repository as credit_notes
from billow.credit_notes.schemas import credit_note_json
from billow.documents import render, repository, views
from billow.invoices import repository as invoices
from billow.invoices import schemas as invoice_schemas
from billow.jobs import queue
from billow.models import CreditNote, Document, Invoice, Organization
from billow.webhooks import repository as webhook_endpoints
from billow.webhooks import service as webhooks

Printable = Invoice | CreditNote


@dataclass(frozen=True)
class Kind:
    """One kind of document: what it prints and how it is announced."""

    name: str  # invoice | credit_note: the object type, and the id's key in the job payload
    model: type[Invoice | CreditNote]
    template: str
    serialize: Callable[[Session, Any], dict[str, Any]]
    view: Callable[[dict[str, Any], Organization], dict[str, Any]]

    @property
    def job(self) -> str:
        return f"documents.{self.name}_pdf"

    @property
    def webhook(self) -> str:
        return f"{self.name}.generated"

    def dedupe_key(self, object_id: uuid.UUID) -> str:
        return f"documents:{self.name}:{object_id}"

    def payload(self, object_id: uuid.UUID) -> dict[str, Any]:
        return {f"{self.name}_id": str(object_id)}


def _invoice_json(session: Session, invoice: Invoice) -> dict[str, Any]:
    # Looked up when called: finalization imports this module while ``invoices.schemas`` loads.
    return invoice_schemas.invoice_json(session, invoice)


INVOICE = Kind("invoice", Invoice, "invoice.html", _invoice_json, views.invoice_view)
CREDIT_NOTE = Kind("credit_note", CreditNote, "credit_note.html", credit_note_json, views.credit_note_view)


def printable(row: Printable) -> bool:
    """Drafts have no document; a finalized or voided invoice and every credit note have one."""
    return not (isinstance(row, Invoice) and row.status == "draft")


def file_url(settings: Settings, token: str) -> str:
    return f"{settings.api_url.rstrip('/')}/documents/{token}.pdf"


def page(session: Session, kind: Kind, row: Printable) -> str:
    """The document's HTML page."""
    return render.html(kind.template, kind.view(kind.serialize(session, row), row.customer.organization))


def generate(database: Database, settings: Settings, kind: Kind, object_id: uuid.UUID) -> bool:
    """Render, store and announce the document of one invoice or credit note, unless it has one
    (or is a draft, or is gone, or rendering is disabled). Returns whether it made one."""
    if settings.disable_pdf_generation:
        return False
    with database.unit_of_work(write=False) as session:
        row = session.get(kind.model, object_id)
        if row is None or row.file_url is not None or not printable(row):
            return False
        html = page(session, kind, row)
    content = render.pdf(html)
    with database.unit_of_work() as session:
        row = session.get(kind.model, object_id, with_for_update=True)
        if row is None or row.file_url is not None:  # made meanwhile by another run
            return False
        token = secrets.token_urlsafe(32)
        session.add(Document(organization_id=row.organization_id, filename=f"{_safe(row.number)}.pdf", content=content,
                             token=token, **{f"{kind.name}_id": row.id}))
        row.file_url = file_url(settings, token)
        session.flush()
        _announce(session, kind, row)
    return True


def _safe(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", number)


def _announce(session: Session, kind: Kind, row: Printable) -> None:
    """The webhook, with the object serialized only if an endpoint of the organization takes it."""
    endpoints = webhook_endpoints.endpoints_for(session, row.organization_id)
    if any(webhooks.listens(endpoint, kind.webhook) for endpoint in endpoints):
        webhooks.emit(session, row.organization_id, kind.webhook, kind.name, kind.serialize(session, row),
                      endpoints_of=endpoints)


def request(session: Session, kind: Kind, object_id: uuid.UUID) -> None:
    """Ask for the document again (a download found none): nothing while its job waits or runs;
    otherwise (its job ended without a document: generation was disabled then, or the job died)
    a new job, at most one a minute."""
    key = kind.dedupe_key(object_id)
    state = repository.job_state(session, key)
    if state in ("queued", "running"):
        return
    if state is not None:
        key = f"{key}:again:{int(clock.now().timestamp()) // 60}"
    queue.enqueue(session, kind.job, kind.payload(object_id), dedupe_key=key)


def _download(session: Session, settings: Settings, kind: Kind, row: Printable) -> Printable | None:
    if row.file_url is not None:
        return row
    if not settings.disable_pdf_generation:
        request(session, kind, row.id)
    return None


def download_invoice(session: Session, settings: Settings, organization: Organization, lago_id: str) -> Invoice | None:
    """The invoice once its PDF exists; ``None`` until then (Lago answers an empty 200 and the
    file is made). Only a finalized invoice is downloaded (404 otherwise, as Lago answers)."""
    invoice = invoices.get(session, organization.id, lago_id)
    if invoice.status != "finalized":
        raise NotFound("invoice")
    return _download(session, settings, INVOICE, invoice)  # type: ignore[return-value]


def download_credit_note(session: Session, settings: Settings, organization: Organization,
                         lago_id: str) -> CreditNote | None:
    """The credit note once its PDF exists; ``None`` until then."""
    return _download(session, settings, CREDIT_NOTE, credit_notes.get(session, organization.id, lago_id))  # type: ignore[return-value]


def stored(session: Session, token: str) -> Document:
    """The document named by a ``file_url`` token (404 for any other token)."""
    document = repository.by_token(session, token)
    if document is None:
        raise NotFound("document")
    return document
