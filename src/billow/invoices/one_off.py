"""One-off invoices (``POST /invoices``): add-ons billed to a customer outside any subscription.

Each line is an ``add_on`` fee: ``units`` (1 by default) times ``unit_amount_cents`` (the
add-on's price by default), rounded once to whole cents, half away from zero. Its taxes are the
line's ``tax_codes`` when sent, else the add-on's, else the customer's, else the organization's
(lago-semantics.md 6.3); totals come from :func:`billow.invoices.builder.apply_totals` like every
other invoice. The invoice is finalized at once (numbered, ``invoice.one_off_created``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.add_ons import repository as add_ons
from billow.core.errors import NotFound, ValidationFailed
from billow.customers import repository as customers
from billow.invoices import builder, service
from billow.invoices.schemas import OneOffCreate, OneOffFeeIn
from billow.models import AddOn, Customer, Fee, Invoice, Organization, Tax
from billow.pricing.periods import local_date
from billow.pricing.proration import round_cents
from billow.pricing.taxes import FeeKind, TaxRate, taxes_for_fee
from billow.subscriptions import repository as subscriptions
from billow.taxes import repository as taxes


@dataclass(frozen=True)
class AddOnTaxes:
    """The taxes of each add-on fee of the invoice (by fee id) and the names of every tax, in the
    shape :func:`billow.invoices.builder.apply_totals` reads them."""

    by_fee: dict[uuid.UUID, tuple[TaxRate, ...]]
    names: dict[str, Tax]

    def rates(self, fee: Fee) -> tuple[TaxRate, ...]:
        return self.by_fee[fee.id]


def _rates(rows: Sequence[Tax]) -> tuple[TaxRate, ...]:
    return tuple(TaxRate(tax.code, Decimal(str(tax.rate))) for tax in rows)


def _currency(session: Session, customer: Customer, requested: str | None) -> str:
    """The invoice's currency: the one sent, else the customer's. A customer without a currency
    takes it; a customer already billed in another one (subscriptions, fixed-amount coupons) keeps
    its own and the request is refused."""
    currency = requested or customer.currency
    if currency is None:
        raise ValidationFailed.field("currency", "value_is_mandatory")
    if customer.currency != currency:
        if customer.currency is not None and (subscriptions.customer_has_subscriptions(session, customer.id)
                                              or customers.has_currency_bound_coupons(session, customer.id)):
            raise ValidationFailed.field("currency", "currencies_does_not_match")
        customer.currency = currency
    return currency


def _fee_row(invoice: Invoice, add_on: AddOn, line: OneOffFeeIn, at: datetime) -> Fee:
    unit_amount_cents = add_on.amount_cents if line.unit_amount_cents is None else line.unit_amount_cents
    units = Decimal(1) if line.units is None else line.units
    precise = Decimal(unit_amount_cents) * units
    return Fee(
        id=uuid.uuid4(), organization_id=invoice.organization_id, invoice_id=invoice.id, fee_type="add_on",
        item={"type": "add_on", "code": add_on.code, "name": add_on.name,
              "invoice_display_name": line.invoice_display_name or add_on.invoice_display_name or add_on.name,
              "lago_item_id": str(add_on.id), "item_type": "AddOn", "filters": None,
              "filter_invoice_display_name": None},
        amount_currency=invoice.currency, amount_cents=round_cents(precise), precise_amount_cents=precise,
        units=units, total_aggregated_units=units, events_count=0,
        description=line.description if line.description is not None else add_on.description,
        from_datetime=line.from_datetime or at, to_datetime=line.to_datetime or at,
    )


def create(session: Session, organization: Organization, data: OneOffCreate, at: datetime) -> Invoice:
    """Issue a one-off invoice: validated first, so a refused request changes nothing."""
    customer = customers.get(session, organization.id, data.external_customer_id)
    if not data.fees:
        raise NotFound("fees")
    found = {line.add_on_code: add_ons.find_by_code(session, organization.id, line.add_on_code) for line in data.fees}
    if any(add_on is None for add_on in found.values()):
        raise NotFound("add_on")
    line_taxes = [taxes.resolve_codes(session, organization.id, line.tax_codes) if line.tax_codes else None
                  for line in data.fees]
    currency = _currency(session, customer, data.currency)

    invoice = service.new_invoice(session, customer, currency, local_date(at, customer.applicable_timezone),
                                  invoice_type="one_off")
    customer_rates = _rates(list(customer.taxes))
    organization_rates = _rates(taxes.organization_taxes(session, organization.id))
    fees, by_fee = [], {}
    for position, (line, chosen) in enumerate(zip(data.fees, line_taxes, strict=True), start=1):
        add_on = found[line.add_on_code]
        assert add_on is not None
        fee = _fee_row(invoice, add_on, line, at)
        fee.position = position
        by_fee[fee.id] = taxes_for_fee(FeeKind.ADD_ON, add_on=_rates(chosen if chosen is not None else add_on.taxes),
                                       customer=customer_rates, organization=organization_rates)
        fees.append(fee)
    session.add_all(fees)
    names = {tax.code: tax for tax in session.scalars(taxes.list_query(organization.id))}
    builder.apply_totals(invoice, fees, {None: AddOnTaxes(by_fee, names)}, finalize=True)  # type: ignore[dict-item]
    service.close(session, invoice, at)
    service.announce(session, invoice, "invoice.one_off_created")
    return invoice


__all__ = ["AddOnTaxes", "create"]
