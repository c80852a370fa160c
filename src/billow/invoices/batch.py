"""The billing run in chunks: many plain subscription periods billed in one transaction.

:func:`bill` takes the billing run's subscriptions a chunk at a time (:data:`CHUNK`). One read
sorts the chunk (:func:`_sort`): a subscription is *plain* when nothing about it needs more than
its own rows, its plan version and its usage — no plan change before or after it, no termination,
no trial, no usage thresholds, no minimum commitment, no pay-in-advance or per-event
(percentage, dynamic) charge, no grace period (drafts), no coupon or credit note of its
customer, and no invoice but starting and periodic ones (a pay-in-advance charge's invoice, or
any other kind, in its periods sends it the one-by-one way). Consecutive plain subscriptions of
one organization are billed together (:func:`_write`): their invoices, ``invoice_subscriptions``
rows and fees are built by the one-by-one path's own functions (:mod:`billow.invoices.billing`,
:mod:`billow.invoices.builder`, :func:`billow.invoices.service.price`), usage read for all of
them at once (:func:`billow.usage.reader.prefetch`), numbered under one lock in the order the
one-by-one path would number them, written in one flush and committed once. The others are billed
one by one, in their place, so numbers follow the same order either way.

A chunk is all or nothing: when its transaction fails — the unique constraint of
``invoice_subscriptions`` (a concurrent run billed one of its periods), a customer who got a
coupon since the chunk was sorted, anything else — it is rolled back and its subscriptions are
billed one by one, each period in its own transaction, as before.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.invoices import billing, builder, credits, repository, service
from billow.models import Invoice, InvoiceSubscription, Subscription
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
    for plain, _, link in work:
        subscription = plain.subscription
        if link.charges_from_datetime == link.charges_to_datetime:  # a starting invoice bills no usage
            continue
        window, _billing = window_for(subscription, subscription.customer, link.charges_to_datetime)
        subs, codes = by_window[(subscription.organization_id, window)]
        subs.add(subscription.external_id)
        codes.update(metric.code for metric in pricing_for(session, subscription.organization_id,
                                                           subscription).metrics.values())
    for (organization_id, window), (subs, codes) in by_window.items():
        if codes:
            reader.prefetch(session, organization_id, sorted(subs), sorted(codes), window)


def _write(session: Session, ids: list[uuid.UUID], at: datetime
           ) -> tuple[int, list[billing.Billed], dict[uuid.UUID, _Plain]]:
    """Sort ``ids`` and bill, in this transaction, the periods owed by the plain run they begin
    with; how many subscriptions that run holds, what it billed and what the sort found."""
    plain = _sort(session, ids, at)
    run = _leading(ids, plain)
    work: list[tuple[_Plain, billing.Due, InvoiceSubscription]] = []
    invoices: list[Invoice] = []
    for subscription_id in run:
        found = plain[subscription_id]
        subscription = found.subscription
        currency = pricing_for(session, subscription.organization_id, subscription).snapshot.amount_currency
        for due in found.owed:
            invoice = service.invoice_row(subscription.customer, currency, due.issuing_date)
            link = billing.link_row(invoice, subscription, due)
            session.add_all((invoice, link))
            invoices.append(invoice)
            work.append((found, due, link))
    if not work:
        return len(run), [], plain
    session.flush()  # the exactly-once constraint answers here, for the whole chunk
    customers = sorted({found.subscription.customer_id for found, _, _ in work})
    repository.lock_customers(session, customers)  # as finalizing one invoice does, in one order
    if credits.holders(session, customers):
        raise _Changed
    names = builder.tax_names(session, invoices[0].organization_id)
    _prefetch_usage(session, work)
    nothing = credits.CreditInputs()
    try:
        with session.no_autoflush:
            for (found, due, link), invoice in zip(work, invoices, strict=True):
                subscription = found.subscription
                fee = billing.fee_of(session, subscription, due, found.history)
                row = billing.fee_row(session, invoice, subscription, due, fee, -1)
                kept = [] if row is None else [row]
                found.history = billing.History(False, found.history.already_billed or row is not None)
                service.price(session, invoice, [(subscription, link)], kept, finalize=True, names=names,
                              spent=nothing, flush=False)
            service.number_all(session, invoices, at)
            for invoice in invoices:
                service.finalized(invoice, at)
    finally:
        reader.forget(session)
    session.flush()
    service.announce_all(session, invoices, "invoice.created")
    return len(run), [billing.billed(found.subscription, due, invoice)
                      for (found, due, _), invoice in zip(work, invoices, strict=True)], plain


def bill(database: Database, ids: list[uuid.UUID], at: datetime, report: billing.RunReport,
         one_by_one: Callable[[uuid.UUID], None]) -> None:
    """Bill what ``ids`` owe at ``at``, in this order: plain runs together, the others through
    ``one_by_one`` (the per-invoice path) in their place.

    A chunk is sorted in the transaction that bills its leading plain run: all of it, when the
    chunk is plain. After a subscription that is not, the next run is the one that sort predicts,
    sorted again by the transaction that bills it."""
    for start in range(0, len(ids), CHUNK):
        queue = ids[start:start + CHUNK]
        known: dict[uuid.UUID, _Plain] | None = None
        while queue:
            span = queue if known is None else _leading(queue, known)
            plain = known or {}
            if span:
                try:
                    with database.unit_of_work() as session:
                        taken, done, plain = _write(session, span, at)
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
