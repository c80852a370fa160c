"""``plan_overrides`` in ``POST /invoices/preview``: the preview prices with the overridden terms,
writes nothing, and equals the invoice later issued once the same overrides are applied."""

from __future__ import annotations

from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import Org, database_state
from tests.scenarios.conftest import Clock, bill, customer, invoices, metric, ok, plan, send, subscribe, utc
from tests.scenarios.test_preview_changes import calls, catalog, issued_at, preview, same

_KEYS = ("currency", "fees_amount_cents", "taxes_amount_cents", "total_amount_cents", "issuing_date")
# The preview's plan copy (and its new subscription) are rolled back: the issued invoice has other ids.
_IDS = ("lago_subscription_id", "external_subscription_id", "lago_plan_id")


def lines(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["item"]["type"], f["item"]["code"], f["units"], f["amount_cents"], f["taxes_amount_cents"],
             f["from_date"], f["to_date"]) for f in invoice["fees"]]


def previewed(api: httpx.Client, database: Database, body: dict[str, Any]) -> dict[str, Any]:
    before = database_state(database)
    invoice = ok(api.post("invoices/preview", json=body))["invoice"]
    assert database_state(database) == before  # nothing written
    return invoice  # type: ignore[no-any-return]


def same_invoice(issued: dict[str, Any], preview: dict[str, Any]) -> None:
    assert lines(issued) == lines(preview)
    assert {key: issued[key] for key in _KEYS} == {key: preview[key] for key in _KEYS}
    assert [{key: value for key, value in billed.items() if key not in _IDS} for billed in issued["billing_periods"]] == [
        {key: value for key, value in billed.items() if key not in _IDS} for billed in preview["billing_periods"]]


def test_overrides_of_an_existing_subscription(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    calls = metric(api, "calls", "sum_agg", "n")
    parent = plan(api, "pro", 3000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                              "properties": {"amount": "0.10"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "pro", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 10), n=1234)

    at(utc(2024, 3, 20))
    overrides = {"amount_cents": 2000, "tax_codes": ["vat"],
                 "charges": [{"id": parent["charges"][0]["lago_id"], "properties": {"amount": "0.04"}}]}
    plain = previewed(api, database, {"customer": {"external_id": "cus"}, "subscriptions": {"external_ids": ["sub"]}})
    assert [line[:5] for line in lines(plain)] == [("subscription", "pro", "1", 3000, 0),
                                                   ("charge", "calls", "1234", 12340, 0)]
    preview = previewed(api, database, {"customer": {"external_id": "cus"},
                                        "subscriptions": {"external_ids": ["sub"], "plan_overrides": overrides}})
    # 2000 + 1 234 x 0.04 = 49.36; VAT 20 %: 400 + 987.2 -> 987; invoice tax round(400 + 987.2) = 1387.
    assert [line[:5] for line in lines(preview)] == [("subscription", "pro", "1", 2000, 400),
                                                     ("charge", "calls", "1234", 4936, 987)]
    assert (preview["fees_amount_cents"], preview["taxes_amount_cents"], preview["total_amount_cents"]) == (
        6936, 1387, 8323)
    # Nothing of it stayed: the subscription is still on the plan, and priced as before.
    found = ok(api.get("subscriptions/sub"))["subscription"]
    assert (found["plan"]["lago_id"], found["plan_amount_cents"]) == (parent["lago_id"], 3000)
    assert ok(api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"}))[
        "customer_usage"]["amount_cents"] == 12340

    ok(api.put("subscriptions/sub", json={"subscription": {"plan_overrides": overrides}}))
    # Once the subscription has its copy, a preview with more overrides edits it (in the preview only).
    cheaper = previewed(api, database, {"customer": {"external_id": "cus"}, "subscriptions": {
        "external_ids": ["sub"], "plan_overrides": {"amount_cents": 1000, "charges": [
            {"id": parent["charges"][0]["lago_id"], "properties": {"amount": "0.01"}}]}}})
    assert [line[3] for line in lines(cheaper)] == [1000, 1234]
    # The preview's edit was rolled back, and the catalog revision with it: the same kind of edit
    # made for real reaches that revision again, and must not find what the preview priced.
    charge_id = ok(api.get("subscriptions/sub/charges/calls"))["charge"]["lago_id"]
    ok(api.put("subscriptions/sub", json={"subscription": {"plan_overrides": {"amount_cents": 2000, "charges": [
        {"id": charge_id, "properties": {"amount": "0.05"}}]}}}))
    assert ok(api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"}))[
        "customer_usage"]["amount_cents"] == 6170  # 1 234 x 0.05
    ok(api.put("subscriptions/sub/charges/calls", json={"charge": {"properties": {"amount": "0.04"}}}))
    bill(database, org, utc(2024, 4, 1))
    [issued] = invoices(api)
    same_invoice(issued, preview)


def test_overrides_of_a_new_subscription(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "sum_agg", "n")
    parent = plan(api, "pro", 3100, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                              "properties": {"amount": "0.10"}, "min_amount_cents": 500}])
    customer(api, "cus")
    at(utc(2024, 3, 10, 9))
    overrides = {"amount_cents": 6200, "charges": [{"id": parent["charges"][0]["lago_id"], "min_amount_cents": 930}]}
    body = {"customer": {"external_id": "cus"}, "plan_code": "pro", "subscription_at": "2024-03-20T00:00:00Z"}
    plain = previewed(api, database, body)
    preview = previewed(api, database, {**body, "plan_overrides": overrides})
    # From the 20th: 12 of 31 days; 3100 -> 1200 and 6200 -> 2400; the charge's minimum prorated the
    # same way: 500 -> 193.5 -> 194 (and 930 -> 360), billed as a true-up with no usage.
    assert lines(plain)[0][:4] == ("subscription", "pro", "1", 1200)
    assert lines(preview)[0][:4] == ("subscription", "pro", "1", 2400)
    assert preview["total_amount_cents"] - plain["total_amount_cents"] == 1200 + 360 - 194

    subscribe(api, at, "sub", "cus", "pro", utc(2024, 3, 20), plan_overrides=overrides)
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    [issued] = invoices(api)
    same_invoice(issued, preview)


