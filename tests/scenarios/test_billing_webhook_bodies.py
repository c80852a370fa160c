"""The billing run's ``invoice.created`` bodies (serialized for a chunk of invoices at once, by
:func:`billow.invoices.schemas.invoices_json`) are the invoices as the API shows them one by one."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from billow.core.db import Database
from billow.models import Webhook
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill
from tests.scenarios.test_billing_chunks import END, _population

# Written after the webhook by the invoice's PDF job (when a worker runs): not the run's.
LATER = {"file_url", "updated_at"}


def _bodies(database: Database, org: Org) -> list[dict]:
    with database.unit_of_work(write=False) as session:
        rows = session.scalars(select(Webhook.body).where(Webhook.organization_id == org.id,
                                                          Webhook.webhook_type == "invoice.created")).all()
    return [json.loads(body)["invoice"] for body in rows]


def test_invoice_created_bodies_of_a_chunked_run_are_the_api_invoices(api: httpx.Client, at: Clock,
                                                                       database: Database, org: Org) -> None:
    _population(api, at)
    before = {body["lago_id"] for body in _bodies(database, org)}  # invoices paid in advance at start
    at(END)
    report = bill(database, org, END)
    assert report.failed == []
    bodies = [body for body in _bodies(database, org) if body["lago_id"] not in before]
    # One a finalized invoice (the grace period's draft is announced as drafted).
    assert len(bodies) == len([b for b in report.billed if b.status == "finalized"]) > 20
    assert any(body["credits"] for body in bodies)  # the coupon's customer
    assert any(len(body["applied_taxes"]) == 1 for body in bodies)
    for body in bodies:
        response = api.get(f"invoices/{body['lago_id']}")
        assert response.status_code == 200, response.text
        shown = response.json()["invoice"]
        assert {k: v for k, v in body.items() if k not in LATER} == {k: v for k, v in shown.items() if k not in LATER}
        assert [fee["amount_cents"] for fee in body["fees"]] == [fee["amount_cents"] for fee in shown["fees"]]
        assert len(body["fees"]) >= 1 and len(body["subscriptions"]) >= 1
