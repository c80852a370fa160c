"""The fees of one subscription period and the totals of their invoice.

Charge fees come from :func:`billow.usage.service.current_usage` evaluated at the end of the
charges window: the invoice prices usage with the very functions current usage uses. The
subscription fee comes from :func:`billow.pricing.proration.subscription_fee`, taxes and totals
from :func:`billow.pricing.invoice.compute_invoice`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from billow.core import clock
from billow.core.money import exponent
from billow.fees.carried import carried_usage
from billow.invoices import credits, progressive_credits, repository
from billow.models import Customer, Fee, Invoice, InvoiceSubscription, Subscription, Tax
from billow.pricing.invoice import InvoiceTotals, commitment_true_up, compute_invoice
from billow.pricing.periods import BillingWindow
from billow.pricing.periods import date_diff_with_timezone
from billow.pricing.proration import SubscriptionFee, prorate, round_cents
from billow.pricing.taxes import Fee as PricedFee
from billow.pricing.taxes import FeeKind, TaxRate, percent_of, taxes_for_fee
from billow.subscriptions import periods
from billow.usage.charges import BucketUsage, ChargeUsage
from billow.usage.service import Pricing, charge_fee_taxes, current_usage, pricing_for, window_for


def subscription_fee_row(invoice: Invoice, subscription: Subscription, window: BillingWindow, fee: SubscriptionFee,
                         pay_in_advance: bool, make: Callable[..., Any] = Fee) -> Fee:
    """The subscription fee line; ``make`` builds it (the mapped class, or a billing chunk's plain
    row: :mod:`billow.invoices.rows`)."""
    plan, currency = subscription.plan, invoice.currency
    return make(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        charge_id=None, charge_filter_id=None, grouped_by={},  # the columns every fee row sets: inserted together
        fee_type="subscription", position=0,
        item={"type": "subscription", "code": plan.code, "name": plan.name,
              "invoice_display_name": plan.invoice_display_name or plan.name, "lago_item_id": str(subscription.id),
              "item_type": "Subscription", "filters": None, "filter_invoice_display_name": None},
        amount_currency=currency, amount_cents=fee.amount_cents, precise_amount_cents=fee.precise_amount_cents,
        units=Decimal(1), total_aggregated_units=Decimal(1), events_count=0, pay_in_advance=pay_in_advance,
        from_datetime=window.from_datetime, to_datetime=window.to_datetime,
    )


def charge_fee_rows(session: Session, invoice: Invoice, subscription: Subscription, at: datetime,
                    make: Callable[..., Any] = Fee) -> list[Fee]:
    """One fee per filter/group bucket of every in-arrears charge, priced by current usage at ``at``,
    then the charge's min-amount true-up; ``make`` builds each (see :func:`subscription_fee_row`).

    Buckets with no units, no amount and no event are not billed (Lago drops them), except the
    first one of a charge whose true-up needs a parent fee.
    """
    customer = subscription.customer
    usage = current_usage(session, subscription.organization_id, customer, subscription, at, apply_taxes=False)
    window, _billing = window_for(subscription, customer, at)
    window_days = date_diff_with_timezone(usage.from_datetime, usage.to_datetime, window.timezone)
    scale = Decimal(10) ** exponent(usage.currency)
    rows: list[Fee] = []
    for charge_usage in usage.charges:
        charge = charge_usage.charge
        if not charge.invoiceable:
            continue
        if charge.pay_in_advance:  # billed per event; a recurring metric's carried units only
            carried = carried_usage(session, invoice, subscription, charge_usage, window, at)
            if carried is None:
                continue
            charge_usage = carried
        minimum = prorate(charge.min_amount_cents if not charge.pay_in_advance else 0, window_days,
                          window.charges_duration_days)
        true_up = max(0, round_cents(minimum) - charge_usage.amount_cents)
        kept = [bucket for bucket in charge_usage.buckets if bucket.units or bucket.amount_cents or bucket.events_count]
        if true_up and not kept:
            kept = charge_usage.buckets[:1]
        fees = [bucket_fee(invoice, subscription, charge_usage, bucket, usage.currency, scale, usage.from_datetime,
                           usage.to_datetime, make) for bucket in kept]
        if true_up and fees:
            parent = fees[0]
            parent.id = uuid.uuid4()
            precise = minimum - sum((fee.precise_amount_cents for fee in fees), Decimal(0))
            fees.append(make(
                organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
                charge_id=charge.id, fee_type="charge", item={**parent.item, "filters": None},
                true_up_parent_fee_id=parent.id, amount_currency=usage.currency, amount_cents=true_up,
                precise_amount_cents=max(precise, Decimal(0)), units=Decimal(1), total_aggregated_units=Decimal(1),
                events_count=0, from_datetime=usage.from_datetime, to_datetime=usage.to_datetime))
        for fee in fees:
            fee.position = len(rows) + 1
            rows.append(fee)
    return rows


def bucket_fee(invoice: Invoice | None, subscription: Subscription, charge_usage: ChargeUsage, bucket: BucketUsage,
               currency: str, scale: Decimal, start: datetime, stop: datetime, make: Callable[..., Any] = Fee) -> Fee:
    """The fee of one filter/group bucket of a charge (on ``invoice``, or on none yet)."""
    charge, metric = charge_usage.charge, charge_usage.metric
    filtered = bucket.filter_index is not None
    return make(
        organization_id=subscription.organization_id, invoice_id=invoice.id if invoice is not None else None,
        subscription_id=subscription.id,
        charge_id=charge.id, charge_filter_id=charge.filters[bucket.filter_index].id if filtered else None,
        fee_type="charge",
        item={"type": "charge", "code": metric.code, "name": metric.name,
              "invoice_display_name": charge.invoice_display_name or metric.name,
              "lago_item_id": str(metric.id), "item_type": "BillableMetric",
              "filters": charge.filters[bucket.filter_index].values if filtered else None,
              "filter_invoice_display_name": charge.filters[bucket.filter_index].invoice_display_name
              if filtered else None},
        grouped_by=bucket.group, amount_currency=currency, amount_cents=bucket.amount_cents,
        precise_amount_cents=bucket.precise_amount * scale, units=bucket.units,
        total_aggregated_units=bucket.total_aggregated_units, events_count=bucket.events_count,
        pay_in_advance=False, from_datetime=start, to_datetime=stop,
    )


def closes_plan_period(session: Session, subscription: Subscription, link: InvoiceSubscription,
                       fees: list[Fee]) -> bool:
    """Whether the invoice closes a plan period of the subscription (its commitment is trued up):
    it bills the subscription's fee, or, in arrears, the free trial left no fee to bill at the end
    of a plan period (Lago's true-up does not look at the trial)."""
    if link.invoicing_reason == "subscription_starting":
        return False
    if any(fee.fee_type == "subscription" and fee.subscription_id == subscription.id for fee in fees):
        return True
    if pricing_for(session, subscription.organization_id, subscription).snapshot.pay_in_advance:
        return False
    cycle = periods.cycle_for(subscription, subscription.plan, subscription.customer)
    return cycle.period_containing(link.to_datetime).to_datetime == link.to_datetime


def commitment_fee_row(session: Session, invoice: Invoice, subscription: Subscription,
                       link: InvoiceSubscription) -> Fee | None:
    """The minimum-commitment true-up of the plan period this invoice closes (lago-semantics 6.8):
    the commitment prorated to the days covered minus the subscription's fees of that period.

    In arrears the period is the one whose fee the invoice bills; in advance, the one whose usage
    it bills (its fee was billed when it began). ``None`` without a commitment or a shortfall.
    """
    snapshot = pricing_for(session, subscription.organization_id, subscription).snapshot
    commitment = snapshot.minimum_commitment
    if commitment is None:
        return None
    session.flush()  # the fees of this invoice count among the period's fees
    cycle = periods.cycle_for(subscription, subscription.plan, subscription.customer)
    start = subscription.started_at or subscription.subscription_at
    if snapshot.pay_in_advance:
        period = cycle.period_containing(link.charges_to_datetime)
        window = cycle.window(period, started_at=start, terminated_at=subscription.terminated_at)
    else:
        period = cycle.period_containing(link.to_datetime)
        window = cycle.window(period, started_at=start, terminated_at=link.to_datetime
                              if link.to_datetime < period.to_datetime else None)
    covered = date_diff_with_timezone(window.from_datetime, window.to_datetime, period.timezone)
    billed = repository.period_fees_cents(session, subscription.id, period.from_datetime, period.to_datetime)
    amount = commitment_true_up(commitment.amount_cents, covered, period.days, billed)
    if amount == 0:
        return None
    return Fee(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        fee_type="commitment",
        item={"type": "commitment", "code": "minimum_commitment", "name": "Minimum commitment",
              "invoice_display_name": "Minimum commitment", "lago_item_id": str(subscription.id),
              "item_type": "Commitment", "filters": None, "filter_invoice_display_name": None},
        amount_currency=invoice.currency, amount_cents=amount, precise_amount_cents=Decimal(amount),
        units=Decimal(1), total_aggregated_units=Decimal(1), events_count=0,
        from_datetime=window.from_datetime, to_datetime=window.to_datetime,
    )


@dataclass(frozen=True)
class TaxBook:
    """Which taxes each fee of a subscription bears, and the names of those taxes. The rates of a
    kind of fee (of a charge) are worked out once: they depend on the plan version's and the
    customer's taxes alone, which do not change while a book prices."""

    pricing: Pricing
    customer: Customer
    names: dict[str, Tax]
    _known: dict[tuple[str, uuid.UUID | None], tuple[TaxRate, ...]] = field(default_factory=dict, compare=False,
                                                                           repr=False)

    def rates(self, fee: Fee) -> tuple[TaxRate, ...]:
        key = (fee.fee_type, fee.charge_id)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = self._rates(fee)
        return found

    def _rates(self, fee: Fee) -> tuple[TaxRate, ...]:
        if fee.fee_type == "charge":
            charge = next(c for c in self.pricing.snapshot.charges if c.id == fee.charge_id)
            return charge_fee_taxes(self.pricing, self.customer)(charge)
        by_code = self.pricing.taxes_by_code
        plan_rates = tuple(by_code[c] for c in self.pricing.snapshot.tax_codes if c in by_code)
        commitment = self.pricing.snapshot.minimum_commitment
        if fee.fee_type == "commitment" and commitment is not None and commitment.tax_codes:
            plan_rates = tuple(by_code[c] for c in commitment.tax_codes if c in by_code)
        customer_rates = tuple(TaxRate(t.code, Decimal(str(t.rate))) for t in self.customer.taxes)
        kind = FeeKind.COMMITMENT if fee.fee_type == "commitment" else FeeKind.SUBSCRIPTION
        return taxes_for_fee(kind, plan=plan_rates, customer=customer_rates,
                             organization=self.pricing.organization_taxes)


def tax_book(session: Session, subscription: Subscription, customer: Customer,
             names: dict[str, Tax] | None = None) -> TaxBook:
    pricing = pricing_for(session, subscription.organization_id, subscription)
    return TaxBook(pricing, customer, tax_names(session, subscription.organization_id) if names is None else names)


def tax_names(session: Session, organization_id: uuid.UUID) -> dict[str, Tax]:
    """The organization's taxes by code (what a fee's ``applied_taxes`` names)."""
    return {tax.code: tax for tax in session.scalars(select(Tax).where(Tax.organization_id == organization_id))}


def tax_json(tax: Tax | None, code: str, rate: Decimal, amount_cents: int, currency: str) -> dict[str, Any]:
    return {"lago_tax_id": str(tax.id) if tax else None, "tax_name": tax.name if tax else code, "tax_code": code,
            "tax_rate": float(rate), "tax_description": tax.description if tax else None,
            "amount_cents": amount_cents, "amount_currency": currency}


def _priced(session: Session, fees: list[Fee], rates: list[tuple[TaxRate, ...]]) -> list[PricedFee]:
    """The fees as the pricing takes them: what coupons limited to plans or metrics look at."""
    plans: dict[uuid.UUID | None, str | None] = {None: None}
    for fee in fees:
        if fee.subscription_id not in plans:
            plan = session.get_one(Subscription, fee.subscription_id).plan
            plans[fee.subscription_id] = str(plan.parent_id or plan.id)
    return [PricedFee(str(i), FeeKind(fee.fee_type), fee.amount_cents,
                      billable_metric_id=fee.item.get("lago_item_id") if fee.fee_type == "charge" else None,
                      plan_id=plans[fee.subscription_id], taxes=rates[i])
            for i, fee in enumerate(fees)]


def applied_taxes_json(names: dict[str, str | None], rates: Sequence[TaxRate], base: Decimal,
                       currency: str) -> list[dict[str, Any]]:
    """A fee's ``applied_taxes``: each rate on ``base`` (what the fee is taxed on), rounded to cents."""
    return [tax_json(names.get(r.code), r.code, r.rate, round_cents(percent_of(base, r.rate)), currency)
            for r in rates]


def apply_totals(invoice: Invoice, fees: list[Fee], books: dict[uuid.UUID | None, TaxBook], *,
                 finalize: bool, spent: credits.CreditInputs | None = None, session: Session | None = None,
                 progressive: bool = True) -> InvoiceTotals:
    """Every total of ``invoice`` and the tax fields of each fee, by ``compute_invoice``.

    Finalizing spends the customer's coupons and credit notes (:mod:`billow.invoices.credits`),
    after giving back whatever an earlier pricing of this invoice took; ``spent`` is what the
    caller already read of them, under the customer's lock, for an invoice that took nothing yet.
    A billing chunk prices invoices not added to any ``session`` (written later, in bulk), of
    subscriptions without progressive invoices (``progressive=False``: nothing to deduct).
    """
    session = session if session is not None else object_session(invoice)
    assert session is not None
    rates = [books[fee.subscription_id].rates(fee) for fee in fees]
    if not finalize:
        spent = credits.CreditInputs()
    elif spent is None:
        spent = credits.inputs(session, invoice)
    priced = _priced(session, fees, rates)
    if progressive:
        priced, refunds = progressive_credits.deduct(session, invoice, fees, priced, finalize=finalize)
        spent = credits.adding(spent, refunds)
    totals = compute_invoice(priced, currency=invoice.currency, finalize=finalize,
                             coupons=[coupon for _, coupon in spent.coupons.values()],
                             credit_notes=[note for _, note in spent.credit_notes.values()])
    if finalize and (spent.coupons or spent.credit_notes):
        credits.record(session, invoice, totals, spent, clock.now())
    names = next(iter(books.values())).names if books else {}
    for fee, line, fee_rates in zip(fees, totals.fees, rates, strict=True):
        # As in Lago, a fee's progressive credit counts in its coupon share (what its taxes leave out).
        fee.precise_coupons_amount_cents = line.precise_coupons_amount_cents + line.progressive_credit_cents
        fee.taxes_rate = line.taxes_rate
        fee.taxes_precise_amount_cents = line.taxes_precise_amount_cents
        fee.taxes_amount_cents = line.taxes_amount_cents
        fee.applied_taxes = applied_taxes_json(names, fee_rates, line.sub_total_excluding_taxes_amount_cents,
                                               invoice.currency)
    invoice.fees_amount_cents = totals.fees_amount_cents
    invoice.progressive_billing_credit_amount_cents = totals.progressive_billing_credit_amount_cents
    invoice.coupons_amount_cents = totals.coupons_amount_cents
    invoice.sub_total_excluding_taxes_amount_cents = totals.sub_total_excluding_taxes_amount_cents
    invoice.taxes_amount_cents = totals.taxes_amount_cents
    invoice.sub_total_including_taxes_amount_cents = totals.sub_total_including_taxes_amount_cents
    invoice.credit_notes_amount_cents = totals.credit_notes_amount_cents
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents
    invoice.applied_taxes = [
        {**tax_json(names.get(t.code), t.code, t.rate, t.amount_cents, invoice.currency),
         "fees_amount_cents": round_cents(t.base_amount_cents)}
        for t in totals.applied_taxes
    ]
    return totals


__all__ = ["TaxBook", "applied_taxes_json", "apply_totals", "bucket_fee", "charge_fee_rows", "closes_plan_period", "subscription_fee_row",
           "tax_book", "tax_names"]
