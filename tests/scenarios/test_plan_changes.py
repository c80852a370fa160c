"""Plan changes through ``POST /subscriptions`` with the same external id: an upgrade applies now and
is billed on one invoice (the old plan's final invoice with the new plan's in-advance fee); a
downgrade waits for the end of the period and its switch is billed with the period's invoice."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from billow.config import Settings
from billow.core.db import Database
from billow.jobs.worker import run_pending
from billow.models import Webhook
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    fee_amounts,
    invoices,
    listen,
    metric,
    ok,
    plan,
    send,
    subscribe,
    utc,
)


def _catalog(api: httpx.Client, *, basic_in_advance: bool, premium_in_advance: bool) -> None:
    """basic: 31.00 a month + 1.00 a call; premium: 62.00 a month + 2.00 a call (dearer: an upgrade)."""
    calls = metric(api, "calls", "count_agg")
    for code, cents, price, advance in (("basic", 3100, "1", basic_in_advance),
                                        ("premium", 6200, "2", premium_in_advance)):
        plan(api, code, cents, pay_in_advance=advance,
             charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": price}}])


def _change_plan(api: httpx.Client, plan_code: str) -> dict[str, Any]:
    body = {"external_customer_id": "cus", "plan_code": plan_code, "external_id": "sub"}
    return ok(api.post("subscriptions", json={"subscription": body}))["subscription"]  # type: ignore[no-any-return]


def _subscription_webhooks(database: Database, org: Org) -> list[tuple[str, str, str]]:
    """(webhook type, plan code, status) of every subscription webhook, in emission order."""
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(Webhook.webhook_type, Webhook.body).where(Webhook.organization_id == org.id)
                               .order_by(Webhook.job_id)).all()
    found = []
    for kind, body in rows:
        if kind.startswith("subscription."):
            subscription = json.loads(body)["subscription"]
            found.append((kind, subscription["plan_code"], subscription["status"]))
    return found


def _reasons(invoice: dict[str, Any]) -> list[tuple[str, str]]:
    return [(period["lago_plan_id"], period["invoicing_reason"]) for period in invoice["billing_periods"]]


def _plan_ids(api: httpx.Client) -> dict[str, str]:
    return {code: ok(api.get(f"plans/{code}"))["plan"]["lago_id"] for code in ("basic", "premium")}


def _story(api: httpx.Client, at: Clock, *, basic_in_advance: bool, premium_in_advance: bool) -> None:
    """basic from March 1st 2024 (calendar), 2 calls, upgraded to premium on March 16 at noon,
    then 2 calls on premium."""
    listen(api)
    _catalog(api, basic_in_advance=basic_in_advance, premium_in_advance=premium_in_advance)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 5))
    send(api, "sub", "calls", utc(2024, 3, 12))
    at(utc(2024, 3, 16, 12))
    upgraded = _change_plan(api, "premium")
    assert (upgraded["plan_code"], upgraded["status"], upgraded["previous_plan_code"]) == ("premium", "active", "basic")
    assert upgraded["started_at"] == "2024-03-16T12:00:00.000Z"
    send(api, "sub", "calls", utc(2024, 3, 20))
    send(api, "sub", "calls", utc(2024, 3, 25))


def test_upgrade_in_arrears_to_in_advance_is_billed_on_one_invoice(api: httpx.Client, at: Clock,
                                                                    database: Database, org: Org) -> None:
    _story(api, at, basic_in_advance=False, premium_in_advance=True)
    report = bill(database, org, utc(2024, 3, 16, 13))
    assert len({billed.invoice_id for billed in report.billed}) == 1
    [upgrade] = invoices(api)
    ids = _plan_ids(api)
    assert _reasons(upgrade) == [(ids["basic"], "subscription_terminating"), (ids["premium"], "subscription_starting")]
    # basic (arrears) Mar 1-16 is 16 days, one less on the old side of an upgrade: 15 x 3100 / 31 = 1500.
    # premium (advance) from the upgrade day to the end of March, Mar 16-31: 16 x 6200 / 31 = 3200.
    # basic's usage up to the upgrade: 2 calls x 1.00 = 200.
    assert fee_amounts(upgrade) == [("subscription", "basic", 1500), ("subscription", "premium", 3200),
                                    ("charge", "calls", 200)]
    assert (upgrade["invoice_type"], upgrade["fees_amount_cents"], upgrade["total_amount_cents"]) == (
        "subscription", 4900, 4900)
    assert upgrade["issuing_date"] == "2024-03-16"
    assert bill(database, org, utc(2024, 3, 20)).billed == []  # the starting fee is not billed again

    bill(database, org, utc(2024, 4, 1, 1))
    _, april = invoices(api)
    # April in advance: 6200; premium's March usage (from the upgrade instant): 2 calls x 2.00 = 400.
    assert fee_amounts(april) == [("subscription", "premium", 6200), ("charge", "calls", 400)]
    assert _reasons(april) == [(ids["premium"], "subscription_periodic")]


def test_upgrade_of_in_arrears_plans(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, basic_in_advance=False, premium_in_advance=False)
    bill(database, org, utc(2024, 3, 16, 13))
    bill(database, org, utc(2024, 4, 1, 1))
    final, april = invoices(api)
    # basic Mar 1-15 (the upgrade day goes to premium): 15 x 3100 / 31 = 1500; 2 calls x 1.00 = 200.
    assert fee_amounts(final) == [("subscription", "basic", 1500), ("charge", "calls", 200)]
    assert [period["invoicing_reason"] for period in final["billing_periods"]] == ["subscription_terminating"]
    # premium in arrears, first invoice after the upgrade, Mar 16-31: 16 x 6200 / 31 = 3200; 2 calls x 2.00.
    assert fee_amounts(april) == [("subscription", "premium", 3200), ("charge", "calls", 400)]
    assert april["total_amount_cents"] == 3600


def test_upgrade_of_in_advance_plans(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, basic_in_advance=True, premium_in_advance=True)
    bill(database, org, utc(2024, 3, 16, 13))
    starting, upgrade = invoices(api)
    assert fee_amounts(starting) == [("subscription", "basic", 3100)]  # March, in advance, on March 1st
    # basic was paid for March already: its final invoice bills only its usage, 2 calls x 1.00 = 200;
    # premium Mar 16-31 in advance: 16 x 6200 / 31 = 3200.
    assert fee_amounts(upgrade) == [("subscription", "premium", 3200), ("charge", "calls", 200)]
    assert [period["invoicing_reason"] for period in upgrade["billing_periods"]] == [
        "subscription_terminating", "subscription_starting"]
    assert upgrade["total_amount_cents"] == 3400


def test_upgrade_webhooks(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, basic_in_advance=False, premium_in_advance=True)
    assert _subscription_webhooks(database, org) == [
        ("subscription.started", "basic", "active"),
        ("subscription.terminated", "basic", "terminated"),
        ("subscription.started", "premium", "active"),
    ]


def test_downgrade_mid_period_takes_effect_at_the_end_of_the_period(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    listen(api)
    _catalog(api, basic_in_advance=True, premium_in_advance=False)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "premium", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 5))
    at(utc(2024, 3, 10, 9))
    answer = _change_plan(api, "basic")
    assert (answer["plan_code"], answer["next_plan_code"], answer["downgrade_plan_date"]) == (
        "premium", "basic", "2024-04-01")
    send(api, "sub", "calls", utc(2024, 3, 20))
    assert bill(database, org, utc(2024, 3, 31, 23)).billed == []  # nothing changes before the period ends

    report = bill(database, org, utc(2024, 4, 1, 0, 0, 1))
    assert [change for _, change in report.changed] == ["downgraded"]
    [switch] = invoices(api)
    ids = _plan_ids(api)
    assert _reasons(switch) == [(ids["premium"], "subscription_periodic"), (ids["basic"], "subscription_starting")]
    # premium's whole March in arrears: 6200, its 2 calls x 2.00 = 400; basic's April in advance
    # (Apr 1-30, the whole month): 3100.
    assert fee_amounts(switch) == [("subscription", "premium", 6200), ("subscription", "basic", 3100),
                                   ("charge", "calls", 400)]
    assert switch["total_amount_cents"] == 9700
    assert bill(database, org, utc(2024, 4, 2)).billed == []  # exactly once

    send(api, "sub", "calls", utc(2024, 4, 10))
    bill(database, org, utc(2024, 5, 1, 1))
    _, may = invoices(api)
    # May in advance: 3100; basic's April usage: 1 call x 1.00 = 100.
    assert fee_amounts(may) == [("subscription", "basic", 3100), ("charge", "calls", 100)]
    with database.unit_of_work(write=False) as session:
        updated = json.loads(session.scalar(select(Webhook.body).where(
            Webhook.organization_id == org.id, Webhook.webhook_type == "subscription.updated")) or "{}")
    assert (updated["subscription"]["next_plan_code"], updated["subscription"]["downgrade_plan_date"]) == (
        "basic", "2024-04-01")
    assert _subscription_webhooks(database, org) == [
        ("subscription.started", "premium", "active"),
        ("subscription.updated", "premium", "active"),
        ("subscription.terminated", "premium", "terminated"),
        ("subscription.started", "basic", "active"),
    ]


def test_the_upgrade_is_billed_as_soon_as_it_is_committed(api: httpx.Client, at: Clock, database: Database,
                                                          org: Org) -> None:
    _story(api, at, basic_in_advance=False, premium_in_advance=True)
    # The job the upgrade enqueued, not the billing clock: the same single invoice.
    run_pending(database, Settings(database_url=database.url), now=utc(2024, 3, 16, 12, 0, 1),
                names=["subscriptions.bill_now"])
    [upgrade] = invoices(api)
    # 1500 (basic, 15 days) + 3200 (premium, 16 days in advance) + 200 (basic's 2 calls).
    assert upgrade["total_amount_cents"] == 4900
    assert bill(database, org, utc(2024, 3, 16, 13)).billed == []  # nothing twice
