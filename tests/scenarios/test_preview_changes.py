"""``POST /invoices/preview`` with coupons given inline, a plan change and a termination: each
preview equals, to the cent, the invoice issued when the same thing is done for real, and writes
nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import Org, database_state
from tests.scenarios.conftest import Clock, bill, customer, invoices, metric, ok, plan, send, subscribe, utc
from tests.scenarios.test_coupons import apply, coupon, credits

_KEYS = ("currency", "fees_amount_cents", "coupons_amount_cents", "credit_notes_amount_cents",
         "taxes_amount_cents", "sub_total_excluding_taxes_amount_cents", "sub_total_including_taxes_amount_cents",
         "total_amount_cents", "issuing_date", "invoice_type")


def lines(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((f["item"]["type"], f["item"]["code"], f["units"], f["amount_cents"], f["taxes_amount_cents"],
                   f["from_date"], f["to_date"]) for f in invoice["fees"])


def periods(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((p["external_subscription_id"], p["invoicing_reason"], p["subscription_from_datetime"],
                   p["subscription_to_datetime"], p["charges_from_datetime"], p["charges_to_datetime"])
                  for p in invoice["billing_periods"])


def same(preview: dict[str, Any], issued: dict[str, Any]) -> None:
    assert lines(issued) == lines(preview)
    assert periods(issued) == periods(preview)
    assert {key: issued[key] for key in _KEYS} == {key: preview[key] for key in _KEYS}
    assert [(c["item"]["type"], c["amount_cents"]) for c in issued["credits"]] == [
        (c["item"]["type"], c["amount_cents"]) for c in preview["credits"]]


def catalog(api: httpx.Client, **advance: bool) -> None:
    calls = metric(api, "calls", "count_agg")
    charge = [{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}}]
    plan(api, "basic", 3100, charges=charge, pay_in_advance=advance.get("basic", False))
    plan(api, "premium", 6200, charges=charge, pay_in_advance=advance.get("premium", False))


def calls(api: httpx.Client, at: Clock, subscription: str, *days: int) -> None:
    for day in days:
        at(utc(2024, 3, day, 8))
        send(api, subscription, "calls", utc(2024, 3, day, 8))


def preview(api: httpx.Client, database: Database, body: dict[str, Any]) -> dict[str, Any]:
    before = database_state(database)
    found: dict[str, Any] = ok(api.post("invoices/preview", json=body))["invoice"]
    assert database_state(database) == before  # nothing written
    return found


def issued_at(database: Database, org: Org, api: httpx.Client, at: Clock, instant: datetime) -> dict[str, Any]:
    at(instant)
    bill(database, org, instant)
    return invoices(api)[-1]


INLINE = [{"code": "promo", "name": "Promo", "coupon_type": "fixed_amount", "amount_cents": 500,
           "amount_currency": "EUR", "frequency": "once"},
          {"code": "tenoff", "coupon_type": "percentage", "percentage_rate": "10", "frequency": "recurring",
           "frequency_duration": 3, "amount_cents": None}]


def test_coupons_given_inline_are_applied_as_if_applied(api: httpx.Client, at: Clock, database: Database,
                                                        org: Org) -> None:
    catalog(api)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    calls(api, at, "sub", 2, 3, 4)
    at(utc(2024, 3, 20))
    body = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"]}, "coupons": INLINE}
    shown = preview(api, database, body)
    # 31.00 + 3.00 = 34.00; 5.00 off, then 10 % of 29.00 = 2.90: 26.10.
    assert (shown["fees_amount_cents"], shown["coupons_amount_cents"], shown["total_amount_cents"]) == (
        3400, 790, 2610)
    assert credits(shown) == [("coupon", "promo", 500, True), ("coupon", "tenoff", 290, True)]
    assert ok(api.get("coupons"))["coupons"] == []
    # The same coupons made and applied for real: the invoice of April 1st is the preview.
    coupon(api, "promo", coupon_type="fixed_amount", amount_cents=500, amount_currency="EUR")
    coupon(api, "tenoff", coupon_type="percentage", percentage_rate="10", frequency="recurring",
           frequency_duration=3)
    apply(api, at, "cus", "promo", utc(2024, 3, 20, 1))
    apply(api, at, "cus", "tenoff", utc(2024, 3, 20, 2))
    same(shown, issued_at(database, org, api, at, utc(2024, 4, 1, 1)))


def test_an_existing_coupon_by_its_code_and_the_customers_own_coupons_first(api: httpx.Client, at: Clock,
                                                                            database: Database, org: Org) -> None:
    catalog(api)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    coupon(api, "big", coupon_type="fixed_amount", amount_cents=1000, amount_currency="EUR")
    at(utc(2024, 3, 20))
    body: dict[str, Any] = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"]},
                            "coupons": [{"code": "big", "amount_cents": 1}]}
    # A known code is that coupon, with its own values.
    assert preview(api, database, body)["coupons_amount_cents"] == 1000
    # A customer with active coupons of its own: Lago previews those and ignores the ones given.
    coupon(api, "own", coupon_type="fixed_amount", amount_cents=100, amount_currency="EUR")
    apply(api, at, "cus", "own", utc(2024, 3, 20, 1))
    body["coupons"] = INLINE
    shown = preview(api, database, body)
    assert credits(shown) == [("coupon", "own", 100, True)]
    same(shown, issued_at(database, org, api, at, utc(2024, 4, 1, 1)))


def test_an_upgrade_to_a_plan_paid_in_advance(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, premium=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    calls(api, at, "sub", 2, 3, 4)
    at(utc(2024, 3, 16, 12))
    body = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"], "plan_code": "premium"}}
    shown = preview(api, database, body)
    # basic ends now, the upgrade day not billed by it: Mar 1-15 = 15 / 31 x 31.00 = 15.00 and 3
    # calls; premium starts now, paid in advance: Mar 16-31 = 16 / 31 x 62.00 = 32.00. One
    # invoice, issued today.
    assert [line[:4] for line in lines(shown)] == [("charge", "calls", "3", 300), ("subscription", "basic", "1", 1500),
                                                   ("subscription", "premium", "1", 3200)]
    assert (shown["total_amount_cents"], shown["issuing_date"]) == (5000, "2024-03-16")
    assert sorted(p[1] for p in periods(shown)) == ["subscription_starting", "subscription_terminating"]
    ok(api.post("subscriptions", json={"subscription": {"external_customer_id": "cus", "plan_code": "premium",
                                                        "external_id": "sub"}}))
    same(shown, issued_at(database, org, api, at, utc(2024, 3, 16, 12)))


def test_a_downgrade_at_the_end_of_the_period(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, basic=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "premium", utc(2024, 3, 1))
    calls(api, at, "sub", 2, 3)
    at(utc(2024, 3, 20))
    body = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"], "plan_code": "basic"}}
    shown = preview(api, database, body)
    # premium runs to the end of March (62.00 and 2 calls); basic, paid in advance, starts on April
    # 1st with its whole first month: 31.00. One invoice on April 1st.
    assert [line[:4] for line in lines(shown)] == [("charge", "calls", "2", 200), ("subscription", "basic", "1", 3100),
                                                   ("subscription", "premium", "1", 6200)]
    assert (shown["total_amount_cents"], shown["issuing_date"]) == (9500, "2024-04-01")
    ok(api.post("subscriptions", json={"subscription": {"external_customer_id": "cus", "plan_code": "basic",
                                                        "external_id": "sub"}}))
    same(shown, issued_at(database, org, api, at, utc(2024, 4, 1, 1)))


def test_a_termination_in_arrears(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    calls(api, at, "sub", 2, 3, 4, 5)
    at(utc(2024, 3, 10))
    body = {"customer": {"external_id": "cus"},
            "subscriptions": {"external_ids": ["sub"], "terminated_at": "2024-03-20T12:00:00Z"}}
    shown = preview(api, database, body)
    # Mar 1-20: 20 / 31 x 31.00 = 20.00, and 4 calls.
    assert [line[:4] for line in lines(shown)] == [("charge", "calls", "4", 400), ("subscription", "basic", "1", 2000)]
    assert (shown["total_amount_cents"], shown["issuing_date"]) == (2400, "2024-03-20")
    assert periods(shown)[0][1] == "subscription_terminating"
    at(utc(2024, 3, 20, 12))
    ok(api.delete("subscriptions/sub"))
    same(shown, issued_at(database, org, api, at, utc(2024, 3, 20, 12)))


def test_a_termination_of_a_plan_paid_in_advance_consumes_its_credit_note(api: httpx.Client, at: Clock,
                                                                          database: Database, org: Org) -> None:
    catalog(api, basic=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1, 1))  # March, in advance: 31.00
    calls(api, at, "sub", 2, 3, 4, 5)
    at(utc(2024, 3, 10))
    body = {"customer": {"external_id": "cus"},
            "subscriptions": {"external_ids": ["sub"], "terminated_at": "2024-03-20T12:00:00Z"}}
    shown = preview(api, database, body)
    # The final invoice bills the 4 calls; the unused Mar 21-31 of the fee paid in advance (11.00)
    # is credited and pays them.
    assert [line[:4] for line in lines(shown)] == [("charge", "calls", "4", 400)]
    assert (shown["credit_notes_amount_cents"], shown["total_amount_cents"]) == (400, 0)
    at(utc(2024, 3, 20, 12))
    ok(api.delete("subscriptions/sub"))
    same(shown, issued_at(database, org, api, at, utc(2024, 3, 20, 12)))
    [note] = ok(api.get("credit_notes"))["credit_notes"]
    assert (note["total_amount_cents"], note["balance_amount_cents"]) == (1100, 700)


def test_refused_changes(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    subscribe(api, at, "other", "cus", "basic", utc(2024, 3, 1))
    at(utc(2024, 3, 10))
    before = database_state(database)

    def answer(subscriptions: dict[str, Any], **extra: Any) -> tuple[int, Any]:
        body = {"customer": {"external_id": "cus"}, "subscriptions": subscriptions, **extra}
        response = api.post("invoices/preview", json=body)
        found = response.json()
        return response.status_code, found.get("error_details") or found.get("code")

    assert answer({"external_ids": ["sub"], "terminated_at": "2024-03-09T00:00:00Z"}) == (
        422, {"terminated_at": ["cannot_be_in_past"]})
    assert answer({"external_ids": ["sub", "other"], "terminated_at": "2024-03-20T00:00:00Z"}) == (
        422, {"subscriptions": ["only_one_subscription_allowed_for_termination"]})
    assert answer({"external_ids": ["sub"], "plan_code": "basic"}) == (
        422, {"base": ["new_plan_should_be_different_from_existing_plan"]})
    assert answer({"external_ids": ["sub"], "plan_code": "nope"}) == (404, "plan_not_found")
    assert answer({"external_ids": ["sub"]}, coupons=[{"code": "x", "coupon_type": "percentage"}]) == (
        422, {"percentage_rate": ["value_is_mandatory"]})
    assert database_state(database) == before
