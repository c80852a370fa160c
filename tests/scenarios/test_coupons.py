"""Coupons on invoices: Lago's order and rounding, before taxes, consumed once at finalization."""

from __future__ import annotations

from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    fee_amounts,
    invoices,
    metric,
    ok,
    plan,
    send,
    subscribe,
    utc,
)


def coupon(api: httpx.Client, code: str, **fields: Any) -> None:
    body = {"name": code.title(), "code": code, "expiration": "no_expiration", "frequency": "once", **fields}
    ok(api.post("coupons", json={"coupon": body}))


def apply(api: httpx.Client, at: Clock, customer_id: str, code: str, when: Any, **fields: Any) -> dict[str, Any]:
    at(when)
    body = {"external_customer_id": customer_id, "coupon_code": code, **fields}
    created: dict[str, Any] = ok(api.post("applied_coupons", json={"applied_coupon": body}))["applied_coupon"]
    return created


def applied(api: httpx.Client, customer_id: str) -> dict[str, dict[str, Any]]:
    found = ok(api.get("applied_coupons", params={"external_customer_id": customer_id}))["applied_coupons"]
    return {entry["coupon_code"]: entry for entry in found}


def credits(invoice: dict[str, Any]) -> list[tuple[str, str, int, bool]]:
    return [(c["item"]["type"], c["item"]["code"], c["amount_cents"], c["before_taxes"]) for c in invoice["credits"]]


def test_percentage_and_fixed_coupons_together_with_two_taxes(api: httpx.Client, at: Clock, database: Database,
                                                             org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    ok(api.post("taxes", json={"tax": {"name": "Local", "code": "local", "rate": "2.5"}}))
    calls = metric(api, "calls", "sum_agg", "n")
    plan(api, "taxed", 4900, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                       "properties": {"amount": "0.02"}}])
    customer(api, "cus", tax_codes=["vat", "local"])
    coupon(api, "fixed", coupon_type="fixed_amount", amount_cents=1000, amount_currency="EUR")
    coupon(api, "tenpct", coupon_type="percentage", percentage_rate="10")
    subscribe(api, at, "sub", "cus", "taxed", utc(2024, 3, 1))
    apply(api, at, "cus", "fixed", utc(2024, 3, 1, 1))  # applied first: used first
    apply(api, at, "cus", "tenpct", utc(2024, 3, 2))
    send(api, "sub", "calls", utc(2024, 3, 5), n=10_000)
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    [invoice] = invoices(api)
    # Fees: 4900 (the month) + 10 000 x 0.02 EUR = 20 000; 24 900 in all.
    assert fee_amounts(invoice) == [("subscription", "taxed", 4900), ("charge", "calls", 20000)]
    # Fixed: min(1000, 24 900) = 1000, split by fee: 1000 x 4900 / 24 900 = 196.78715,
    # 1000 x 20 000 / 24 900 = 803.21285. Subtotal left: 23 900.
    # 10 %: 23 900 x 10 % = 2390, split on what each fee has left: 2390 x 4703.21285 / 23 900 = 470.321285
    # and 2390 x 19 196.78715 / 23 900 = 1919.678715. Shares: 667.108435 -> 667.10844, 2722.891565 -> 2722.89157.
    assert credits(invoice) == [("coupon", "fixed", 1000, True), ("coupon", "tenpct", 2390, True)]
    assert [fee["precise_coupons_amount_cents"] for fee in invoice["fees"]] == ["667.10844", "2722.89157"]
    assert invoice["coupons_amount_cents"] == 3390
    assert invoice["sub_total_excluding_taxes_amount_cents"] == 21510  # 24 900 - 3390
    # Taxes on what is left of each fee: 4900 - 667.10844 = 4232.89156 and 20 000 - 2722.89157 = 17 277.10843.
    # Per fee (22.5 %): 952.400601 -> 952; 3887.349397 -> 3887.
    assert [fee["taxes_amount_cents"] for fee in invoice["fees"]] == [952, 3887]
    # Per code on 21 509.99999: VAT 4301.999998 -> 4302, local 537.74999975 -> 538; the invoice tax is the
    # unrounded sum 4839.74999775 rounded once -> 4840.
    assert sorted((t["tax_code"], t["amount_cents"]) for t in invoice["applied_taxes"]) == [("local", 538),
                                                                                         ("vat", 4302)]
    assert invoice["taxes_amount_cents"] == 4840
    assert invoice["total_amount_cents"] == 26350  # 21 510 + 4840
    # Both were once coupons: used up.
    after = applied(api, "cus")
    assert (after["fixed"]["status"], after["fixed"]["amount_cents_remaining"]) == ("terminated", 0)
    assert after["tenpct"]["status"] == "terminated"
    assert [(c["amount_cents"], c["invoice"]["lago_id"]) for c in after["tenpct"]["credits"]] == [
        (2390, invoice["lago_id"])]


