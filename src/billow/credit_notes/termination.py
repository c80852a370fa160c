"""The credit note for the unused part of a subscription fee paid in advance, when the
subscription ends early (terminated, or upgraded) (lago-semantics.md 5.4).

It credits, on the invoice holding the subscription's last fee, the unused days of that fee's
period x plan amount / period days (the termination day counts as used; an upgrade credits one
more day), at most what the fee has left to credit. Coupons on the fee and its taxes follow the
fee (:func:`billow.credit_notes.service.price_items`). ``on_termination_credit_note`` chooses
what becomes of it: ``credit`` (the default) a balance for the next invoices, ``refund`` a refund
when the invoice was paid, ``offset`` an offset of what an unpaid invoice owes, ``skip`` nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN

from sqlalchemy.orm import Session

from billow.credit_notes import repository, service
from billow.models import CreditNote, Invoice, Subscription
from billow.pricing.proration import termination_credit
from billow.pricing.taxes import decimal_sum
from billow.subscriptions import periods


def credit_unused_fee(session: Session, subscription: Subscription, *, plan_amount_cents: int,
                      trial_end: datetime | None, upgrade: bool = False) -> CreditNote | None:
    """The credit note for ``subscription``, just terminated; ``None`` when there is nothing to credit."""
    choice = subscription.on_termination_credit_note or "credit"
    terminated_at = subscription.terminated_at
    if choice == "skip" or terminated_at is None:
        return None
    fee = repository.last_subscription_fee(session, subscription.id)
    if fee is None or fee.to_datetime < terminated_at:
        return None
    period = periods.cycle_for(subscription, subscription.plan, subscription.customer).period_containing(terminated_at)
    credited = repository.credited_by_fee(session, fee.invoice_id).get(fee.id, [])
    unused = termination_credit(plan_amount_cents=plan_amount_cents, period=period, terminated_at=terminated_at,
                                fee_amount_cents=fee.amount_cents, credited_cents=decimal_sum(credited),
                                upgrade=upgrade, trial_end=trial_end)
    amount = unused.precise_amount_cents.quantize(service.ITEM_PLACES, rounding=ROUND_DOWN)
    if amount <= 0:
        return None
    invoice = session.get_one(Invoice, fee.invoice_id, with_for_update=True)
    priced = service.price_items(session, invoice, [(fee.id, amount)])
    total = priced.totals.total_amount_cents
    if total <= 0:
        return None
    paid = invoice.payment_status == "succeeded"
    refund = total if choice == "refund" and paid else 0
    offset = total if choice == "offset" and not paid else 0
    return service.issue(session, priced, reason="order_change" if upgrade else "order_cancellation",
                         credit=total - refund - offset, refund=refund, offset=offset)
