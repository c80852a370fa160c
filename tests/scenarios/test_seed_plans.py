"""The plans and examples of the operator's guide (seed 000): a trial with usage limits, freemium,
pay-as-you-go, hybrid base + overage, the four plans (Trial, Starter, Professional,
Enterprise); and the per-seat plus graduated per-token plan of an AI SaaS (seed 004).

Every amount is worked out by hand in the comments (lago-semantics.md 2 and 5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
    period,
    plan,
    send,
    subscribe,
    utc,
)


def _calls(api: httpx.Client, subscription: str, code: str, count: int, start: datetime) -> None:
    """``count`` count events, one a minute from ``start``, posted 100 at a time."""
    events = [{"transaction_id": f"{subscription}-{start.isoformat()}-{n}", "external_subscription_id": subscription,
               "code": code, "timestamp": int((start + timedelta(minutes=n)).timestamp())} for n in range(count)]
    for first in range(0, count, 100):
        ok(api.post("events/batch", json={"events": events[first:first + 100]}))


def _included(code: str, metric_id: str, included: int, overage: str) -> dict[str, Any]:
    """A graduated charge: the first ``included`` units free, then ``overage`` per unit."""
    return {"billable_metric_id": metric_id, "charge_model": "graduated", "invoice_display_name": code,
            "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": included, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": included + 1, "to_value": None, "per_unit_amount": overage, "flat_amount": "0"}]}}


def test_example_1_free_trial_with_usage_limits(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    # Trial plan: $1.00/week, 7-day trial; API calls at $0.01, the first 700 free (100/day x 7).
    api_calls = metric(api, "api_calls", "count_agg")
    plan(api, "trial", 100, interval="weekly", trial_period=7, amount_currency="USD",
         charges=[_included("api_calls", api_calls, 700, "0.01")])
    customer(api, "user", currency="USD")
    subscribe(api, at, "user-sub", "user", "trial", utc(2024, 1, 1))  # a Monday: weeks are Mon-Sun
    _calls(api, "user-sub", "api_calls", 650, utc(2024, 1, 2))
    _calls(api, "user-sub", "api_calls", 750, utc(2024, 1, 9))
    bill(database, org, utc(2024, 1, 15))
    first, second = invoices(api)
    # Week 1 (Jan 1-7) is all trial: no fee; 650 calls, all in the free 700 -> 0.
    assert period(first)[:2] == ("2024-01-01T00:00:00Z", "2024-01-07T23:59:59Z")
    assert fee_amounts(first) == [("subscription", "trial", 0), ("charge", "api_calls", 0)]
    assert (first["total_amount_cents"], first["payment_status"]) == (0, "succeeded")  # nothing to pay
    # Week 2 (Jan 8-14), the trial ended on its first instant: the whole $1.00. 750 calls:
    # 700 free, then 751 - 701 ... 750 = 50 calls x $0.01 = $0.50.
    assert fee_amounts(second) == [("subscription", "trial", 100), ("charge", "api_calls", 50)]
    assert [fee["units"] for fee in second["fees"]] == ["1", "750"]
    assert (second["currency"], second["total_amount_cents"]) == ("USD", 150)


def test_example_2_freemium(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    # Free plan: $0.00/month, LLM API calls in packages of 100 at $0.00.
    llm_api_calls = metric(api, "llm_api_calls", "count_agg")
    plan(api, "free", 0, amount_currency="USD", charges=[
        {"billable_metric_id": llm_api_calls, "charge_model": "package",
         "properties": {"package_size": 100, "amount": "0", "free_units": 0}}])
    customer(api, "user", currency="USD")
    subscribe(api, at, "user-sub", "user", "free", utc(2024, 2, 1))
    _calls(api, "user-sub", "llm_api_calls", 80, utc(2024, 2, 10))
    bill(database, org, utc(2024, 3, 1))
    [invoice] = invoices(api)
    # 80 calls -> 1 started package of 100 x $0.00 = 0; the base fee is 0.
    assert fee_amounts(invoice) == [("subscription", "free", 0), ("charge", "llm_api_calls", 0)]
    assert invoice["fees"][1]["units"] == "80" and invoice["fees"][1]["events_count"] == 80
    assert (invoice["total_amount_cents"], invoice["payment_status"]) == (0, "succeeded")


def test_example_3_pay_as_you_go(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    # PAYG: no base fee; LLM tokens at $0.002 per 1K tokens = $0.000002 a token.
    tokens = metric(api, "llm_tokens", "sum_agg", "tokens")
    plan(api, "payg", 0, amount_currency="USD", charges=[
        {"billable_metric_id": tokens, "charge_model": "standard", "properties": {"amount": "0.000002"}}])
    customer(api, "user", currency="USD")
    subscribe(api, at, "user-sub", "user", "payg", utc(2025, 10, 1))
    send(api, "user-sub", "llm_tokens", utc(2025, 10, 5), tokens=1_000_000, model="openai/gpt-4o-mini",
         service="litellm")
    send(api, "user-sub", "llm_tokens", utc(2025, 10, 30, 12), tokens=542_867, model="openai/gpt-4o-mini",
         service="litellm")
    bill(database, org, utc(2025, 11, 1))
    [invoice] = invoices(api)
    # 1 542 867 tokens x $0.000002 = $3.085734 -> $3.09.
    assert fee_amounts(invoice) == [("subscription", "payg", 0), ("charge", "llm_tokens", 309)]
    assert invoice["fees"][1]["precise_amount"] == "3.085734"
    assert invoice["total_amount_cents"] == 309


def test_example_4_hybrid_base_and_overage(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    # Professional: $49.00/month with 10 000 LLM API calls included, then $0.001 a call. The
    # gateway reports the calls it served in bulk (a sum of ``calls``).
    llm_api_calls = metric(api, "llm_api_calls", "sum_agg", "calls")
    plan(api, "professional", 4900, amount_currency="USD",
         charges=[_included("llm_api_calls", llm_api_calls, 10_000, "0.001")])
    customer(api, "user", currency="USD")
    subscribe(api, at, "user-sub", "user", "professional", utc(2024, 6, 1))
    send(api, "user-sub", "llm_api_calls", utc(2024, 6, 10), calls=9_000)
    send(api, "user-sub", "llm_api_calls", utc(2024, 6, 20), calls=3_345)
    send(api, "user-sub", "llm_api_calls", utc(2024, 7, 3), calls=4_000)
    bill(database, org, utc(2024, 8, 1))
    june, july = invoices(api)
    # June: 12 345 calls: 10 000 included, then 12 345 - 10 001 + 1 = 2 345 x $0.001 = $2.345
    # -> $2.35 (half up); $49.00 + $2.35 = $51.35.
    assert fee_amounts(june) == [("subscription", "professional", 4900), ("charge", "llm_api_calls", 235)]
    assert june["total_amount_cents"] == 5135
    # July: 4 000 calls, all included: the base fee only.
    assert fee_amounts(july) == [("subscription", "professional", 4900), ("charge", "llm_api_calls", 0)]
    assert july["total_amount_cents"] == 4900


def test_the_four_plans_paid_in_advance(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "api_calls", "sum_agg", "calls")
    plan(api, "trial", 100, interval="weekly", trial_period=7, pay_in_advance=True, amount_currency="USD",
         charges=[_included("api_calls", calls, 700, "0.01")])
    plan(api, "starter", 1900, pay_in_advance=True, amount_currency="USD",
         charges=[_included("api_calls", calls, 1_000, "0.001")])
    plan(api, "professional", 4900, pay_in_advance=True, amount_currency="USD",
         charges=[_included("api_calls", calls, 10_000, "0.001")])
    plan(api, "enterprise", 9900, pay_in_advance=True, amount_currency="USD")  # unlimited: no charge
    for name in ("trial", "starter", "professional", "enterprise"):
        customer(api, name, currency="USD")
    subscribe(api, at, "trial-sub", "trial", "trial", utc(2024, 3, 4))  # a Monday
    for name in ("starter", "professional", "enterprise"):
        subscribe(api, at, f"{name}-sub", name, name, utc(2024, 3, 10))
    send(api, "trial-sub", "api_calls", utc(2024, 3, 6), calls=650)
    send(api, "starter-sub", "api_calls", utc(2024, 3, 15), calls=1_200)
    send(api, "professional-sub", "api_calls", utc(2024, 3, 15), calls=12_345)
    send(api, "enterprise-sub", "api_calls", utc(2024, 3, 15), calls=50_000)

    starting = bill(database, org, utc(2024, 3, 10, 0, 0, 1))
    # Paid in advance from Mar 10, calendar months: 22 of 31 days.
    # Starter 1900 x 22/31 = 1348.39 -> 1348; Professional 4900 x 22/31 = 3477.42 -> 3477;
    # Enterprise 9900 x 22/31 = 7025.81 -> 7026. The trial plan bills nothing while in trial.
    assert sorted((b.subscription_external_id, b.reason, b.total_amount_cents) for b in starting.billed) == [
        ("enterprise-sub", "subscription_starting", 7026), ("professional-sub", "subscription_starting", 3477),
        ("starter-sub", "subscription_starting", 1348)]

    bill(database, org, utc(2024, 4, 1))
    trial = invoices(api, external_customer_id="trial")
    # The trial ends Mar 11, when the second week starts: each Monday bills the coming week in
    # advance ($1.00) with the past week's usage. Week of Mar 4: 650 calls, all in the free 700.
    assert [(i["issuing_date"], fee_amounts(i)) for i in trial] == [
        ("2024-03-11", [("subscription", "trial", 100), ("charge", "api_calls", 0)]),
        ("2024-03-18", [("subscription", "trial", 100)]),
        ("2024-03-25", [("subscription", "trial", 100)]),
        ("2024-04-01", [("subscription", "trial", 100)])]
    april = {name: invoices(api, external_customer_id=name)[1] for name in ("starter", "professional", "enterprise")}
    # April 1st: April's whole fee in advance and March's usage.
    # Starter: 1 200 calls, 1 000 included, 200 x $0.001 = $0.20 -> 1900 + 20 = 1920.
    # Professional: 12 345 calls -> 2 345 x $0.001 = $2.345 -> 235; 4900 + 235 = 5135.
    # Enterprise: the fee alone, 9900.
    assert {name: (fee_amounts(i), i["total_amount_cents"]) for name, i in april.items()} == {
        "starter": ([("subscription", "starter", 1900), ("charge", "api_calls", 20)], 1920),
        "professional": ([("subscription", "professional", 4900), ("charge", "api_calls", 235)], 5135),
        "enterprise": ([("subscription", "enterprise", 9900)], 9900)}


def test_per_seat_and_graduated_per_token(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    # Seed 004: seats (users active at the period's end, carried from month to month) at $20.00
    # each, and tokens from the LLM gateway: 1M included, $2.00 per million up to 10M, then
    # $1.00 per million.
    seats = ok(api.post("billable_metrics", json={"billable_metric": {
        "name": "Seats", "code": "seats", "aggregation_type": "unique_count_agg", "field_name": "user_id",
        "recurring": True}}))["billable_metric"]["lago_id"]
    tokens = metric(api, "tokens_consumed", "sum_agg", "value")
    plan(api, "ai-saas", 0, amount_currency="USD", charges=[
        {"billable_metric_id": seats, "charge_model": "standard", "properties": {"amount": "20"}},
        {"billable_metric_id": tokens, "charge_model": "graduated", "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": 1_000_000, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 1_000_001, "to_value": 10_000_000, "per_unit_amount": "0.000002", "flat_amount": "0"},
            {"from_value": 10_000_001, "to_value": None, "per_unit_amount": "0.000001", "flat_amount": "0"}]}}])
    customer(api, "startup", currency="USD")
    subscribe(api, at, "startup-sub", "startup", "ai-saas", utc(2024, 4, 1))
    for user, day in (("u1", 2), ("u2", 3), ("u3", 5)):
        send(api, "startup-sub", "seats", utc(2024, 4, day), user_id=user, operation_type="add")
    send(api, "startup-sub", "seats", utc(2024, 4, 20), user_id="u3", operation_type="remove")
    gateway = {"transaction_id": "gw-1", "external_subscription_id": "startup-sub", "code": "tokens_consumed",
               "timestamp": int(utc(2024, 4, 10).timestamp()), "properties": {"value": 3_500_000}}
    ok(api.post("events", json={"event": gateway}))
    # The gateway retries the same event: acknowledged again, stored once, counted once.
    assert ok(api.post("events", json={"event": gateway}))["event"]["transaction_id"] == "gw-1"
    send(api, "startup-sub", "tokens_consumed", utc(2024, 4, 25), value=8_000_000)
    send(api, "startup-sub", "seats", utc(2024, 5, 10), user_id="u4", operation_type="add")
    send(api, "startup-sub", "tokens_consumed", utc(2024, 5, 12), value=500_000)

    bill(database, org, utc(2024, 6, 1))
    april, may = invoices(api)
    # April: u1, u2 and u3 added, u3 removed: 2 seats x $20.00 = $40.00.
    # 11 500 000 tokens: 1 000 000 free; 10 000 000 - 1 000 001 + 1 = 9 000 000 x $0.000002 =
    # $18.00; 11 500 000 - 10 000 001 + 1 = 1 500 000 x $0.000001 = $1.50 -> $19.50.
    assert fee_amounts(april) == [("subscription", "ai-saas", 0), ("charge", "seats", 4000),
                                  ("charge", "tokens_consumed", 1950)]
    assert april["total_amount_cents"] == 5950
    # May: the 2 seats carried, u4 added: 3 x $20.00; 500 000 tokens, all included.
    assert fee_amounts(may) == [("subscription", "ai-saas", 0), ("charge", "seats", 6000),
                                ("charge", "tokens_consumed", 0)]
    assert [fee["units"] for fee in may["fees"]] == ["1", "3", "500000"]
    assert may["total_amount_cents"] == 6000
