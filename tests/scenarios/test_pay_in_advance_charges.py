"""Pay-in-advance charges: a fee per event, priced when the ``pay_in_advance_fees`` service reads the
event, with its own invoice when the charge is invoiceable; never twice for one event, and never
again on the period's invoice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from billow.config import Settings
from billow.core.db import Database
from billow.fees import tasks
from billow.jobs.worker import run_pending, schedule_periodic
from billow.models import Event, EventWatermark, Fee, Webhook
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
    subscribe,
    utc,
)

MARCH_3 = utc(2024, 3, 3, 10)


def _event(api: httpx.Client, transaction_id: str, code: str, when: Any, **properties: Any) -> httpx.Response:
    body = {"transaction_id": transaction_id, "external_subscription_id": "sub", "code": code,
            "timestamp": int(when.timestamp()), "properties": properties}
    return api.post("events", json={"event": body})


def _send(api: httpx.Client, transaction_id: str, code: str, when: Any, **properties: Any) -> None:
    ok(_event(api, transaction_id, code, when, **properties))


def _estimate(api: httpx.Client, code: str, when: Any, **properties: Any) -> dict[str, Any]:
    body = {"event": {"transaction_id": "estimate", "external_subscription_id": "sub", "code": code,
                      "timestamp": int(when.timestamp()), "properties": properties}}
    [fee] = ok(api.post("events/estimate_fees", json=body))["fees"]
    return fee  # type: ignore[no-any-return]


def _fees(api: httpx.Client) -> list[tuple[str | None, str, int, str]]:
    """(event transaction id, metric code, amount, units) of every pay-in-advance fee, by event."""
    listed = ok(api.get("fees", params={"external_subscription_id": "sub", "fee_type": "charge"}))["fees"]
    return sorted((fee["event_transaction_id"], fee["item"]["code"], fee["amount_cents"], fee["units"])
                  for fee in listed if fee["pay_in_advance"])


def _webhook_types(database: Database, org: Org) -> list[str]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(Webhook.webhook_type).where(Webhook.organization_id == org.id)
                                    .order_by(Webhook.job_id)))


def _catalog(api: httpx.Client) -> None:
    """10.00 a month in arrears; calls 0.50 each, paid in advance and invoiced per event; tokens
    0.01 each, paid in advance and not invoiced; storage 1.00 a GB in arrears."""
    calls = metric(api, "calls", "count_agg")
    tokens = metric(api, "tokens", "sum_agg", "n")
    storage = metric(api, "storage", "sum_agg", "gb")
    plan(api, "p", 1000, charges=[
        {"billable_metric_id": calls, "charge_model": "standard", "pay_in_advance": True, "invoiceable": True,
         "properties": {"amount": "0.5"}},
        {"billable_metric_id": tokens, "charge_model": "standard", "pay_in_advance": True, "invoiceable": False,
         "properties": {"amount": "0.01"}},
        {"billable_metric_id": storage, "charge_model": "standard", "properties": {"amount": "1"}},
    ])


def _subscribed(api: httpx.Client, at: Clock) -> None:
    """The customer on plan ``p`` from March 1st 2024, the clock moved to March 3rd, 10:00."""
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", utc(2024, 3, 1))
    at(MARCH_3)


def test_a_fee_per_event_invoiced_or_not(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    listen(api)
    _catalog(api)
    _subscribed(api, at)
    # The estimate of the first tokens event: 250 x 0.01 = 2.50.
    assert _estimate(api, "tokens", MARCH_3, n=250)["amount_cents"] == 250
    _send(api, "c1", "calls", MARCH_3)
    _send(api, "t1", "tokens", MARCH_3, n=250)
    _send(api, "s1", "storage", MARCH_3, gb=2)
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 2
    # One call x 0.50 = 50; 250 tokens x 0.01 = 250. Storage is billed in arrears: no fee now.
    assert _fees(api) == [("c1", "calls", 50, "1"), ("t1", "tokens", 250, "250")]

    [call_invoice] = invoices(api)
    assert (call_invoice["invoice_type"], call_invoice["status"], call_invoice["total_amount_cents"]) == (
        "subscription", "finalized", 50)
    assert fee_amounts(call_invoice) == [("charge", "calls", 50)]
    [billed] = call_invoice["billing_periods"]
    assert (billed["invoicing_reason"], billed["charges_from_datetime"], billed["charges_to_datetime"]) == (
        "in_advance_charge", "2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")
    tokens_fee = next(fee for fee in ok(api.get("fees"))["fees"] if fee["event_transaction_id"] == "t1")
    assert (tokens_fee["lago_invoice_id"], tokens_fee["invoiceable"], tokens_fee["external_customer_id"]) == (
        None, False, "cus")
    assert _webhook_types(database, org)[-2:] == ["invoice.created", "fee.created"]

    # The next tokens event: the estimate, then the fee, 100 x 0.01 = 1.00 (350 tokens in all).
    march_5 = utc(2024, 3, 5)
    at(march_5)
    assert _estimate(api, "tokens", march_5, n=100)["amount_cents"] == 100
    _send(api, "t2", "tokens", march_5, n=100)
    _send(api, "c2", "calls", march_5)
    assert tasks.create_fees(database, march_5 + timedelta(seconds=10), org.id) == 2
    assert _fees(api) == [("c1", "calls", 50, "1"), ("c2", "calls", 50, "1"), ("t1", "tokens", 250, "250"),
                          ("t2", "tokens", 100, "100")]
    t2 = next(fee for fee in ok(api.get("fees"))["fees"] if fee["event_transaction_id"] == "t2")
    assert t2["total_aggregated_units"] == "350"

    # The period invoice bills the plan (10.00) and the storage (2 GB x 1.00), not the pay-in-advance
    # charges again.
    bill(database, org, utc(2024, 4, 1, 1))
    period = invoices(api)[-1]
    assert period["billing_periods"][0]["invoicing_reason"] == "subscription_periodic"
    assert fee_amounts(period) == [("subscription", "p", 1000), ("charge", "storage", 200)]
    assert period["total_amount_cents"] == 1200
    assert len(invoices(api)) == 3  # the two call invoices and the period's


def test_a_retried_event_creates_no_second_fee(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _catalog(api)
    _subscribed(api, at)
    _send(api, "c1", "calls", MARCH_3)
    ok(_event(api, "c1", "calls", MARCH_3))  # the client retries: acknowledged, stored once
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.organization_id == org.id)) == 1
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 1
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=20), org.id) == 0  # read once
    # The watermark lost (as after a crash between the fees and their commit): nothing twice.
    with database.unit_of_work() as session:
        session.execute(update(EventWatermark).where(EventWatermark.service == "pay_in_advance_fees",
                                                     EventWatermark.organization_id == org.id)
                        .values(last_event_id=0))
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=30), org.id) == 0
    assert len(invoices(api)) == 1
    # The database refuses a second fee for the same charge and event.
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        fee = session.scalar(select(Fee).where(Fee.event_transaction_id == "c1"))
        assert fee is not None
        session.add(Fee(organization_id=fee.organization_id, subscription_id=fee.subscription_id,
                        charge_id=fee.charge_id, fee_type="charge", amount_currency="EUR", amount_cents=50,
                        precise_amount_cents=fee.precise_amount_cents, units=fee.units,
                        total_aggregated_units=fee.units, from_datetime=fee.from_datetime,
                        to_datetime=fee.to_datetime, pay_in_advance=True,
                        pay_in_advance_event_id=fee.pay_in_advance_event_id))
        session.flush()


def test_events_younger_than_the_settle_delay_wait(api: httpx.Client, at: Clock, database: Database,
                                                  org: Org) -> None:
    _catalog(api)
    _subscribed(api, at)
    _send(api, "c1", "calls", MARCH_3)
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=2), org.id, settle=timedelta(seconds=5)) == 0
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=6), org.id, settle=timedelta(seconds=5)) == 1


def _graduated(api: httpx.Client, code: str, aggregation: str, ranges: list[dict[str, Any]]) -> None:
    field = {"field_name": "n"} if aggregation == "sum_agg" else {}
    body = {"name": code, "code": code, "aggregation_type": aggregation, **field}
    metric_id = ok(api.post("billable_metrics", json={"billable_metric": body}))["billable_metric"]["lago_id"]
    plan(api, "p", 0, charges=[{"billable_metric_id": metric_id, "charge_model": "graduated", "pay_in_advance": True,
                                "invoiceable": False, "properties": {"graduated_ranges": ranges}}])


def test_sum_graduated_fees_are_the_increments_of_the_period_amount(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    _graduated(api, "seats", "sum_agg", [
        {"from_value": 0, "to_value": 5, "per_unit_amount": "0.02", "flat_amount": "0.01"},
        {"from_value": 6, "to_value": None, "per_unit_amount": "0.01", "flat_amount": "0.01"}])
    _subscribed(api, at)
    for number, (value, minutes) in enumerate(((3, 0), (1, 1), (2, 2)), start=1):
        _send(api, f"s{number}", "seats", MARCH_3 + timedelta(minutes=minutes), n=value)
    assert tasks.create_fees(database, MARCH_3 + timedelta(minutes=5), org.id) == 3
    # 3 seats: 3 x 0.02 + 0.01 flat = 0.07 (the first tier's flat fee is paid by the first event);
    # 4: 4 x 0.02 + 0.01 = 0.09, minus 0.07 = 0.02;
    # 6: 0.11 + the second tier's 1 x 0.01 + 0.01 flat = 0.13, minus 0.09 = 0.04.
    assert _fees(api) == [("s1", "seats", 7, "3"), ("s2", "seats", 2, "1"), ("s3", "seats", 4, "2")]
    assert invoices(api) == []  # not invoiceable


def test_count_events_of_the_same_second_are_priced_in_ingestion_order(api: httpx.Client, at: Clock,
                                                                       database: Database, org: Org) -> None:
    listen(api)
    _graduated(api, "calls", "count_agg", [
        {"from_value": 0, "to_value": 2, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 3, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"}])
    _subscribed(api, at)
    for number in (1, 2, 3):
        _send(api, f"c{number}", "calls", MARCH_3)
    # The fourth event of that second, estimated: the 4th call is in the paid tier, 2.00.
    assert _estimate(api, "calls", MARCH_3)["amount_cents"] == 200
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 3
    # Calls 1 and 2 are in the free tier (0); the third is the first paid one: 1 x 2.00.
    assert _fees(api) == [("c1", "calls", 0, "1"), ("c2", "calls", 0, "1"), ("c3", "calls", 200, "1")]
    with database.unit_of_work(write=False) as session:
        bodies = [json.loads(body) for body in session.scalars(select(Webhook.body).where(
            Webhook.organization_id == org.id, Webhook.webhook_type == "fee.created").order_by(Webhook.job_id))]
    assert [body["fee"]["amount_cents"] for body in bodies] == [0, 0, 200]


def test_the_periodic_service_creates_the_fees(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _catalog(api)
    _subscribed(api, at)
    _send(api, "t1", "tokens", MARCH_3, n=42)
    settings = Settings(database_url=database.url, pay_in_advance_fees_settle_seconds=5,
                        periodic_pay_in_advance_fees_interval=5, periodic_billing_clock_enabled=False,
                        periodic_webhook_sweeper_enabled=False, periodic_event_errors_enabled=False,
                        periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False,
                        periodic_progressive_billing_enabled=False)
    later = MARCH_3 + timedelta(seconds=10)
    assert schedule_periodic(database, settings, later, {}) == ["pay_in_advance_fees"]
    assert run_pending(database, settings, now=later, names=["periodic.pay_in_advance_fees"]) == 1
    # 42 tokens x 0.01 = 0.42.
    assert _fees(api) == [("t1", "tokens", 42, "42")]


def test_a_sum_falling_and_rising_again_bills_only_the_new_peak(api: httpx.Client, at: Clock,
                                                               database: Database, org: Org) -> None:
    _catalog(api)
    _subscribed(api, at)
    _send(api, "t1", "tokens", MARCH_3, n=1000)
    _send(api, "t2", "tokens", MARCH_3 + timedelta(minutes=1), n=-400)
    later = MARCH_3 + timedelta(minutes=2)
    # Estimated before it is sent: 600 -> 1400 raises the peak of 1000 by 400 tokens: 4.00.
    assert _estimate(api, "tokens", later, n=800)["amount_cents"] == 400
    _send(api, "t3", "tokens", later, n=800)
    assert tasks.create_fees(database, later + timedelta(seconds=10), org.id) == 3
    # 1000 x 0.01 = 10.00; the fall to 600 is not refunded (0); back to 1400: only 400 above the
    # peak of 1000 are billed, 4.00.
    assert _fees(api) == [("t1", "tokens", 1000, "1000"), ("t2", "tokens", 0, "0"), ("t3", "tokens", 400, "400")]
    # Down to 900 again: current usage shows the period's peak, 1400 tokens x 0.01 = 14.00, what
    # the events were billed for (the in-arrears storage shows its level).
    _send(api, "t4", "tokens", later + timedelta(minutes=1), n=-500)
    at(later + timedelta(minutes=2))
    usage = ok(api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"}))["customer_usage"]
    shown = {charge["billable_metric"]["code"]: (charge["units"], charge["amount_cents"])
             for charge in usage["charges_usage"]}
    assert shown["tokens"] == ("1400", 1400)


def test_events_of_an_organization_without_pay_in_advance_charges_only_move_the_watermark(
        api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    storage = metric(api, "storage", "sum_agg", "gb")
    plan(api, "p", 1000, charges=[{"billable_metric_id": storage, "charge_model": "standard",
                                   "properties": {"amount": "1"}}])
    _subscribed(api, at)
    _send(api, "s1", "storage", MARCH_3, gb=2)
    _send(api, "s2", "storage", MARCH_3, gb=3)
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 0
    with database.unit_of_work(write=False) as session:
        last = session.scalar(select(func.max(Event.id)).where(Event.organization_id == org.id))
        mark = session.get(EventWatermark, ("pay_in_advance_fees", org.id))
        assert mark is not None and mark.last_event_id == last
        assert session.scalar(select(func.count()).select_from(Fee).where(Fee.organization_id == org.id)) == 0


def test_taxes_and_the_grace_period(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    _catalog(api)
    customer(api, "cus", tax_codes=["vat"], billing_configuration={"invoice_grace_period": 2})
    subscribe(api, at, "sub", "cus", "p", utc(2024, 3, 1))
    at(MARCH_3)
    _send(api, "c1", "calls", MARCH_3)
    _send(api, "t1", "tokens", MARCH_3, n=333)
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 2
    # Not invoiced: 333 tokens x 0.01 = 3.33, VAT 20 % = 0.666 -> 0.67.
    tokens_fee = next(fee for fee in ok(api.get("fees"))["fees"] if fee["event_transaction_id"] == "t1")
    assert (tokens_fee["amount_cents"], tokens_fee["taxes_amount_cents"], tokens_fee["total_amount_cents"]) == (
        333, 67, 400)
    # The call's invoice is a draft during the 2-day grace period: 0.50 + 20 % = 0.60.
    [draft] = invoices(api)
    assert (draft["status"], draft["fees_amount_cents"], draft["taxes_amount_cents"], draft["total_amount_cents"]) == (
        "draft", 50, 10, 60)
    bill(database, org, utc(2024, 3, 4, 12))  # refreshed during the grace period: the fee stays
    bill(database, org, utc(2024, 3, 5, 1))  # finalized when it ends
    [finalized] = invoices(api)
    assert (finalized["status"], finalized["total_amount_cents"]) == ("finalized", 60)
    assert fee_amounts(finalized) == [("charge", "calls", 50)]


def test_a_batch_of_events_bills_each_event_on_its_own(api: httpx.Client, at: Clock, database: Database,
                                                       org: Org) -> None:
    listen(api)
    _catalog(api)
    _subscribed(api, at)
    events = [{"transaction_id": f"b{number}", "external_subscription_id": "sub", "code": code,
               "timestamp": int(MARCH_3.timestamp()), "properties": properties}
              for number, (code, properties) in enumerate((("calls", {}), ("tokens", {"n": 120}), ("calls", {}),
                                                           ("storage", {"gb": 1}), ("tokens", {"n": 30})), start=1)]
    ok(api.post("events/batch", json={"events": events}))
    assert tasks.create_fees(database, MARCH_3 + timedelta(seconds=10), org.id) == 4
    # Each call its own invoice of 0.50; each tokens event its own fee without invoice (1.20, 0.30).
    assert _fees(api) == [("b1", "calls", 50, "1"), ("b2", "tokens", 120, "120"), ("b3", "calls", 50, "1"),
                          ("b5", "tokens", 30, "30")]
    per_event = invoices(api)
    assert len(per_event) == 2
    assert sorted(fee["event_transaction_id"] for invoice in per_event for fee in invoice["fees"]) == ["b1", "b3"]
    assert all(invoice["total_amount_cents"] == 50 and invoice["status"] == "finalized" for invoice in per_event)
    # Webhooks in event order: an invoice for each call, a fee.created for each tokens fee.
    assert _webhook_types(database, org)[-4:] == ["invoice.created", "fee.created", "invoice.created", "fee.created"]
    with database.unit_of_work(write=False) as session:
        bodies = [json.loads(body) for body in session.scalars(select(Webhook.body).where(
            Webhook.organization_id == org.id, Webhook.webhook_type == "fee.created").order_by(Webhook.job_id))]
    assert [(body["fee"]["event_transaction_id"], body["fee"]["amount_cents"], body["fee"]["lago_invoice_id"],
             body["fee"]["external_subscription_id"]) for body in bodies] == [
        ("b2", 120, None, "sub"), ("b5", 30, None, "sub")]