def test_recurring_coupon_over_three_periods(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "base", 3100)
    customer(api, "cus")
    coupon(api, "welcome", coupon_type="fixed_amount", amount_cents=500, amount_currency="EUR",
           frequency="recurring", frequency_duration=3)
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    apply(api, at, "cus", "welcome", utc(2024, 1, 2))
    remaining = []
    for month in (2, 3, 4, 5):
        at(utc(2024, month, 1))
        bill(database, org, utc(2024, month, 1))
        remaining.append(applied(api, "cus")["welcome"]["frequency_duration_remaining"])
    # January to March: 3100 - 500 = 2600 each; April: the coupon ended after three uses -> 3100.
    assert [(i["coupons_amount_cents"], i["total_amount_cents"]) for i in invoices(api)] == [
        (500, 2600), (500, 2600), (500, 2600), (0, 3100)]
    assert remaining == [2, 1, 0, 0]
    assert applied(api, "cus")["welcome"]["status"] == "terminated"


def test_coupon_limited_to_one_metric(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    storage = metric(api, "storage", "sum_agg", "gb")
    plan(api, "mix", 1000, charges=[
        {"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}},
        {"billable_metric_id": storage, "charge_model": "standard", "properties": {"amount": "0.5"}}])
    customer(api, "cus")
    coupon(api, "halfcalls", coupon_type="percentage", percentage_rate="50", frequency="forever",
           applies_to={"billable_metric_codes": ["calls"]})
    subscribe(api, at, "sub", "cus", "mix", utc(2024, 3, 1))
    apply(api, at, "cus", "halfcalls", utc(2024, 3, 1, 1))
    for day in (2, 3, 4):
        send(api, "sub", "calls", utc(2024, 3, day))
    send(api, "sub", "storage", utc(2024, 3, 5), gb=10)
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    [invoice] = invoices(api)
    # Fees: 1000; 3 calls x 1.00 = 300; 10 GB x 0.50 = 500. The coupon only sees the calls fee: 50 % of 300 = 150.
    assert fee_amounts(invoice) == [("subscription", "mix", 1000), ("charge", "calls", 300),
                                    ("charge", "storage", 500)]
    assert [fee["precise_coupons_amount_cents"] for fee in invoice["fees"]] == ["0", "150.00000", "0"]
    assert (invoice["coupons_amount_cents"], invoice["total_amount_cents"]) == (150, 1650)  # 1800 - 150
    assert applied(api, "cus")["halfcalls"]["status"] == "active"  # forever


def test_a_draft_does_not_consume_coupons_and_finalization_consumes_them_once(api: httpx.Client, at: Clock,
                                                                           database: Database, org: Org) -> None:
    plan(api, "base", 3000)
    customer(api, "cus", billing_configuration={"invoice_grace_period": 2})
    coupon(api, "once", coupon_type="fixed_amount", amount_cents=4000, amount_currency="EUR")
    subscribe(api, at, "sub", "cus", "base", utc(2024, 3, 1))
    apply(api, at, "cus", "once", utc(2024, 3, 1, 1))
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    [draft] = invoices(api)
    assert (draft["status"], draft["coupons_amount_cents"], draft["credits"]) == ("draft", 0, [])
    ok(api.put(f"invoices/{draft['lago_id']}/refresh"))
    ok(api.put(f"invoices/{draft['lago_id']}/refresh"))
    assert applied(api, "cus")["once"]["amount_cents_remaining"] == 4000  # refreshes take nothing
    final = ok(api.put(f"invoices/{draft['lago_id']}/finalize"))["invoice"]
    # 3000 of the 4000: the invoice is paid by the coupon; 1000 carries over.
    assert (final["coupons_amount_cents"], final["total_amount_cents"], final["payment_status"]) == (
        3000, 0, "succeeded")
    assert applied(api, "cus")["once"]["amount_cents_remaining"] == 1000
    assert api.put(f"invoices/{draft['lago_id']}/finalize").status_code == 404  # finalized once only
    bill(database, org, utc(2024, 5, 3))  # April: 3000 - the 1000 left; May 3 is past April's grace period
    april = [i for i in invoices(api) if i["lago_id"] != draft["lago_id"]]
    assert [(i["coupons_amount_cents"], i["total_amount_cents"]) for i in april] == [(1000, 2000)]
    assert (applied(api, "cus")["once"]["status"], applied(api, "cus")["once"]["amount_cents_remaining"]) == (
        "terminated", 0)


def test_coupon_limited_to_one_plan(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "small", 1000)
    plan(api, "large", 2000)
    customer(api, "cus")
    coupon(api, "largeonly", coupon_type="fixed_amount", amount_cents=300, amount_currency="EUR",
           frequency="forever", applies_to={"plan_codes": ["large"]})
    subscribe(api, at, "s1", "cus", "small", utc(2024, 3, 1))
    subscribe(api, at, "s2", "cus", "large", utc(2024, 3, 1))
    apply(api, at, "cus", "largeonly", utc(2024, 3, 2))
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    # One invoice per subscription: the coupon only reaches the fees of "large": 2000 - 300 = 1700.
    assert [(i["billing_periods"][0]["external_subscription_id"], i["coupons_amount_cents"], i["total_amount_cents"])
            for i in invoices(api)] == [("s1", 0, 1000), ("s2", 300, 1700)]
