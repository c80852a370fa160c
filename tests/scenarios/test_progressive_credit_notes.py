"""Progressive billing, edge cases: a later invoice of the period billing less usage than a
progressive invoice did (the excess credited back by an automatic credit note), and voided
progressive invoices (lago-payments-wallets-alerts.md 5.4)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from billow.core.db import Database
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
from tests.scenarios.test_coupons import apply, coupon, credits
from tests.scenarios.test_progressive_billing import EXAMPLE, UNIT_PRICE, catalog, progressive_invoices, summary, use


def subscription_invoices(api: httpx.Client) -> list[dict[str, Any]]:
    return [invoice for invoice in invoices(api) if invoice["invoice_type"] == "subscription"]


def credit_notes(api: httpx.Client) -> list[dict[str, Any]]:
    listed = ok(api.get("credit_notes"))["credit_notes"]
    return sorted(listed, key=lambda note: note["created_at"])


def note_summary(note: dict[str, Any]) -> tuple[str, str, int, int, int, int, int, str]:
    return (note["lago_invoice_id"], note["reason"], note["sub_total_excluding_taxes_amount_cents"],
            note["taxes_amount_cents"], note["total_amount_cents"], note["credit_amount_cents"],
            note["balance_amount_cents"], note["credit_status"])


def kinds(database: Database, org: Org) -> list[str]:
    with database.unit_of_work(write=False) as session:
        return list(session.scalars(select(Webhook.webhook_type).where(Webhook.organization_id == org.id)
                                    .order_by(Webhook.job_id)))


def test_usage_down_at_period_end_credits_the_excess_back_with_taxes(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    listen(api)
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    catalog(api, [{"amount_cents": 200}])
    customer(api, "cus", tax_codes=["vat"])
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)) == 1  # 6.00 EUR
    [first] = progressive_invoices(api)
    assert summary(first) == (600, 0, 600, 120, 720)
    assert use(api, at, database, org, utc(2024, 3, 10, 10), -20_000) == []  # usage down to 2.00 EUR
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = subscription_invoices(api)
    # 6.00 EUR to deduct but 2.00 EUR of usage: 2.00 deducted, 4.00 + 20 % VAT = 4.80 credited back
    # on the progressive invoice, and the closing invoice consumes it: 3100 + 620 VAT - 480.
    assert fee_amounts(closing) == [("subscription", "progressive", 3100), ("charge", "units", 200)]
    assert summary(closing) == (3300, 200, 3100, 620, 3240)
    assert closing["credit_notes_amount_cents"] == 480
    [note] = credit_notes(api)
    assert note_summary(note) == (first["lago_id"], "other", 400, 80, 480, 480, 0, "consumed")
    assert note["refund_amount_cents"] == 0 and note["offset_amount_cents"] == 0
    assert [(item["fee"]["lago_id"], item["amount_cents"]) for item in note["items"]] == [
        (first["fees"][0]["lago_id"], 400)]
    assert credits(closing) == [("invoice", first["number"], 200, True), ("credit_note", note["number"], 480, False)]
    # Each euro of usage billed once, VAT included: 7.20 + 32.40 = (31.00 + 2.00) x 1.2.
    assert first["total_amount_cents"] + closing["total_amount_cents"] == 3960
    assert kinds(database, org).count("credit_note.created") == 1


def test_a_credit_note_larger_than_the_invoice_is_consumed_by_the_next_ones(api: httpx.Client, at: Clock,
                                                                           database: Database, org: Org) -> None:
    units = metric(api, "units", "sum_agg", "n")
    plan(api, "small", 200, charges=[{"billable_metric_id": units, "charge_model": "standard",
                                      "properties": UNIT_PRICE}], usage_thresholds=[{"amount_cents": 200}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "small", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)) == 1  # 6.00 EUR
    assert use(api, at, database, org, utc(2024, 3, 10, 10), -25_000) == []  # 1.00 EUR
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [march] = subscription_invoices(api)
    # 2.00 + 1.00 in fees, 1.00 deducted, 5.00 credited back: 2.00 of it consumed now.
    assert summary(march) == (300, 100, 200, 0, 0)
    assert march["credit_notes_amount_cents"] == 200 and march["payment_status"] == "succeeded"
    [note] = credit_notes(api)
    assert (note["total_amount_cents"], note["balance_amount_cents"], note["credit_status"]) == (500, 300, "available")
    at(utc(2024, 5, 1, 1))
    bill(database, org, utc(2024, 5, 1, 1))
    april = subscription_invoices(api)[-1]
    assert (april["fees_amount_cents"], april["progressive_billing_credit_amount_cents"],
            april["credit_notes_amount_cents"], april["total_amount_cents"]) == (200, 0, 200, 0)
    assert ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]["balance_amount_cents"] == 100
    assert len(credit_notes(api)) == 1


def test_a_termination_invoice_below_the_progressive_invoice(api: httpx.Client, at: Clock, database: Database,
                                                             org: Org) -> None:
    catalog(api, [{"amount_cents": 200}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)) == 1  # 6.00 EUR
    [first] = progressive_invoices(api)
    at(utc(2024, 3, 10, 10))
    send(api, "sub", "units", utc(2024, 3, 10, 10), n=-27_500)  # 0.50 EUR
    at(utc(2024, 3, 15, 12))
    ok(api.delete("subscriptions/sub"))
    bill(database, org, utc(2024, 3, 15, 13))
    [final] = subscription_invoices(api)
    assert final["billing_periods"][0]["invoicing_reason"] == "subscription_terminating"
    # The subscription fee of March 1-15 (31.00 x 15 / 31 = 15.00), 0.50 of usage, all of it
    # deducted; the other 5.50 credited back and consumed at once.
    assert fee_amounts(final) == [("subscription", "progressive", 1500), ("charge", "units", 50)]
    assert summary(final) == (1550, 50, 1500, 0, 950)
    [note] = credit_notes(api)
    assert note_summary(note) == (first["lago_id"], "other", 550, 0, 550, 550, 0, "consumed")
    assert credits(final) == [("invoice", first["number"], 50, True), ("credit_note", note["number"], 550, False)]


def test_a_voided_progressive_invoice_is_not_deducted(api: httpx.Client, at: Clock, database: Database,
                                                      org: Org) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert [len(use(api, at, database, org, utc(2024, 3, day, 10), units)) for day, units in
            ((5, 11_000), (10, 22_000))] == [1, 1]  # 2.20 then 6.60 EUR
    first, second = progressive_invoices(api)
    assert summary(second) == (660, 220, 440, 0, 440)
    voided = ok(api.post(f"invoices/{second['lago_id']}/void"))["invoice"]
    assert voided["status"] == "voided"
    # Nothing passes again: the voided invoice's thresholds stay passed (as in Lago).
    assert use(api, at, database, org, utc(2024, 3, 12, 10), 0) == []
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = subscription_invoices(api)
    # The latest progressive invoice not voided is the first one: 2.20 deducted (what the voided
    # one drew from it is given back), 4.40 billed again.
    assert summary(closing) == (3760, 220, 3540, 0, 3540)
    assert credits(closing) == [("invoice", first["number"], 220, True)]


def test_voiding_a_progressive_invoice_another_one_drew_from(api: httpx.Client, at: Clock, database: Database,
                                                             org: Org) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    for day, units in ((5, 11_000), (10, 22_000)):
        use(api, at, database, org, utc(2024, 3, day, 10), units)
    first, second = progressive_invoices(api)
    # As in Lago, voiding it is allowed; the second invoice keeps its 2.20 credit (the 2.20 are forgiven).
    ok(api.post(f"invoices/{first['lago_id']}/void"))
    assert credits(ok(api.get(f"invoices/{second['lago_id']}"))["invoice"]) == [("invoice", first["number"], 220, True)]
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = subscription_invoices(api)
    assert summary(closing) == (3760, 660, 3100, 0, 3100)
    assert credits(closing) == [("invoice", second["number"], 660, True)]


def test_a_progressive_invoice_with_a_credit_note_is_not_voidable(api: httpx.Client, at: Clock, database: Database,
                                                                  org: Org) -> None:
    catalog(api, [{"amount_cents": 200}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)
    use(api, at, database, org, utc(2024, 3, 10, 10), -20_000)
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [first] = progressive_invoices(api)
    refused = api.post(f"invoices/{first['lago_id']}/void")
    assert refused.status_code == 405 and refused.json()["code"] == "not_voidable"
    assert ok(api.get(f"invoices/{first['lago_id']}"))["invoice"]["status"] == "finalized"


def test_what_a_progressive_invoice_gives_less_its_coupons_and_credit_notes(api: httpx.Client, at: Clock,
                                                                          database: Database, org: Org) -> None:
    catalog(api, [{"amount_cents": 200}, {"amount_cents": 500}])
    customer(api, "cus")
    coupon(api, "welcome", coupon_type="fixed_amount", amount_cents=100, amount_currency="EUR")
    apply(api, at, "cus", "welcome", utc(2024, 2, 20))
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 5, 10), 11_000)) == 1  # 2.20 EUR
    [first] = progressive_invoices(api)
    assert (first["coupons_amount_cents"], first["total_amount_cents"]) == (100, 120)
    at(utc(2024, 3, 6, 10))
    # 0.55 of the fee back, less its coupon share (0.55 x 100 / 220 = 0.25): 0.30 credited.
    body = {"invoice_id": first["lago_id"], "reason": "other", "credit_amount_cents": 30,
            "items": [{"fee_id": first["fees"][0]["lago_id"], "amount_cents": 55}]}
    note = ok(api.post("credit_notes", json={"credit_note": body}))["credit_note"]
    assert len(use(api, at, database, org, utc(2024, 3, 10, 10), 22_000)) == 1  # 6.60 EUR
    second = progressive_invoices(api)[-1]
    # to_credit = 2.20 in fees - 1.00 of coupon - 0.30 of credit note = 0.90 deducted; the credit
    # note's 0.30 consumed after that, like any credit note.
    assert summary(second) == (660, 90, 570, 0, 540)
    assert credits(second) == [("invoice", first["number"], 90, True), ("credit_note", note["number"], 30, False)]
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = subscription_invoices(api)
    assert summary(closing) == (3760, 660, 3100, 0, 3100)
    assert credits(closing) == [("invoice", second["number"], 660, True)]
    assert len(credit_notes(api)) == 1


def test_a_draft_deducts_what_it_can_and_credits_the_rest_when_finalized(api: httpx.Client, at: Clock,
                                                                         database: Database, org: Org) -> None:
    catalog(api, [{"amount_cents": 200}])
    customer(api, "cus", billing_configuration={"invoice_grace_period": 3})
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)  # 6.00 EUR
    use(api, at, database, org, utc(2024, 3, 10, 10), -20_000)  # 2.00 EUR
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [draft] = subscription_invoices(api)
    # A draft: 2.00 deducted, nothing credited back yet.
    assert draft["status"] == "draft"
    assert summary(draft) == (3300, 200, 3100, 0, 3100)
    assert credit_notes(api) == []
    ok(api.put(f"invoices/{draft['lago_id']}/refresh"))
    assert credit_notes(api) == []
    finalized = ok(api.put(f"invoices/{draft['lago_id']}/finalize"))["invoice"]
    assert summary(finalized) == (3300, 200, 3100, 0, 2700)
    [note] = credit_notes(api)
    assert (note["total_amount_cents"], note["balance_amount_cents"], note["credit_status"]) == (400, 0, "consumed")
