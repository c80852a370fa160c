"""What an invoice or credit-note PDF shows, laid out from the object's Lago wire shape.

The templates receive these views: every figure is one the API already answers for the
document (``invoice_json`` / ``credit_note_json``, read from the stored invoice, fees, credits
and taxes). Nothing is priced again here; the only arithmetic is writing minor units in major
units of the currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billow.core.money import exponent, from_minor_units

# Billing entities of these countries issue "tax invoices" (Lago's document names).
TAX_INVOICE_COUNTRIES = frozenset({"AU", "AE", "NZ", "ID", "SG"})
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CHF": "CHF ", "CAD": "CA$", "AUD": "A$"}


def document_title(invoice_type: str, country: str | None, *, self_billed: bool = False,
                   advance_charges: bool = False) -> str:
    """The invoice's title, in Lago's order of precedence."""
    if self_billed:
        return "Self-billing invoice"
    if invoice_type == "credit":
        return "Advance invoice"
    if (country or "").upper() in TAX_INVOICE_COUNTRIES:
        return "Paid tax invoice" if advance_charges else "Tax invoice"
    return "Paid invoice" if advance_charges else "Invoice"


def money(cents: int, currency: str) -> str:
    """Minor units written in the currency's major units: ``-€1,234.50``."""
    amount = from_minor_units(cents, currency)
    sign = "-" if amount < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(amount):,.{exponent(currency)}f}"


