"""``POST /invoices/preview``: the next invoice of a subscription or of a new one, computed by the
billing run's functions and written to nothing; the preview equals the invoice later issued."""

from __future__ import annotations

from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import Org, database_state
from tests.scenarios.conftest import Clock, bill, customer, invoices, metric, ok, plan, send, subscribe, utc

_KEYS = ("currency", "fees_amount_cents", "taxes_amount_cents", "sub_total_excluding_taxes_amount_cents",
         "sub_total_including_taxes_amount_cents", "total_amount_cents", "issuing_date", "billing_periods")


def _lines(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["item"]["type"], f["item"]["code"], f["units"], f["amount_cents"], f["taxes_amount_cents"],
             f["from_date"], f["to_date"]) for f in invoice["fees"]]


def test_the_preview_of_a_subscription_is_the_invoice_then_issued(api: httpx.Client, lago: Any, at: Clock,
                                                                   database: Database, org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    calls = metric(api, "calls", "sum_agg", "n")
    plan(api, "hybrid", 4900, tax_codes=["vat"], charges=[{"billable_metric_id": calls, "charge_model": "graduated",
                                                           "properties": {"graduated_ranges": [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 1001, "to_value": None, "per_unit_amount": "0.002", "flat_amount": "1"}]}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "hybrid", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 5), n=1200)
    send(api, "sub", "calls", utc(2024, 3, 12), n=345)

    at(utc(2024, 3, 20))
    before = database_state(database)
    body = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"]}}
    preview = ok(api.post("invoices/preview", json=body))["invoice"]
    assert database_state(database) == before  # nothing written
    # March, whole month: 4900; 1545 units: 1000 free, then 545 x 0.002 = 1.09 + the tier's flat
    # 1.00 = 2.09 -> 209. VAT 20 %: 980 + 41.8 -> 42; invoice tax round(980 + 41.8) = 1022.
    assert [line[:5] for line in _lines(preview)] == [("subscription", "hybrid", "1", 4900, 980),
                                                      ("charge", "calls", "1545", 209, 42)]
    assert (preview["fees_amount_cents"], preview["taxes_amount_cents"], preview["total_amount_cents"]) == (
        5109, 1022, 6131)
    assert preview["status"] == "draft" and preview["issuing_date"] == "2024-04-01"
    client_preview = lago.invoices.preview(_client_preview(external_id="cus", subscriptions=["sub"]))
    assert client_preview.total_amount_cents == 6131

    bill(database, org, utc(2024, 4, 1))
    [issued] = invoices(api)
    assert _lines(issued) == _lines(preview)
    assert {key: issued[key] for key in _KEYS} == {key: preview[key] for key in _KEYS}
    assert issued["status"] == "finalized"


def _client_preview(**fields: Any) -> Any:
    from lago_python_client.models import Customer
    from lago_python_client.models.invoice import InvoicePreview

    subscriptions = fields.pop("subscriptions", None)
    preview: dict[str, Any] = {"customer": Customer(external_id=fields.pop("external_id"))}
    if subscriptions:
        from lago_python_client.models.subscription import Subscriptions

        preview["subscriptions"] = Subscriptions(external_ids=subscriptions)
    return InvoicePreview(**preview, **fields)


def test_the_first_invoice_of_a_new_subscription(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "arrears", 3100)
    plan(api, "advance", 3000, pay_in_advance=True)
    customer(api, "cus")
    at(utc(2024, 3, 10, 9))
    before = database_state(database)
    arrears = ok(api.post("invoices/preview", json={"customer": {"external_id": "cus"}, "plan_code": "arrears",
                                                    "subscription_at": "2024-03-20T00:00:00Z"}))["invoice"]
    # Calendar month from the 20th: 12 of 31 days x 3100 = 1200, billed when March ends.
    assert [line[:4] for line in _lines(arrears)] == [("subscription", "arrears", "1", 1200)]
    assert (arrears["issuing_date"], arrears["total_amount_cents"]) == ("2024-04-01", 1200)
    # A prospect given inline: pay in advance from today, the 10th: 22 of 31 days x 3000 =
    # 2129.03 -> 2129, issued today; anniversary would bill the whole 3000.
    inline = {"name": "Prospect", "currency": "EUR"}
    advance = ok(api.post("invoices/preview", json={"customer": inline, "plan_code": "advance"}))["invoice"]
    assert [line[:4] for line in _lines(advance)] == [("subscription", "advance", "1", 2129)]
    assert advance["issuing_date"] == "2024-03-10"
    assert advance["billing_periods"][0]["invoicing_reason"] == "subscription_starting"
    anniversary = ok(api.post("invoices/preview", json={"customer": inline, "plan_code": "advance",
                                                        "billing_time": "anniversary"}))["invoice"]
    assert anniversary["total_amount_cents"] == 3000
    assert database_state(database) == before


def test_refused_previews(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "basic", 1000)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    before = database_state(database)

    def answer(body: Any) -> tuple[int, Any]:
        response = api.post("invoices/preview", json=body)
        return response.status_code, response.json().get("code") or response.json()["error"]

    assert answer({"plan_code": "basic"})[0] == 400
    assert answer({"customer": {"external_id": "cus"}, "plan_code": "basic", "coupons": "x"}) == (
        400, "coupons_must_be_an_array")
    assert answer({"customer": {"external_id": "cus"}, "plan_code": "nope"}) == (404, "plan_not_found")
    assert answer({"customer": {"external_id": "cus"}}) == (404, "subscription_not_found")
    assert answer({"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["nope"]}}) == (
        404, "subscription_not_found")
    assert database_state(database) == before


def test_several_subscriptions_on_one_preview(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "basic", 1000)
    plan(api, "pro", 2000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                     "properties": {"amount": "1"}}])
    customer(api, "cus")
    subscribe(api, at, "sub-a", "cus", "basic", utc(2024, 3, 1))
    subscribe(api, at, "sub-b", "cus", "pro", utc(2024, 3, 1))
    subscribe(api, at, "sub-c", "cus", "basic", utc(2024, 3, 15), billing_time="anniversary")
    for day in (2, 3, 4):
        send(api, "sub-b", "calls", utc(2024, 3, day))
    at(utc(2024, 3, 20))
    body = {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub-a", "sub-b"]}}
    preview = ok(api.post("invoices/preview", json=body))["invoice"]
    # Both close on March 31st: 1000 + 2000 + 3 calls x 1.00 = 3300 on one invoice.
    assert sorted(line[:4] for line in _lines(preview)) == [
        ("charge", "calls", "3", 300), ("subscription", "basic", "1", 1000), ("subscription", "pro", "1", 2000)]
    assert preview["total_amount_cents"] == 3300
    assert sorted(p["external_subscription_id"] for p in preview["billing_periods"]) == ["sub-a", "sub-b"]
    # sub-c's anniversary period ends on April 14th: not the same invoice.
    body["subscriptions"] = {"external_ids": ["sub-a", "sub-c"]}
    refused = api.post("invoices/preview", json=body)
    assert (refused.status_code, refused.json()["error_details"]) == (422, {"base": ["billing_periods_does_not_match"]})

    bill(database, org, utc(2024, 4, 1))
    # Billow issues one invoice per subscription: together they bill what the preview showed.
    issued = [i for i in invoices(api) if i["billing_periods"][0]["external_subscription_id"] != "sub-c"]
    assert sorted(i["total_amount_cents"] for i in issued) == [1000, 2300]