def test_bad_overrides_in_a_preview(api: httpx.Client, at: Clock, database: Database) -> None:
    plan(api, "pro", 3000)
    customer(api, "cus")
    before = database_state(database)
    response = api.post("invoices/preview", json={"customer": {"external_id": "cus"}, "plan_code": "pro",
                                                  "plan_overrides": {"amount_cents": -1}})
    assert response.status_code == 422, response.text
    assert response.json()["error_details"] == {"amount_cents": ["value_is_out_of_range"]}
    response = api.post("invoices/preview", json={"customer": {"external_id": "cus"}, "plan_code": "pro",
                                                  "plan_overrides": {"charges": [{"id": "nope"}]}})
    assert response.status_code == 404 and response.json()["code"] == "charge_not_found"
    assert database_state(database) == before


def test_overrides_of_the_plan_changed_to(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, premium=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1), plan_overrides={"amount_cents": 3100})
    calls(api, at, "sub", 2, 3, 4)
    at(utc(2024, 3, 16, 12))
    # On its own copy of basic, basic is still the plan it is on.
    response = api.post("invoices/preview", json={"customer": {"external_id": "cus"},
                                                  "subscriptions": {"external_ids": ["sub"], "plan_code": "basic"}})
    assert response.status_code == 422 and response.json()["error_details"] == {
        "base": ["new_plan_should_be_different_from_existing_plan"]}
    body = {"customer": {"external_id": "cus"},
            "subscriptions": {"external_ids": ["sub"], "plan_code": "premium", "plan_overrides": {"amount_cents": 9300}}}
    shown = preview(api, database, body)
    # basic ends now: Mar 1-15 = 15.00 and 3 calls; premium at its overridden 93.00, paid in
    # advance from the 16th: 16 / 31 x 93.00 = 48.00.
    assert [line[:4] for line in sorted(lines(shown))] == [
        ("charge", "calls", "3", 300), ("subscription", "basic", "1", 1500), ("subscription", "premium", "1", 4800)]
    assert shown["total_amount_cents"] == 6600
    ok(api.post("subscriptions", json={"subscription": {"external_customer_id": "cus", "plan_code": "premium",
                                                        "external_id": "sub", "plan_overrides": {"amount_cents": 9300}}}))
    same(shown, issued_at(database, org, api, at, utc(2024, 3, 16, 12)))
