"""Drafts follow late events during their grace period: the ``draft_refresh`` service prices again
the drafts of subscriptions that received events since its last run, without a manual refresh."""

from __future__ import annotations

import httpx

from billow.config import Settings
from billow.core.db import Database
from billow.invoices import tasks
from billow.jobs import worker
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


def test_a_late_event_reaches_the_draft_without_a_refresh(api: httpx.Client, at: Clock, database: Database,
                                                          org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "payg", 1000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                      "properties": {"amount": "1"}}])
    customer(api, "cus", billing_configuration={"invoice_grace_period": 3})
    customer(api, "other")
    subscribe(api, at, "sub", "cus", "payg", utc(2024, 3, 1))
    subscribe(api, at, "other-sub", "other", "payg", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 3))
    send(api, "sub", "calls", utc(2024, 3, 30))
    at(utc(2024, 4, 1, 0, 5))
    bill(database, org, utc(2024, 4, 1, 0, 5))
    draft = next(i for i in invoices(api) if i["status"] == "draft")
    assert [i["status"] for i in invoices(api, external_customer_id="other")] == ["finalized"]
    # 1000 base + 2 events x 1.00
    assert draft["total_amount_cents"] == 1200
    # The first run reads the organization's events from the start: the draft is priced again
    # from the same two events (still 1200), and the watermark moves past them.
    assert tasks.refresh_batch(database, org.id, 1000, utc(2024, 4, 1, 0, 6)) == tasks.Batch(2, 1)
    assert ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]["total_amount_cents"] == 1200

    at(utc(2024, 4, 2, 9))
    send(api, "sub", "calls", utc(2024, 3, 31, 22))  # late, inside March
    send(api, "other-sub", "calls", utc(2024, 3, 31, 22))  # a subscription whose invoice is final
    # Stored 10 s ago: not settled yet (ids may still commit out of order), left for the next run.
    assert tasks.refresh_batch(database, org.id, 1000, utc(2024, 4, 2, 9, 0, 10)) == tasks.Batch(0, 0)
    assert ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]["total_amount_cents"] == 1200

    # A minute later both events are read; only the draft of "sub" is priced again.
    assert tasks.refresh_batch(database, org.id, 1000, utc(2024, 4, 2, 9, 1)) == tasks.Batch(2, 1)
    refreshed = ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]
    # 1000 + 3 events x 1.00
    assert fee_amounts(refreshed) == [("subscription", "payg", 1000), ("charge", "calls", 300)]
    assert (refreshed["status"], refreshed["total_amount_cents"]) == ("draft", 1300)
    assert tasks.refresh_batch(database, org.id, 1000, utc(2024, 4, 2, 9, 2)) == tasks.Batch(0, 0)  # read once

    # Batches: two more late events read one at a time; the draft follows both.
    at(utc(2024, 4, 3, 8))
    send(api, "sub", "calls", utc(2024, 3, 31, 23))
    send(api, "sub", "calls", utc(2024, 3, 31, 23, 30))
    assert tasks.refresh_batch(database, org.id, 1, utc(2024, 4, 3, 8, 1)) == tasks.Batch(1, 1)
    assert tasks.refresh_batch(database, org.id, 1, utc(2024, 4, 3, 8, 1)) == tasks.Batch(1, 1)
    assert ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]["total_amount_cents"] == 1500  # 1000 + 5 x 1.00

    # Once the grace period is over the invoice is final: a later event changes nothing.
    report = bill(database, org, utc(2024, 4, 4))
    assert [str(invoice_id) for invoice_id in report.finalized] == [draft["lago_id"]]
    at(utc(2024, 4, 5))
    send(api, "sub", "calls", utc(2024, 3, 31, 23, 45))
    # No draft left in the organization: the event is not even read, the watermark passes it.
    assert tasks.refresh_batch(database, org.id, 1000, utc(2024, 4, 5, 0, 1)) == tasks.Batch(0, 0)
    final = ok(api.get(f"invoices/{draft['lago_id']}"))["invoice"]
    assert (final["status"], final["total_amount_cents"]) == ("finalized", 1500)


def test_the_service_is_registered_with_the_worker() -> None:
    worker.load_tasks()
    service = worker.PERIODIC["draft_refresh"]
    settings = Settings()
    assert (service.interval(settings), service.enabled(settings)) == (300, True)
    assert worker.TASKS["periodic.draft_refresh"].run is tasks.draft_refresh
