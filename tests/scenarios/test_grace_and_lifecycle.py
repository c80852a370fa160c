"""Drafts during the grace period, refresh with late events, finalization, numbering, payment
status, voiding, and the invoices and fees API (with the official client)."""

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
    listen,
    metric,
    ok,
    plan,
    send,
    subscribe,
    utc,
    webhooks,
)


def _story(api: httpx.Client, at: Clock, **customer_fields: Any) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "payg", 1000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                      "properties": {"amount": "1"}}])
    customer(api, "cus", **customer_fields)
    subscribe(api, at, "sub", "cus", "payg", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 3))
    send(api, "sub", "calls", utc(2024, 3, 30))


def test_grace_period_draft_takes_a_late_event_and_is_finalized_when_it_ends(api: httpx.Client, at: Clock,
                                                                           database: Database, org: Org) -> None:
    listen(api)
    _story(api, at, billing_configuration={"invoice_grace_period": 3})
    at(utc(2024, 4, 1, 0, 5))
    bill(database, org, utc(2024, 4, 1, 0, 5))
    [draft] = invoices(api)
    # 1000 base + 2 events x 1.00
    assert (draft["status"], draft["number"], draft["total_amount_cents"]) == ("draft", f"TES-{org.id.hex[-4:].upper()}-DRAFT", 1200)
    assert draft["sequential_id"] is None
    assert [kind for kind, _ in webhooks(database, org)] == ["invoice.drafted"]

    at(utc(2024, 4, 2, 9))
    send(api, "sub", "calls", utc(2024, 3, 31, 22))  # late, but inside March
    refreshed = ok(api.put(f"invoices/{draft['lago_id']}/refresh"))["invoice"]
    assert fee_amounts(refreshed) == [("subscription", "payg", 1000), ("charge", "calls", 300)]
    assert refreshed["total_amount_cents"] == 1300
    assert refreshed["status"] == "draft"

    send(api, "sub", "calls", utc(2024, 3, 31, 23))  # another late event: the clock's next tick refreshes
    ticked = bill(database, org, utc(2024, 4, 3, 23, 59))
    assert (ticked.finalized, ticked.refreshed) == ([], 1)  # grace ends Apr 4 00:00
    assert ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]["total_amount_cents"] == 1400
    report = bill(database, org, utc(2024, 4, 4))
    assert [str(invoice_id) for invoice_id in report.finalized] == [draft["lago_id"]]
    assert report.billed == []
    [final] = invoices(api)
    assert (final["status"], final["payment_status"], final["total_amount_cents"]) == ("finalized", "pending", 1400)
    assert final["number"].endswith("-001-001")
    assert [kind for kind, _ in webhooks(database, org)] == ["invoice.drafted", "invoice.created"]
    assert webhooks(database, org)[-1][1]["invoice"]["number"] == final["number"]
    # Not a draft any more: neither finalize nor refresh apply.
    assert api.put(f"invoices/{final['lago_id']}/finalize").status_code == 404
    assert api.put(f"invoices/{final['lago_id']}/refresh").status_code == 404


def test_finalize_a_draft_by_hand(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, billing_configuration={"invoice_grace_period": 5})
    bill(database, org, utc(2024, 4, 1))
    [draft] = invoices(api)
    at(utc(2024, 4, 2))
    finalized = ok(api.put(f"invoices/{draft['lago_id']}/finalize"))["invoice"]
    assert (finalized["status"], finalized["total_amount_cents"]) == ("finalized", 1200)
    assert finalized["number"].endswith("-001-001")
    assert bill(database, org, utc(2024, 4, 10)).finalized == []


def test_payment_status_metadata_void_and_the_official_client(api: httpx.Client, lago: Any, at: Clock,
                                                               database: Database, org: Org) -> None:
    listen(api)
    _story(api, at)
    bill(database, org, utc(2024, 4, 1))
    bill(database, org, utc(2024, 5, 1))
    march, april = invoices(api)
    assert [march["number"][-7:], april["number"][-7:]] == ["001-001", "001-002"]

    found = lago.invoices.find(march["lago_id"])
    assert (found.number, found.total_amount_cents, found.status) == (march["number"], 1200, "finalized")
    assert [(fee.item.code, fee.amount_cents) for fee in found.fees.__root__] == [("payg", 1000), ("calls", 200)]
    listed = lago.invoices.find_all({"external_customer_id": "cus"})
    assert sorted(i.number for i in listed["invoices"]) == sorted([march["number"], april["number"]])
    assert listed["meta"]["total_count"] == 2

    updated = ok(api.put(f"invoices/{march['lago_id']}", json={"invoice": {
        "payment_status": "succeeded", "metadata": [{"key": "po", "value": "42"}]}}))["invoice"]
    assert updated["payment_status"] == "succeeded"
    assert [(m["key"], m["value"]) for m in updated["metadata"]] == [("po", "42")]
    filtered = ok(api.get("invoices", params={"payment_status": "succeeded"}))["invoices"]
    assert [i["lago_id"] for i in filtered] == [march["lago_id"]]
    assert ok(api.get("invoices", params={"issuing_date_from": "2024-04-15"}))["invoices"][0]["lago_id"] == april["lago_id"]

    voided = ok(api.post(f"invoices/{april['lago_id']}/void"))["invoice"]
    assert voided["status"] == "voided"
    again = api.post(f"invoices/{april['lago_id']}/void")
    assert again.status_code == 405 and again.json()["code"] == "not_voidable"
    refused = api.put(f"invoices/{april['lago_id']}", json={"invoice": {"payment_status": "failed"}})
    assert refused.status_code == 405 and refused.json()["code"] == "update_on_voided_invoice"
    assert [kind for kind, _ in webhooks(database, org)] == [
        "invoice.created", "invoice.created", "invoice.payment_status_updated", "invoice.voided"]

    # April had no event: its charge bucket (0 units, 0 amount, 0 events) is not billed.
    fees = ok(api.get("fees", params={"external_customer_id": "cus", "fee_type": "charge"}))
    assert fees["meta"]["total_count"] == 1
    assert [fee["amount_cents"] for fee in fees["fees"]] == [200]
    assert ok(api.get("fees", params={"external_subscription_id": "sub"}))["meta"]["total_count"] == 3
    one = ok(api.get(f"fees/{march['fees'][1]['lago_id']}"))["fee"]
    assert (one["amount_cents"], one["lago_invoice_id"], one["item"]["code"]) == (200, march["lago_id"], "calls")
    assert api.get("fees/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("invoices/not-a-uuid").status_code == 404
