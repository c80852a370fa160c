"""Plan overrides: a subscription billed on its own copy of the plan, next to one on the plan
itself; usage thresholds of the copy or of the subscription, and progressive billing turned off."""

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


def by_subscription(found: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {invoice["billing_periods"][0]["external_subscription_id"]: invoice for invoice in found
            if invoice["invoice_type"] == kind}


def test_an_overridden_amount_and_charge_price_billed_next_to_the_parent(
    api: httpx.Client, at: Clock, database: Database, org: Org
) -> None:
    calls = metric(api, "calls", "sum_agg", "n")
    parent = plan(api, "pro", 3000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                              "properties": {"amount": "0.10"}}])
    calls_charge = parent["charges"][0]["lago_id"]
    for name in ("plain", "deal"):
        customer(api, name)
    subscribe(api, at, "plain", "plain", "pro", utc(2024, 3, 1))
    deal = subscribe(api, at, "deal", "deal", "pro", utc(2024, 3, 1), plan_overrides={
        "amount_cents": 2000,
        "charges": [{"id": calls_charge, "properties": {"amount": "0.04"}, "invoice_display_name": "Calls (deal)"}],
    })
    assert (deal["plan_code"], deal["plan_amount_cents"]) == ("pro", 2000)
    for name in ("plain", "deal"):
        send(api, name, "calls", utc(2024, 3, 10, 12), n=1000)
        send(api, name, "calls", utc(2024, 3, 20, 12), n=234)

    # Current usage prices each subscription on its own plan: 1 234 calls at 0.10 and at 0.04.
    at(utc(2024, 3, 25))
    usage = {name: ok(api.get(f"customers/{name}/current_usage", params={"external_subscription_id": name}))
             ["customer_usage"]["amount_cents"] for name in ("plain", "deal")}
    assert usage == {"plain": 12340, "deal": 4936}

    # A cascaded edit of the parent reprices its own subscriptions, never the override copy.
    ok(api.put("plans/pro", json={"plan": {"amount_cents": 3500, "cascade_updates": True, "charges": [
        {"id": calls_charge, "properties": {"amount": "0.20"}}]}}))

    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    issued = by_subscription(invoices(api), "subscription")
    assert fee_amounts(issued["plain"]) == [("subscription", "pro", 3500), ("charge", "calls", 24680)]
    assert fee_amounts(issued["deal"]) == [("subscription", "pro", 2000), ("charge", "calls", 4936)]
    assert [issued[name]["total_amount_cents"] for name in ("plain", "deal")] == [28180, 6936]
    # The override's display name labels its charge's fee; the parent's charge has none: the metric's name.
    labels = {name: [fee["item"]["invoice_display_name"] for fee in issued[name]["fees"]
                     if fee["item"]["type"] == "charge"] for name in ("plain", "deal")}
    assert labels == {"plain": ["calls"], "deal": ["Calls (deal)"]}

    # Editing the override later reprices the next period only: March's invoice keeps its fees.
    ok(api.put("subscriptions/deal", json={"subscription": {"plan_overrides": {"amount_cents": 2500}}}))
    send(api, "deal", "calls", utc(2024, 4, 2, 12), n=100)
    at(utc(2024, 5, 1, 1))
    bill(database, org, utc(2024, 5, 1, 1))
    deal_invoices = [invoice for invoice in invoices(api, external_customer_id="deal")
                     if invoice["invoice_type"] == "subscription"]
    assert [fee_amounts(invoice) for invoice in deal_invoices] == [
        [("subscription", "pro", 2000), ("charge", "calls", 4936)],
        [("subscription", "pro", 2500), ("charge", "calls", 400)],
    ]


def test_usage_thresholds_of_an_override_and_progressive_billing_disabled(
    api: httpx.Client, at: Clock, database: Database, org: Org
) -> None:
    units = metric(api, "units", "sum_agg", "n")
    plan(api, "metered", 1000, charges=[{"billable_metric_id": units, "charge_model": "standard",
                                         "properties": {"amount": "0.001"}}],
         usage_thresholds=[{"amount_cents": 1000, "threshold_display_name": "plan"}])
    names = ("plain", "over", "own", "off")
    for name in names:
        customer(api, name)
    subscribe(api, at, "plain", "plain", "metered", utc(2024, 3, 1))
    subscribe(api, at, "over", "over", "metered", utc(2024, 3, 1),
              plan_overrides={"usage_thresholds": [{"amount_cents": 500, "threshold_display_name": "override"}]})
    subscribe(api, at, "own", "own", "metered", utc(2024, 3, 1),
              usage_thresholds=[{"amount_cents": 300, "threshold_display_name": "own"}])
    subscribe(api, at, "off", "off", "metered", utc(2024, 3, 1), progressive_billing_disabled=True)

    # 11 000 units (11.00 EUR) each: past the plan's 10.00, the override's 5.00 and the subscription's 3.00.
    for name in names:
        send(api, name, "units", utc(2024, 3, 5, 10), n=11_000)
    at(utc(2024, 3, 5, 11))
    bill(database, org, utc(2024, 3, 5, 11))
    progressive = by_subscription(invoices(api), "progressive_billing")
    assert sorted(progressive) == ["over", "own", "plain"]  # none for "off"
    assert {name: fee_amounts(invoice) for name, invoice in progressive.items()} == {
        name: [("charge", "units", 1100)] for name in ("over", "own", "plain")}
    assert {name: [(a["usage_threshold"]["amount_cents"], a["usage_threshold"]["threshold_display_name"])
                   for a in invoice["applied_usage_thresholds"]] for name, invoice in progressive.items()} == {
        "plain": [(1000, "plan")], "over": [(500, "override")], "own": [(300, "own")]}
    lifetime = ok(api.get("subscriptions/off/lifetime_usage"))["lifetime_usage"]
    assert (lifetime["current_usage_amount_cents"], lifetime["usage_thresholds"]) == (1100, [])

    # The period's invoices deduct what the progressive ones billed; "off" pays all its usage then.
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    closing = by_subscription(invoices(api), "subscription")
    assert {name: closing[name]["total_amount_cents"] for name in names} == {
        "plain": 1000, "over": 1000, "own": 1000, "off": 2100}
