"""What the documents show, from wire shapes: titles, amounts, rows and totals (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from billow.documents import views


@pytest.mark.parametrize(("invoice_type", "country", "flags", "title"), [
    ("subscription", "FR", {}, "Invoice"),
    ("subscription", None, {}, "Invoice"),
    ("one_off", "fr", {"advance_charges": True}, "Paid invoice"),
    ("credit", "AU", {}, "Advance invoice"),
    ("subscription", "AU", {}, "Tax invoice"),
    ("subscription", "sg", {"advance_charges": True}, "Paid tax invoice"),
    ("credit", "NZ", {"self_billed": True}, "Self-billing invoice"),
])
def test_titles_follow_lagos_precedence(invoice_type: str, country: str | None, flags: dict[str, bool],
                                        title: str) -> None:
    assert views.document_title(invoice_type, country, **flags) == title


def test_amounts_in_the_currencys_major_units() -> None:
    assert views.money(123456, "EUR") == "€1,234.56"
    assert views.money(-500, "USD") == "-$5.00"
    assert views.money(1500, "JPY") == "¥1,500"
    assert views.money(7, "KWD") == "KWD 0.007"
    assert views.unit_price("0.0125", "EUR") == "€0.0125"
    assert views.unit_price("31", "EUR") == "€31.00"
    assert (views.units("4.0000"), views.units("2.50"), views.units("0")) == ("4", "2.5", "0")
    assert views.percent(20.0) == "20%" and views.percent("5.5") == "5.5%"


def _fee(name: str, units: str, amount_cents: int, subscription: str | None, **item: Any) -> dict[str, Any]:
    return {"item": {"type": "charge", "name": name, "invoice_display_name": name, **item}, "units": units,
            "amount_cents": amount_cents, "amount_currency": "EUR", "precise_unit_amount": "0.5",
            "applied_taxes": [{"tax_rate": 20.0}, {"tax_rate": 2.5}], "lago_subscription_id": subscription,
            "external_subscription_id": subscription}


def test_rows_by_subscription_without_zero_units_and_totals_in_order() -> None:
    invoice = {
        "invoice_type": "subscription", "issuing_date": "2024-02-01", "currency": "EUR",
        "billing_periods": [{"lago_subscription_id": "s1", "external_subscription_id": "ext-1",
                             "subscription_from_datetime": "2024-01-01T00:00:00Z",
                             "subscription_to_datetime": "2024-01-31T23:59:59Z", "charges_from_datetime": ""}],
        "subscriptions": [{"lago_id": "s1", "name": None, "plan_code": "pro"}],
        "fees": [_fee("storage", "0", 0, "s1"), _fee("calls", "2", 100, "s1", filters={"region": ["eu"]}),
                 _fee("setup", "1", 900, None)],
        "progressive_billing_credit_amount_cents": 50, "coupons_amount_cents": 100,
        "credits": [{"item": {"type": "coupon", "name": "Launch", "code": "launch"}, "amount_cents": 100},
                    {"item": {"type": "credit_note", "name": "N-1", "code": "N-1-CN1"}, "amount_cents": 30}],
        "sub_total_excluding_taxes_amount_cents": 850, "sub_total_including_taxes_amount_cents": 1041,
        "applied_taxes": [{"tax_name": "Local", "tax_code": "local", "tax_rate": 2.5, "amount_cents": 21,
                           "fees_amount_cents": 850},
                          {"tax_name": "VAT", "tax_code": "vat", "tax_rate": 20.0, "amount_cents": 170,
                           "fees_amount_cents": 850}],
        "credit_notes_amount_cents": 30, "prepaid_credit_amount_cents": 0, "total_amount_cents": 1011,
    }
    groups = views.invoice_groups(invoice)
    assert [(group.title, group.period, [(line.label, line.detail, line.units, line.amount, line.tax_rate)
                                         for line in group.lines]) for group in groups] == [
        ("pro", "2024-01-01 to 2024-01-31", [("calls", "eu", "2", "€1.00", "20%, 2.5%")]),
        ("Fees", "", [("setup", "", "1", "€9.00", "20%, 2.5%")])]
    assert [(line.label, line.amount) for line in views.invoice_totals(invoice)] == [
        ("Usage already billed", "-€0.50"), ("Launch", "-€1.00"), ("Subtotal (excl. tax)", "€8.50"),
        ("VAT (20% on €8.50)", "€1.70"), ("Local (2.5% on €8.50)", "€0.21"), ("Subtotal (incl. tax)", "€10.41"),
        ("Credit notes", "-€0.30"), ("Total", "€10.11")]


def test_progressive_invoices_say_which_threshold_they_passed() -> None:
    invoice = {"currency": "USD", "applied_usage_thresholds": [
        {"lifetime_usage_amount_cents": 12000, "usage_threshold": {"amount_cents": 10000}}]}
    assert views.progressive_notes(invoice) == [(
        "This progressive billing invoice is generated because your cumulative usage has reached $120.00, "
        "exceeding the $100.00 threshold.")]


@pytest.mark.parametrize(("credit", "refund", "offset", "notice"), [
    (1200, 0, 0, "Credited on customer balance on 2024-02-05"),
    (0, 1200, 0, "Refunded on 2024-02-05"),
    (0, 0, 1200, "Offset invoice INV-1 on 2024-02-05"),
    (600, 600, 0, "Issued on 2024-02-05"),
])
def test_the_credit_note_says_where_the_money_went(credit: int, refund: int, offset: int, notice: str) -> None:
    note = {"issuing_date": "2024-02-05", "credit_amount_cents": credit, "refund_amount_cents": refund,
            "offset_amount_cents": offset}
    assert views.credit_notice(note, "INV-1") == notice
