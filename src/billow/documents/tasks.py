"""The document jobs, and how finalization and credit notes ask for them.

:func:`enqueue_invoice` (one invoice) and :func:`enqueue_invoices` (many, one statement) are called
in the transaction that finalizes the invoices; :func:`enqueue_credit_note` in the one that creates
the credit note. Each job carries the dedupe key ``documents:<kind>:<id>``: asking twice queues one
job. The jobs (``documents.invoice_pdf``, ``documents.credit_note_pdf``) run
:func:`billow.documents.service.generate`, which is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from billow.documents.service import CREDIT_NOTE, INVOICE, Kind, generate
from billow.jobs import queue
from billow.jobs.worker import JobContext, task


def _enqueue(session: Session, kind: Kind, object_ids: Iterable[uuid.UUID]) -> None:
    queue.enqueue_many(session, kind.job, [(kind.payload(object_id), kind.dedupe_key(object_id))
                                           for object_id in object_ids])


def enqueue_invoice(session: Session, invoice_id: uuid.UUID) -> None:
    """The PDF of a finalized invoice, made after the caller's transaction commits."""
    _enqueue(session, INVOICE, [invoice_id])


def enqueue_invoices(session: Session, invoice_ids: Iterable[uuid.UUID]) -> None:
    """:func:`enqueue_invoice` for many invoices (a billing run's chunk) in one statement."""
    _enqueue(session, INVOICE, invoice_ids)


def enqueue_credit_note(session: Session, credit_note_id: uuid.UUID) -> None:
    _enqueue(session, CREDIT_NOTE, [credit_note_id])


def _run(kind: Kind, ctx: JobContext) -> None:
    generate(ctx.database, ctx.settings, kind, uuid.UUID(ctx.job.payload[f"{kind.name}_id"]))


@task(INVOICE.job)
def invoice_pdf(ctx: JobContext) -> None:
    _run(INVOICE, ctx)


@task(CREDIT_NOTE.job)
def credit_note_pdf(ctx: JobContext) -> None:
    _run(CREDIT_NOTE, ctx)


__all__ = ["enqueue_credit_note", "enqueue_invoice", "enqueue_invoices"]
