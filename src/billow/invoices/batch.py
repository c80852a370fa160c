"""The billing run in chunks: many plain subscription periods billed in one transaction.

:func:`bill` takes the billing run's subscriptions a chunk at a time (:data:`CHUNK`). One read
sorts the chunk (:func:`_sort`): a subscription is *plain* when nothing about it needs more than
its own rows, its plan version and its usage — no plan change before or after it, no termination,
no trial, no usage thresholds, no minimum commitment, no pay-in-advance or per-event
(percentage, dynamic) charge, no grace period (drafts), no coupon or credit note of its
customer, and no invoice but starting and periodic ones (a pay-in-advance charge's invoice, or
any other kind, in its periods sends it the one-by-one way). Consecutive plain subscriptions of
one organization are billed together (:func:`_chunk`), in two transactions. A read-only one
sorts the chunk and prices the run (:func:`_price`): their invoices, ``invoice_subscriptions`` rows
and fees are built by the one-by-one path's own functions (:mod:`billow.invoices.billing`,
:mod:`billow.invoices.builder`: the same fee arithmetic), usage read for all of them at once
(:func:`billow.usage.reader.prefetch`), nothing added to the session; a run owing nothing
(a second run) ends there, having taken no write lock. The writing one (:func:`_store`) locks the
run's customers in id order — as the one-by-one path locks its customer before writing, so the
two never wait on each other in opposite orders — checks that no customer got a coupon or a credit
note and no subscription changed since, takes the organization's numbering lock, numbers the
invoices in the order the one-by-one path would number them, writes every row with one Core
statement per table (:mod:`billow.invoices.bulk`) and commits once. The others are billed one by
one, in their place, so numbers follow the same order either way.

A chunk is all or nothing: when its transaction fails — the unique constraint of
``invoice_subscriptions`` (a concurrent run billed one of its periods), a customer who got a
coupon since the chunk was priced, anything else — it is rolled back and its subscriptions are
billed one by one, each period in its own transaction, as before.
"""

from __future__ import annotations

import gc
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billow.core.db import Database
from billow.documents import tasks as documents
from billow.invoices import billing, builder, bulk, credits, repository, rows, service
from billow.models import Customer, Fee, Invoice, InvoiceSubscription, Subscription
from billow.webhooks import repository as webhook_endpoints
from billow.webhooks import service as webhooks
from billow.usage import reader
from billow.usage.charges import PER_EVENT_MODELS
from billow.usage.service import pricing_for, window_for

log = logging.getLogger("billow.billing")

CHUNK = 100  # subscriptions read together; the plain ones among them are billed in one transaction
PLAIN_REASONS = {billing.STARTING, billing.PERIODIC}


@dataclass
class _Plain:
    """A plain subscription, what it owes and what its fees depend on of its earlier invoices."""

    subscription: Subscription
    owed: list[billing.Due]
    history: billing.History


class _Changed(Exception):
    """What the chunk was sorted on changed before it was written: bill it one by one."""


def _is_plain(session: Session, subscription: Subscription, billed: set[tuple[str, datetime, datetime]],
              replaced: set[uuid.UUID], holders: set[uuid.UUID]) -> bool:
    customer = subscription.customer
    if (subscription.status != "active" or subscription.terminated_at is not None
            or subscription.previous_subscription_id is not None or subscription.id in replaced
            or customer.id in holders or service.grace_period_days(customer)
            or any(reason not in PLAIN_REASONS for reason, _, _ in billed)):
        return False
    snapshot = pricing_for(session, subscription.organization_id, subscription).snapshot
    return not (snapshot.trial_period or snapshot.usage_thresholds or snapshot.minimum_commitment is not None
                or any(charge.pay_in_advance or charge.charge_model in PER_EVENT_MODELS
                       for charge in snapshot.charges))


def _sort(session: Session, ids: list[uuid.UUID], at: datetime) -> dict[uuid.UUID, _Plain]:
    """The plain subscriptions among ``ids`` (those owing nothing included), in a few queries."""
    found = repository.subscriptions(session, ids)
    billed = repository.billed_keys_of(session, ids)
    replaced = repository.replaced(session, ids)
    holders = credits.holders(session, {subscription.customer_id for subscription in found.values()})
    with_fee = repository.with_subscription_fee(session, ids)
    plain = {}
    for subscription_id, subscription in found.items():
        keys = billed.get(subscription_id, set())
        if not _is_plain(session, subscription, keys, replaced, holders):
            continue
        owed = [due for due in billing.due_periods(session, subscription, at) if due.key not in keys]
        if all(due.reason in PLAIN_REASONS for due in owed):
            plain[subscription_id] = _Plain(subscription, owed, billing.History(not keys, subscription_id in with_fee))
    return plain


