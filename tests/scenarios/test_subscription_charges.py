"""A subscription's charge repriced mid-period through ``/subscriptions/{id}/charges``: its current
usage and its invoice use the new price, the plan and the plan's other subscriptions do not."""

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
    ok,
    plan,
    send,
    subscribe,
    utc,
)


def usage(api: httpx.Client, name: str) -> int:
    found = ok(api.get(f"customers/{name}/current_usage", params={"external_subscription_id": name}))
    return found["customer_usage"]["amount_cents"]  # type: ignore[no-any-return]


def closing(api: httpx.Client, name: str) -> list[dict[str, Any]]:
    return [invoice for invoice in invoices(api, external_customer_id=name) if invoice["invoice_type"] == "subscription"]


def test_a_subscription_charge_repriced_mid_period(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    ok(api.post("billable_metrics", json={"billable_metric": {
        "name": "calls", "code": "calls", "aggregation_type": "sum_agg", "field_name": "n",
        "filters": [{"key": "region", "values": ["eu", "us"]}]}}))
    metric_id = ok(api.get("billable_metrics/calls"))["billable_metric"]["lago_id"]
    parent = plan(api, "pro", 3000, charges=[{"billable_metric_id": metric_id, "charge_model": "standard",
                                              "properties": {"amount": "0.10"}}])
    for name in ("plain", "deal"):
        customer(api, name)
        subscribe(api, at, name, name, "pro", utc(2024, 3, 1))
        send(api, name, "calls", utc(2024, 3, 10, 12), n=1000)

    # Mid-March the deal's calls go from 0.10 to 0.04: the whole period is priced at 0.04.
    at(utc(2024, 3, 15))
    assert [usage(api, name) for name in ("plain", "deal")] == [10000, 10000]
    repriced = ok(api.put("subscriptions/deal/charges/calls", json={"charge": {
        "properties": {"amount": "0.04"}, "invoice_display_name": "Calls (deal)"}}))["charge"]
    assert repriced["lago_parent_id"] == parent["charges"][0]["lago_id"]
    for name in ("plain", "deal"):
        send(api, name, "calls", utc(2024, 3, 20, 12), n=234)

    at(utc(2024, 3, 25))
    assert [usage(api, name) for name in ("plain", "deal")] == [12340, 4936]  # 1 234 calls at 0.10 and 0.04
    assert ok(api.get("plans/pro"))["plan"] == parent
    assert ok(api.get("subscriptions/plain/charges/calls"))["charge"]["properties"] == {"amount": "0.10"}

    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [plain_march], [deal_march] = closing(api, "plain"), closing(api, "deal")
    assert fee_amounts(plain_march) == [("subscription", "pro", 3000), ("charge", "calls", 12340)]
    assert fee_amounts(deal_march) == [("subscription", "pro", 3000), ("charge", "calls", 4936)]
    assert [plain_march["total_amount_cents"], deal_march["total_amount_cents"]] == [15340, 7936]

    # In April the deal gets its own filter: EU calls at 0.01, the others still at 0.04.
    at(utc(2024, 4, 10))
    created = ok(api.post("subscriptions/deal/charges/calls/filters", json={"filter": {
        "values": {"region": ["eu"]}, "properties": {"amount": "0.01"}}}))["filter"]
    assert [f["lago_id"] for f in ok(api.get("subscriptions/deal/charges/calls/filters"))["filters"]] == [
        created["lago_id"]]
    for name in ("plain", "deal"):
        send(api, name, "calls", utc(2024, 4, 12, 12), n=1000, region="eu")
        send(api, name, "calls", utc(2024, 4, 12, 13), n=500, region="us")
    at(utc(2024, 4, 20))
    assert [usage(api, name) for name in ("plain", "deal")] == [15000, 3000]  # 1 000 x 0.01 + 500 x 0.04

    at(utc(2024, 5, 1, 1))
    bill(database, org, utc(2024, 5, 1, 1))
    plain_april, deal_april = closing(api, "plain")[1], closing(api, "deal")[1]
    assert sorted(fee_amounts(deal_april)) == [("charge", "calls", 1000), ("charge", "calls", 2000),
                                               ("subscription", "pro", 3000)]
    assert sorted(fee_amounts(plain_april)) == [("charge", "calls", 15000), ("subscription", "pro", 3000)]
    assert [plain_april["total_amount_cents"], deal_april["total_amount_cents"]] == [18000, 6000]
    # March's invoice is as it was issued.
    assert fee_amounts(closing(api, "deal")[0]) == fee_amounts(deal_march)
    assert ok(api.get("plans/pro"))["plan"] == parent