def unit_price(precise: str, currency: str) -> str:
    """A precise unit amount (major units, as ``precise_unit_amount``), never shortened below the
    currency's exponent nor rounded."""
    amount = Decimal(precise)
    places = max(exponent(currency), -amount.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{SYMBOLS.get(currency, currency + ' ')}{amount:,.{places}f}"


def units(value: str) -> str:
    number = Decimal(value).normalize()
    return f"{number:f}" if number == number.to_integral() else str(number)


def percent(rate: float | str | Decimal) -> str:
    return f"{units(str(rate))}%"


def day(iso: str | None) -> str:
    return (iso or "")[:10]


@dataclass
class Line:
    label: str
    amount: str
    detail: str = ""
    units: str = ""
    unit_price: str = ""
    tax_rate: str = ""


@dataclass
class Group:
    title: str
    period: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class Party:
    name: str
    lines: list[str]


def _clean(values: list[str | None]) -> list[str]:
    return [value for value in values if value]


def organization_party(organization: Any) -> Party:
    """The issuer (the organization is Billow's billing entity)."""
    city = " ".join(_clean([organization.zipcode, organization.city]))
    return Party(organization.legal_name or organization.name, _clean([
        organization.legal_number, organization.address_line1, organization.address_line2, city,
        organization.state, organization.country, organization.email,
        f"Tax ID: {organization.tax_identification_number}" if organization.tax_identification_number else None]))


def customer_party(customer: dict[str, Any]) -> Party:
    name = customer.get("legal_name") or customer.get("name") or customer.get("external_id") or ""
    person = " ".join(_clean([customer.get("firstname"), customer.get("lastname")]))
    city = " ".join(_clean([customer.get("zipcode"), customer.get("city")]))
    return Party(f"{name} - {person}" if person else name, _clean([
        customer.get("legal_number"), customer.get("address_line1"), customer.get("address_line2"), city,
        customer.get("state"), customer.get("country"), customer.get("email"),
        f"Tax ID: {customer['tax_identification_number']}" if customer.get("tax_identification_number") else None]))


def _fee_label(fee: dict[str, Any]) -> tuple[str, str]:
    """(label, detail) of a fee row: its item's display name, its filter and group values."""
    item = fee["item"]
    name = item.get("invoice_display_name") or item.get("name") or item.get("code") or ""
    if fee.get("lago_true_up_parent_fee_id"):
        name = f"{name} - True-up"
    elif item.get("type") == "subscription":
        name = f"Subscription fee - {name}"
    values = [str(value) for values in (item.get("filters") or {}).values()
              for value in (values if isinstance(values, list) else [values])]
    values += [str(value) for value in (item.get("grouped_by") or {}).values() if value is not None]
    detail = item.get("filter_invoice_display_name") or " • ".join(values)
    return name, detail


def fee_line(fee: dict[str, Any], amount_cents: int | None = None) -> Line:
    label, detail = _fee_label(fee)
    currency = fee["amount_currency"]
    rates = [tax["tax_rate"] for tax in fee.get("applied_taxes") or []]
    return Line(label, money(fee["amount_cents"] if amount_cents is None else amount_cents, currency), detail,
                units(fee["units"]), unit_price(fee["precise_unit_amount"], currency),
                ", ".join(percent(rate) for rate in rates) or percent(0))


def _subscription_title(subscription: dict[str, Any] | None, external_id: str) -> str:
    if subscription is None:
        return external_id
    return subscription.get("name") or subscription.get("plan_code") or external_id


def invoice_groups(invoice: dict[str, Any]) -> list[Group]:
    """The fee rows per subscription, in the invoice's order; fees of no subscription (add-ons)
    after them. Fees with zero units are not shown, as on Lago's invoices."""
    subscriptions = {sub["lago_id"]: sub for sub in invoice.get("subscriptions") or []}
    groups: dict[str | None, Group] = {}
    for period in invoice.get("billing_periods") or []:
        key = period["lago_subscription_id"]
        if key in groups:
            continue
        if invoice["invoice_type"] == "progressive_billing":
            span = f"Fees from {day(period['charges_from_datetime'])} to {invoice['issuing_date']}"
        else:
            span = f"{day(period['subscription_from_datetime'])} to {day(period['subscription_to_datetime'])}"
        groups[key] = Group(_subscription_title(subscriptions.get(key), period["external_subscription_id"]), span)
    for fee in invoice.get("fees") or []:
        if Decimal(fee["units"]) == 0:
            continue
        key = fee.get("lago_subscription_id")
        if key not in groups:
            groups[key] = Group(fee.get("external_subscription_id") or "Fees", "")
        groups[key].lines.append(fee_line(fee))
    return [group for group in groups.values() if group.lines]


def _tax_lines(taxes: list[dict[str, Any]], base_key: str, currency: str) -> list[Line]:
    if not taxes:
        return [Line("Tax (0%)", money(0, currency))]
    ordered = sorted(taxes, key=lambda tax: -Decimal(str(tax["tax_rate"])))
    return [Line(f"{tax.get('tax_name') or tax['tax_code']} ({percent(tax['tax_rate'])} on "
                 f"{money(tax.get(base_key) or 0, currency)})", money(tax["amount_cents"], currency))
            for tax in ordered]


def invoice_totals(invoice: dict[str, Any]) -> list[Line]:
    """The totals block, in Lago's order."""
    currency = invoice["currency"]
    lines = []
    if invoice["progressive_billing_credit_amount_cents"]:
        lines.append(Line("Usage already billed", money(-invoice["progressive_billing_credit_amount_cents"], currency)))
    for credit in invoice.get("credits") or []:
        if credit["item"]["type"] == "coupon":
            lines.append(Line(credit["item"]["name"] or credit["item"]["code"], money(-credit["amount_cents"], currency)))
    lines.append(Line("Subtotal (excl. tax)", money(invoice["sub_total_excluding_taxes_amount_cents"], currency)))
    lines += _tax_lines(invoice.get("applied_taxes") or [], "fees_amount_cents", currency)
    lines.append(Line("Subtotal (incl. tax)", money(invoice["sub_total_including_taxes_amount_cents"], currency)))
    if invoice["credit_notes_amount_cents"]:
        lines.append(Line("Credit notes", money(-invoice["credit_notes_amount_cents"], currency)))
    if invoice["prepaid_credit_amount_cents"]:
        lines.append(Line("Prepaid credits", money(-invoice["prepaid_credit_amount_cents"], currency)))
    lines.append(Line("Total", money(invoice["total_amount_cents"], currency)))
    return lines


def progressive_notes(invoice: dict[str, Any]) -> list[str]:
    currency = invoice["currency"]
    return [f"This progressive billing invoice is generated because your cumulative usage has reached "
            f"{money(applied['lifetime_usage_amount_cents'], currency)}, exceeding the "
            f"{money(applied['usage_threshold']['amount_cents'], currency)} threshold."
            for applied in invoice.get("applied_usage_thresholds") or []]


def invoice_view(invoice: dict[str, Any], organization: Any) -> dict[str, Any]:
    currency = invoice["currency"]
    return {
        "title": document_title(invoice["invoice_type"], organization.country, self_billed=invoice["self_billed"]),
        "number": invoice["number"],
        "issuing_date": invoice["issuing_date"],
        "payment_term": f"{invoice['net_payment_term']} days",
        "due": f"Due {invoice['payment_due_date']}",
        "status": invoice["status"],
        "issuer": organization_party(organization),
        "recipient": customer_party(invoice["customer"]),
        "total": money(invoice["total_amount_cents"], currency),
        "groups": invoice_groups(invoice),
        "totals": invoice_totals(invoice),
        "notes": progressive_notes(invoice),
        "footer": organization.invoice_footer,
    }


def credit_notice(note: dict[str, Any], invoice_number: str) -> str:
    date = note["issuing_date"]
    kinds = [(note["credit_amount_cents"], f"Credited on customer balance on {date}"),
             (note["refund_amount_cents"], f"Refunded on {date}"),
             (note["offset_amount_cents"], f"Offset invoice {invoice_number} on {date}")]
    given = [text for amount, text in kinds if amount]
    return given[0] if len(given) == 1 else f"Issued on {date}"


def credit_note_groups(note: dict[str, Any]) -> list[Group]:
    groups: dict[str | None, Group] = {}
    for item in note.get("items") or []:
        fee = item["fee"]
        key = fee.get("external_subscription_id")
        group = groups.setdefault(key, Group(key or "Items", ""))
        group.lines.append(fee_line(fee, item["amount_cents"]))
    return list(groups.values())


def credit_note_totals(note: dict[str, Any]) -> list[Line]:
    currency = note["currency"]
    lines = []
    if note["coupons_adjustment_amount_cents"]:
        lines.append(Line("Coupons", money(-note["coupons_adjustment_amount_cents"], currency)))
    lines.append(Line("Subtotal (excl. tax)", money(note["sub_total_excluding_taxes_amount_cents"], currency)))
    lines += _tax_lines(note.get("applied_taxes") or [], "base_amount_cents", currency)
    for key, label in (("offset_amount_cents", "Offset"), ("credit_amount_cents", "Credited on customer balance"),
                       ("refund_amount_cents", "Refunded")):
        if note[key]:
            lines.append(Line(label, money(note[key], currency)))
    lines.append(Line("Total", money(note["total_amount_cents"], currency)))
    return lines


def credit_note_view(note: dict[str, Any], organization: Any) -> dict[str, Any]:
    return {
        "title": "Credit note",
        "number": note["number"],
        "invoice_number": note["invoice_number"],
        "issuing_date": note["issuing_date"],
        "issuer": organization_party(organization),
        "recipient": customer_party(note["customer"]),
        "total": money(note["total_amount_cents"], note["currency"]),
        "notice": credit_notice(note, note["invoice_number"]),
        "groups": credit_note_groups(note),
        "totals": credit_note_totals(note),
        "footer": organization.invoice_footer,
    }