def _leading(ids: list[uuid.UUID], plain: dict[uuid.UUID, _Plain]) -> list[uuid.UUID]:
    """The longest run of plain subscriptions of one organization that ``ids`` begin with."""
    run: list[uuid.UUID] = []
    for subscription_id in ids:
        found = plain.get(subscription_id)
        if found is None or (run and plain[run[0]].subscription.organization_id
                             != found.subscription.organization_id):
            break
        run.append(subscription_id)
    return run


def _prefetch_usage(session: Session, work: list[tuple[_Plain, billing.Due, InvoiceSubscription]]) -> None:
    """Read the usage of every charges window of ``work`` with one query per distinct window."""
    by_window: dict[tuple[uuid.UUID, reader.Window], tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    codes_of: dict[tuple[uuid.UUID, int], list[str]] = {}  # per plan version: its metrics' codes
    for plain, _, link in work:
        subscription = plain.subscription
        if link.charges_from_datetime == link.charges_to_datetime:  # a starting invoice bills no usage
            continue
        window, _billing = window_for(subscription, subscription.customer, link.charges_to_datetime)
        subs, codes = by_window[(subscription.organization_id, window)]
        subs.add(subscription.external_id)
        version = (subscription.plan_id, subscription.plan_version)
        if version not in codes_of:
            codes_of[version] = [metric.code for metric in pricing_for(session, subscription.organization_id,
                                                                       subscription).metrics.values()]
        codes.update(codes_of[version])
    for (organization_id, window), (subs, codes) in by_window.items():
        if codes:
            reader.prefetch(session, organization_id, sorted(subs), sorted(codes), window)


@dataclass
class _Priced:
    """The invoices of a plain run, priced in a read-only transaction and written in another."""

    organization_id: uuid.UUID
    invoices: list[Invoice]
    links: list[InvoiceSubscription]
    fees: list[Fee]
    billed: list[tuple[Subscription, billing.Due]]
    seen: dict[uuid.UUID, datetime]  # each subscription's and customer's updated_at when it was priced

    @property
    def customers(self) -> list[uuid.UUID]:
        return sorted({invoice.customer_id for invoice in self.invoices})


def _price(session: Session, ids: list[uuid.UUID], at: datetime
           ) -> tuple[int, _Priced | None, dict[uuid.UUID, _Plain]]:
    """Sort ``ids`` and price the periods owed by the plain run they begin with, writing nothing:
    how many subscriptions that run holds, its invoices (``None`` when it owes nothing) and what
    the sort found. The invoices are built by the one-by-one path's functions, never added to the
    session; they are numbered when written (:func:`_store`)."""
    plain = _sort(session, ids, at)
    run = _leading(ids, plain)
    work: list[tuple[_Plain, billing.Due, InvoiceSubscription]] = []
    invoices: list[Invoice] = []
    for subscription_id in run:
        found = plain[subscription_id]
        subscription = found.subscription
        currency = pricing_for(session, subscription.organization_id, subscription).snapshot.amount_currency
        for due in found.owed:
            invoice = service.invoice_row(subscription.customer, currency, due.issuing_date, make=rows.InvoiceRow)
            invoice.customer = subscription.customer  # what numbering reads
            invoices.append(invoice)
            work.append((found, due, billing.link_row(invoice, subscription, due, rows.LinkRow)))
    if not work:
        return len(run), None, plain
    names = builder.tax_names(session, invoices[0].organization_id)
    _prefetch_usage(session, work)
    fees: list[Fee] = []
    nothing = credits.CreditInputs()
    # One tax book per plan version and set of customer taxes: what a fee's rates depend on.
    books: dict[tuple[uuid.UUID, int, tuple[uuid.UUID, ...]], builder.TaxBook] = {}
    try:
        with session.no_autoflush:
            for (found, due, link), invoice in zip(work, invoices, strict=True):
                subscription = found.subscription
                fee = billing.fee_of(session, subscription, due, found.history)
                row = billing.fee_row(session, invoice, subscription, due, fee, -1, rows.FeeRow)
                kept = [] if row is None else [row]
                found.history = billing.History(False, found.history.already_billed or row is not None)
                if link.charges_from_datetime != link.charges_to_datetime:  # a starting invoice bills no usage
                    kept.extend(builder.charge_fee_rows(session, invoice, subscription, link.charges_to_datetime,
                                                        rows.FeeRow))
                # Plain: no commitment to true up, no coupon or credit note, no progressive invoice.
                customer = subscription.customer
                shared = (subscription.plan_id, subscription.plan_version, tuple(tax.id for tax in customer.taxes))
                book = books.get(shared)
                if book is None:
                    book = books[shared] = builder.tax_book(session, subscription, customer, names)
                builder.apply_totals(invoice, kept, {subscription.id: book}, finalize=True, spent=nothing,
                                     session=session, progressive=False)
                fees.extend(kept)
    finally:
        reader.forget(session)
    seen = {row.id: row.updated_at for found, _, _ in work for row in (found.subscription, found.subscription.customer)}
    return len(run), _Priced(invoices[0].organization_id, invoices, [link for _, _, link in work], fees,
                             [(found.subscription, due) for found, due, _ in work], seen), plain


def _store(session: Session, priced: _Priced, at: datetime) -> list[billing.Billed]:
    """Write ``priced`` in this transaction: its customers locked (in id order, as every billing
    transaction locks them before writing) and found unchanged, with their subscriptions, since
    they were priced; then the organization's numbering lock, then every row in one statement per
    table. The exactly-once constraint answers at the periods' insert."""
    customers = priced.customers
    now = repository.lock_customers(session, customers)
    if credits.holders(session, customers):
        raise _Changed("a customer got a coupon or a credit note")
    subscriptions = [subscription.id for subscription, _ in priced.billed]
    now.update(session.execute(select(Subscription.id, Subscription.updated_at)
                               .where(repository.among(session, Subscription.id, subscriptions))).all())
    if now != priced.seen:
        raise _Changed("a subscription or a customer changed")
    service.number_all(session, priced.invoices, at)  # takes the organization's lock: as late as can be
    for invoice in priced.invoices:
        service.finalized(invoice, at)
    bulk.insert_all(session, priced.invoices)
    bulk.insert_all(session, priced.links)
    bulk.insert_all(session, priced.fees)
    documents.enqueue_invoices(session, [invoice.id for invoice in priced.invoices])  # their PDFs
    endpoints = webhook_endpoints.endpoints_for(session, priced.organization_id)
    if any(webhooks.listens(endpoint, "invoice.created") for endpoint in endpoints):
        ids = [invoice.id for invoice in priced.invoices]
        # What serializing an invoice loads one at a time otherwise: its subscriptions, their plans
        # and customers, read together (the invoices find them in the session while this holds them).
        held = (session.scalars(select(Customer).where(Customer.id.in_(priced.customers)).options(
            selectinload(Customer.taxes), selectinload(Customer.metadata_items))).all(),
            repository.subscriptions(session, subscriptions))
        written = {invoice.id: invoice for invoice in session.scalars(select(Invoice).where(Invoice.id.in_(ids)))}
        service.announce_all(session, [written[invoice_id] for invoice_id in ids], "invoice.created")
        del held
    return [billing.billed(subscription, due, invoice)
            for (subscription, due), invoice in zip(priced.billed, priced.invoices, strict=True)]


@contextmanager
def _collected_once() -> Iterator[None]:
    """The garbage of a chunk collected once, when it is done: the objects a chunk makes (ORM
    rows, priced fees) otherwise set off many collections, some of the whole heap, on the way."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)  # all the chunk made is in the youngest generation: nothing was collected since


def _chunk(database: Database, ids: list[uuid.UUID], at: datetime
           ) -> tuple[int, list[billing.Billed], dict[uuid.UUID, _Plain]]:
    """Price the plain run ``ids`` begin with in a read-only transaction, then write it in its
    own: how many subscriptions the run holds, what it billed and what the sort found."""
    with database.unit_of_work(write=False) as session:
        taken, priced, plain = _price(session, ids, at)
    if priced is None:
        return taken, [], plain
    with database.unit_of_work() as session:
        return taken, _store(session, priced, at), plain


def bill(database: Database, ids: list[uuid.UUID], at: datetime, report: billing.RunReport,
         one_by_one: Callable[[uuid.UUID], None]) -> None:
    """Bill what ``ids`` owe at ``at``, in this order: plain runs together, the others through
    ``one_by_one`` (the per-invoice path) in their place.

    A chunk is sorted in the read-only transaction that prices its leading plain run: all of it,
    when the chunk is plain. After a subscription that is not, the next run is the one that sort
    predicts, sorted again by the transaction that prices it."""
    for start in range(0, len(ids), CHUNK):
        queue = ids[start:start + CHUNK]
        known: dict[uuid.UUID, _Plain] | None = None
        while queue:
            span = queue if known is None else _leading(queue, known)
            plain = known or {}
            if span:
                try:
                    with _collected_once():
                        taken, done, plain = _chunk(database, span, at)
                except Exception as error:  # rolled back: the span is billed one by one
                    log.info("billing %d subscriptions together failed (%r); billing them one by one",
                             len(span), error)
                    for subscription_id in span:
                        one_by_one(subscription_id)
                    queue = queue[len(span):]
                    continue
                report.billed.extend(done)
                known = plain if known is None else known
                queue = queue[taken:]
            if queue and queue[0] not in (plain if queue[0] in span else known):
                one_by_one(queue[0])
                queue = queue[1:]


__all__ = ["CHUNK", "bill"]
