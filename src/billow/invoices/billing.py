"""The billing run: every subscription period that has ended by an instant and is not invoiced yet.

:func:`bill_due` walks the active and terminated subscriptions and, for each one, the invoices it
owes at ``at`` (:func:`due_periods`): pay-in-advance plans owe a starting invoice for their first
period; every charges window that ended by ``at`` (and before a termination) owes a periodic
invoice with its usage and, when a plan period ends with it, the subscription fee (of the ended
period in arrears, of the next one in advance); a terminated subscription owes a final invoice for
its usage up to the termination and, in arrears, its fee for the days it ran. Each invoice is written in its own transaction, so a run stopped half-way leaves every
finished period billed once and the rest for the next run. The unique constraint of
``invoice_subscriptions`` makes a concurrent or repeated run fail on insert and bill nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.fees import paid, renewal
from billow.invoices import builder, progressive, repository, service
from billow.models import Fee, Invoice, InvoiceSubscription, Subscription
from billow.pricing.periods import ONE_SECOND, BillingCycle, BillingTime, BillingWindow, Period, local_date
from billow.pricing.proration import (
    PlanChange,
    SubscriptionFee,
    SubscriptionFeeInput,
    plan_change,
    subscription_fee,
    trial_end,
)
from billow.subscriptions import periods, schedule
from billow.subscriptions import repository as subscriptions_repository
from billow.subscriptions.service import pricing as plan_terms
from billow.usage.service import pricing_for

log = logging.getLogger("billow.billing")

STARTING = "subscription_starting"
PERIODIC = "subscription_periodic"
TERMINATING = "subscription_terminating"


@dataclass(frozen=True)
class Due:
    """One invoice a subscription owes: its subscription fee window (if a fee is due) and its
    charges window (``None`` on a starting invoice, which bills no usage)."""

    reason: str
    fee_window: BillingWindow | None
    charges_window: BillingWindow | None
    issuing_date: date

    @property
    def key(self) -> tuple[str, datetime, datetime]:
        """What ``invoice_subscriptions`` holds unique for the subscription."""
        if self.charges_window is None:
            assert self.fee_window is not None
            return self.reason, self.fee_window.from_datetime, self.fee_window.from_datetime
        return self.reason, self.charges_window.charges_from_datetime, self.charges_window.charges_to_datetime


def due_periods(session: Session, subscription: Subscription, at: datetime) -> list[Due]:
    """Every invoice ``subscription`` owes at ``at``, oldest first (billed or not)."""
    start = subscription.started_at
    if start is None or start > at:
        return []
    customer, plan = subscription.customer, subscription.plan
    snapshot = pricing_for(session, subscription.organization_id, subscription).snapshot
    cycle = periods.cycle_for(subscription, plan, customer)
    charges_cycle = cycle.charges_cycle(bool(plan.bill_charges_monthly))
    timezone = customer.applicable_timezone
    owed: list[Due] = []
    trial = _trial_end(session, subscription, snapshot.trial_period)
    end = subscription.terminated_at if subscription.status == "terminated" else None
    if snapshot.pay_in_advance:
        first = cycle.first_window(start)
        if trial is None:
            owed.append(Due(STARTING, first, None, local_date(start, timezone)))
        elif trial <= at and (end is None or trial < end):
            trial_window = _trial_end_window(cycle, start, trial, first)
            if trial_window is not None:  # billed when the trial ends
                owed.append(Due(STARTING, trial_window, None, local_date(trial, timezone)))
    horizon = min(at, end) if end is not None else at
    for period in charges_cycle.periods_between(start, horizon):
        if period.to_datetime + ONE_SECOND > horizon:  # not over: its last second has not passed
            break
        charges = charges_cycle.window(period, started_at=start)
        plan_period = cycle.period_containing(period.to_datetime)
        fee = None
        if plan_period.to_datetime == period.to_datetime:  # a plan period ends with this charges window
            billed = cycle.next_period(plan_period) if snapshot.pay_in_advance else plan_period
            if (end is None or end > billed.from_datetime) and not _in_trial(trial, period):
                fee = cycle.window(billed, started_at=start)  # not for a period it does not reach
        owed.append(Due(PERIODIC, fee, charges, period.billing_day))
    if end is not None and end <= at and subscription.on_termination_invoice != "skip":
        # The final invoice: usage up to the termination instant, and an arrears plan's fee
        # for the days it ran (a pay-in-advance plan's fee was billed when its period began).
        last = charges_cycle.period_containing(end)
        if last.from_datetime < end:
            charges = charges_cycle.window(last, started_at=start, terminated_at=end)
            fee = None
            if not snapshot.pay_in_advance:
                fee = cycle.window(cycle.period_containing(end), started_at=start, terminated_at=end)
            owed.append(Due(TERMINATING, fee, charges, local_date(end, timezone)))
    return owed


def _in_trial(trial: datetime | None, period: Period) -> bool:
    """Whether the invoice closing ``period`` is issued while the free trial runs, the trial not
    ending that day: such an invoice bills no subscription fee (Lago's rule); a plan paid in
    advance bills it when the trial ends, a plan in arrears with the period the trial ends in."""
    return trial is not None and trial > period.to_datetime + ONE_SECOND and \
        local_date(trial, period.timezone) != period.billing_day


def _trial_end_window(cycle: BillingCycle, start: datetime, trial: datetime,
                      first: BillingWindow) -> BillingWindow | None:
    """The fee window a plan paid in advance bills when its trial ends: the rest of the period the
    trial ends in; ``None`` when the trial ends on that period's first day, whose periodic invoice
    bills the period in advance as usual."""
    if trial <= first.to_datetime:
        return first
    period = cycle.period_containing(trial)
    if local_date(trial, period.timezone) == period.first_day:
        return None
    return cycle.window(period, started_at=start)


@dataclass(frozen=True)
class Billed:
    subscription_external_id: str
    reason: str
    from_datetime: datetime
    to_datetime: datetime
    invoice_id: uuid.UUID
    status: str
    total_amount_cents: int
    currency: str


@dataclass
class RunReport:
    billed: list[Billed]
    skipped: int  # periods found billed already (by an earlier or a concurrent run)
    finalized: list[uuid.UUID]  # drafts whose grace period ended
    refreshed: int = 0  # drafts priced again (still in their grace period)
    changed: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (subscription, started|downgraded|terminated)
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (subscription, error): left for the next run


def _billable_subscription_ids(database: Database, at: datetime, organization_id: uuid.UUID | None) -> list[uuid.UUID]:
    # Terminated subscriptions stop being looked at once their final invoice exists.
    finished = exists().where(InvoiceSubscription.subscription_id == Subscription.id,
                              InvoiceSubscription.invoicing_reason == TERMINATING)
    stmt = select(Subscription.id).where(
        Subscription.started_at <= at,
        or_(Subscription.status == "active", and_(Subscription.status == "terminated", ~finished)))
    if organization_id is not None:
        stmt = stmt.where(Subscription.organization_id == organization_id)
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(stmt.order_by(Subscription.started_at, Subscription.id)))


def _owed(database: Database, subscription_id: uuid.UUID, at: datetime) -> Iterator[Due]:
    with database.unit_of_work(write=False) as session:
        subscription = repository.subscription(session, subscription_id)
        if subscription is None:
            return iter(())
        billed = repository.billed_keys(session, subscription_id)
        return iter([due for due in due_periods(session, subscription, at) if due.key not in billed])


def _trial_end(session: Session, subscription: Subscription, trial: Decimal | None) -> datetime | None:
    """When the free trial of the subscription's plan version ends (None without one): ``trial``
    is the version's trial period."""
    if not trial:
        return None
    return trial_end(subscriptions_repository.initial_started_at(session, subscription), trial)


def _change(session: Session, old: Subscription, new: Subscription) -> PlanChange:
    before, after = plan_terms(session, old), plan_terms(session, new)
    return plan_change(before.amount_cents, before.interval, after.amount_cents, after.interval)


def ended_by(session: Session, subscription: Subscription) -> PlanChange | None:
    """The plan change that ended ``subscription`` (None unless a new subscription took over at the
    instant it was terminated): an upgrade credits one more unused day of a pay-in-advance fee."""
    following = subscription.next_subscription
    if following is None or not _switched(subscription, following):
        return None
    return _change(session, subscription, following)


@dataclass(frozen=True)
class History:
    """What a subscription fee depends on of the subscription's earlier invoices."""

    first_invoice: bool  # no invoice bills the subscription yet
    already_billed: bool  # a subscription fee of it exists


def _history(session: Session, subscription: Subscription) -> History:
    return History(not repository.has_invoice(session, subscription.id),
                   repository.has_subscription_fee(session, subscription.id))


def _fee_input(session: Session, subscription: Subscription, window: BillingWindow,
               terminated: bool, history: History) -> SubscriptionFeeInput:
    snapshot = pricing_for(session, subscription.organization_id, subscription).snapshot
    previous = subscription.previous_subscription
    started_by = _change(session, previous, subscription) if previous is not None else None
    timezone = subscription.customer.applicable_timezone
    return SubscriptionFeeInput(
        plan_amount_cents=snapshot.amount_cents, window=window, pay_in_advance=snapshot.pay_in_advance,
        billing_time=BillingTime(subscription.billing_time), terminated=terminated,
        ended_by=ended_by(session, subscription) if terminated else None,
        started_by=started_by,
        first_invoice=history.first_invoice,
        already_billed=history.already_billed,
        started_in_past=local_date(subscription.subscription_at, timezone) < local_date(subscription.created_at,
                                                                                         timezone),
        trial_end=_trial_end(session, subscription, snapshot.trial_period),
    )


def _switched(old: Subscription, new: Subscription) -> bool:
    """True when ``new`` took over from ``old`` at the instant ``old`` ended (a plan change)."""
    return (old.status == "terminated" and old.terminated_at is not None
            and new.started_at == old.terminated_at and new.previous_subscription_id == old.id)


def _closing_due(session: Session, subscription: Subscription, at: datetime) -> Due | None:
    """The invoice that ends a subscription replaced by a plan change: its final invoice (upgrade)
    or the invoice of the period that ended with it (downgrade)."""
    end = subscription.terminated_at
    owed = due_periods(session, subscription, at)
    if end is None or not owed:
        return None
    last = owed[-1]
    closes = last.charges_window is not None and last.charges_window.charges_to_datetime + ONE_SECOND >= end
    return last if closes else None


def _companions(session: Session, subscription: Subscription, due: Due, at: datetime) -> list[tuple[Subscription, Due]]:
    """What a plan change puts on the same invoice as ``due`` (Lago bills it as one invoice): the
    old subscription's closing invoice and the new pay-in-advance plan's starting fee."""
    found: list[tuple[Subscription, Due]] = []
    previous = subscription.previous_subscription
    if due.reason == STARTING and previous is not None and _switched(previous, subscription):
        closing = _closing_due(session, previous, at)
        if closing is not None:
            found.append((previous, closing))
    following = subscription.next_subscription
    if following is not None and _switched(subscription, following) and due == _closing_due(session, subscription, at):
        starting = [owed for owed in due_periods(session, following, at) if owed.reason == STARTING]
        found.extend((following, owed) for owed in starting[:1])
    return [(other, owed) for other, owed in found if owed.key not in repository.billed_keys(session, other.id)]


def fee_of(session: Session, subscription: Subscription, due: Due, history: History | None = None
           ) -> SubscriptionFee | None:
    """The subscription fee ``due`` bills (``None`` without a fee window); ``history`` read here
    unless given."""
    if due.fee_window is None:
        return None
    history = history if history is not None else _history(session, subscription)
    return subscription_fee(_fee_input(session, subscription, due.fee_window, due.reason == TERMINATING, history))


def link_row(invoice: Invoice, subscription: Subscription, due: Due,
             make: Callable[..., Any] = InvoiceSubscription) -> InvoiceSubscription:
    """The ``invoice_subscriptions`` row of ``due`` billed on ``invoice`` (unique per period), built
    by ``make`` (the mapped class, or a billing chunk's plain row: :mod:`billow.invoices.rows`)."""
    shown = due.fee_window or due.charges_window
    assert shown is not None
    reason, charges_from, charges_to = due.key
    return make(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        invoicing_reason=reason, from_datetime=shown.from_datetime, to_datetime=shown.to_datetime,
        charges_from_datetime=charges_from, charges_to_datetime=charges_to)


def fee_row(session: Session, invoice: Invoice, subscription: Subscription, due: Due, fee: SubscriptionFee | None,
            position: int, make: Callable[..., Any] = Fee) -> Fee | None:
    """The subscription fee line of ``due`` on ``invoice`` at ``position`` (``None`` without a fee),
    built by ``make`` (see :func:`link_row`)."""
    if fee is None or due.fee_window is None:
        return None
    in_advance = pricing_for(session, subscription.organization_id, subscription).snapshot.pay_in_advance
    row = builder.subscription_fee_row(invoice, subscription, due.fee_window, fee, in_advance, make)
    row.position = position
    return row


def billed(subscription: Subscription, due: Due, invoice: Invoice) -> Billed:
    shown = due.fee_window or due.charges_window
    assert shown is not None
    return Billed(subscription.external_id, due.reason, shown.from_datetime, shown.to_datetime, invoice.id,
                  invoice.status, invoice.total_amount_cents, invoice.currency)


def bill_period(session: Session, subscription_id: uuid.UUID, due: Due, at: datetime) -> Billed | None:
    """Write the invoice of one owed period (``None`` if it is billed already), with what a plan
    change bills together with it (:func:`_companions`). Never commits."""
    subscription = repository.subscription(session, subscription_id)
    if subscription is None:
        return None
    # The customer is locked before anything is written, as a billing chunk locks its customers:
    # concurrent runs then never hold a period's row and wait for the other's customer.
    repository.lock_customers(session, [subscription.customer_id])
    if due.key in repository.billed_keys(session, subscription_id):
        return None
    group = sorted([(subscription, due), *_companions(session, subscription, due, at)],
                   key=lambda pair: pair[0].started_at or pair[0].subscription_at)
    fees = [fee_of(session, member, owed) for member, owed in group]  # before the invoice exists
    snapshot = pricing_for(session, subscription.organization_id, subscription).snapshot
    issuing_date = max(owed.issuing_date for _, owed in group)
    invoice = service.new_invoice(session, subscription.customer, snapshot.amount_currency, issuing_date)
    members = []
    for member, owed in group:
        link = link_row(invoice, member, owed)
        session.add(link)
        session.flush()  # the exactly-once constraint answers here
        members.append((member, link))
    rows = [fee_row(session, invoice, member, owed, fee, -len(group) + position)  # subscription fees first
            for position, ((member, owed), fee) in enumerate(zip(group, fees, strict=True))]
    kept = [row for row in rows if row is not None]
    session.add_all(kept)  # written with the usage fees
    service.issue(session, invoice, at, members, kept)
    if due.charges_window is not None:  # pay-in-advance charges that are not invoiceable
        window_end = due.charges_window.charges_to_datetime + ONE_SECOND
        if due.reason == PERIODIC:
            renewal.renew_uninvoiced(session, subscription, window_end, at)
        paid.bill_paid_fees(session, subscription, window_end, due.issuing_date, at,
                            terminating=due.reason == TERMINATING)
    return billed(subscription, due, invoice)


def _bill_subscription(database: Database, subscription_id: uuid.UUID, at: datetime, report: RunReport) -> None:
    """The periods one subscription owes, oldest first, each in its own transaction."""
    for due in _owed(database, subscription_id, at):
        try:
            with database.unit_of_work() as session:
                billed = bill_period(session, subscription_id, due, at)
        except IntegrityError:  # billed by a concurrent run since we looked
            billed = None
        if billed is None:
            report.skipped += 1
            log.info("subscription %s period %s already billed", subscription_id, due.key)
        else:
            report.billed.append(billed)


def _apply_schedules(database: Database, at: datetime, organization_id: uuid.UUID | None, report: RunReport) -> None:
    """Starts, scheduled downgrades and ``ending_at`` terminations due by ``at``, each in its own
    transaction, before billing (so the periods they close are billed in the same run)."""
    with database.unit_of_work(write=False) as session:
        candidates = schedule.due(session, at, organization_id)
    for subscription_id in candidates:
        try:
            with database.unit_of_work() as session:
                done = schedule.apply(session, subscription_id, at)
        except Exception as error:  # one subscription's failure must not stop the others'
            log.exception("applying the schedule of subscription %s failed", subscription_id)
            report.failed.append((subscription_id, repr(error)))
            continue
        if done is not None:
            report.changed.append((subscription_id, done))


def bill_subscriptions(database: Database, subscription_ids: list[uuid.UUID], at: datetime) -> RunReport:
    """Bill now what these subscriptions owe at ``at`` (a plan change or a termination is billed
    when it happens, not at the next run of the billing clock). Idempotent like :func:`bill_due`."""
    report = RunReport([], 0, [])
    bill = one_by_one(database, at, report)
    for subscription_id in subscription_ids:
        bill(subscription_id)
    return report


def one_by_one(database: Database, at: datetime, report: RunReport) -> Callable[[uuid.UUID], None]:
    """Bill one subscription's periods, each in its own transaction; a failure is logged and
    reported, and left for the next run."""
    def bill(subscription_id: uuid.UUID) -> None:
        try:
            _bill_subscription(database, subscription_id, at, report)
        except Exception as error:  # one subscription's failure must not stop the others'
            log.exception("billing subscription %s failed", subscription_id)
            report.failed.append((subscription_id, repr(error)))
    return bill


def bill_due(database: Database, at: datetime, organization_id: uuid.UUID | None = None, *,
             chunked: bool = True, processes: int = 1) -> RunReport:
    """Bill every period ended by ``at`` and not invoiced yet; price again the drafts still in
    their grace period (late events reach them) and finalize those whose grace period ended (of one
    organization, or all). Idempotent: a second run at the same instant bills nothing.
    Plain subscriptions are billed many per transaction (:mod:`billow.invoices.batch`), the others
    (and all of them with ``chunked=False``) one period per transaction; the invoices are the same.
    A subscription whose billing fails is logged, reported and left for the next run; the others
    are billed. On PostgreSQL, ``processes`` > 1 bills the chunks in that many processes
    (:mod:`billow.invoices.parallel`); SQLite bills in this one."""
    from billow.invoices import parallel  # it builds on this module

    report = RunReport([], 0, [])
    _apply_schedules(database, at, organization_id, report)
    ids = _billable_subscription_ids(database, at, organization_id)
    if chunked:
        parallel.bill(database, ids, at, report, 1 if database.sqlite else processes)
    else:
        bill = one_by_one(database, at, report)
        for subscription_id in ids:
            bill(subscription_id)
    report.billed.extend(progressive.bill_thresholds(database, at, organization_id))  # usage thresholds passed
    report.refreshed = service.refresh_drafts(database, at, organization_id)
    report.finalized = service.finalize_due_drafts(database, at, organization_id)
    return report


__all__ = ["PERIODIC", "STARTING", "TERMINATING", "Billed", "Due", "RunReport", "bill_due", "bill_subscriptions",
           "due_periods", "ended_by", "one_by_one"]
