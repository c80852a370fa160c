"""Billing stories: a catalog, customers and subscriptions made over HTTP under a frozen clock,
events ingested, the billing run at chosen instants, the invoices read back over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billow.core import clock
from billow.core.db import Database
from billow.invoices import billing
from billow.models import Webhook
from tests.conftest import Org

Clock = Callable[[datetime], None]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def at() -> Iterator[Clock]:
    """Freezes the clock; ``at(instant)`` moves it (the live server reads the same clock)."""
    with clock.frozen(utc(2024, 1, 1)):
        yield clock.set_now


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def metric(api: httpx.Client, code: str, aggregation_type: str, field_name: str | None = None) -> str:
    body = {"name": code, "code": code, "aggregation_type": aggregation_type,
            **({"field_name": field_name} if field_name else {})}
    return ok(api.post("billable_metrics", json={"billable_metric": body}))["billable_metric"]["lago_id"]


def plan(api: httpx.Client, code: str, amount_cents: int, *, charges: list[dict[str, Any]] = (),  # type: ignore[assignment]
         **fields: Any) -> dict[str, Any]:
    body = {"name": code, "code": code, "interval": "monthly", "amount_cents": amount_cents, "amount_currency": "EUR",
            "pay_in_advance": False, "charges": list(charges), **fields}
    return ok(api.post("plans", json={"plan": body}))["plan"]  # type: ignore[no-any-return]


def customer(api: httpx.Client, external_id: str, **fields: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "currency": "EUR", **fields}
    return ok(api.post("customers", json={"customer": body}))["customer"]  # type: ignore[no-any-return]


def subscribe(api: httpx.Client, set_clock: Clock, external_id: str, customer_id: str, plan_code: str,
              start: datetime, **fields: Any) -> dict[str, Any]:
    """A subscription started at ``start`` (the clock is moved there to create it)."""
    set_clock(start)
    body = {"external_customer_id": customer_id, "plan_code": plan_code, "external_id": external_id,
            "subscription_at": start.isoformat().replace("+00:00", "Z"), **fields}
    created = ok(api.post("subscriptions", json={"subscription": body}))["subscription"]
    assert created["status"] == "active"
    return created  # type: ignore[no-any-return]


def send(api: httpx.Client, subscription: str, code: str, when: datetime, **properties: Any) -> None:
    event = {"transaction_id": f"{subscription}-{code}-{when.timestamp()}-{json.dumps(properties, sort_keys=True)}",
             "external_subscription_id": subscription, "code": code, "timestamp": int(when.timestamp()),
             "properties": properties}
    ok(api.post("events", json={"event": event}))


def bill(database: Database, org: Org, instant: datetime, *, chunked: bool = True) -> billing.RunReport:
    return billing.bill_due(database, instant, org.id, chunked=chunked)


def invoices(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """The organization's invoices, oldest issuing date first, each read in full."""
    listed = ok(api.get("invoices", params=params))["invoices"]
    found = [ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"] for invoice in listed]
    return sorted(found, key=lambda invoice: (invoice["issuing_date"], invoice["billing_periods"][0]["external_subscription_id"]))


def fee_amounts(invoice: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(fee type, item code, amount) of every fee, in the invoice's order."""
    return [(fee["item"]["type"], fee["item"]["code"], fee["amount_cents"]) for fee in invoice["fees"]]


def period(invoice: dict[str, Any]) -> tuple[str, str, str, str]:
    billed = invoice["billing_periods"][0]
    return (billed["subscription_from_datetime"], billed["subscription_to_datetime"],
            billed["charges_from_datetime"], billed["charges_to_datetime"])


def listen(api: httpx.Client) -> None:
    """A webhook endpoint, so the organization's webhooks are recorded."""
    ok(api.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": "http://127.0.0.1:9/hooks"}}))


def webhooks(database: Database, org: Org) -> list[tuple[str, dict[str, Any]]]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(Webhook.webhook_type, Webhook.body).where(Webhook.organization_id == org.id)
                               .order_by(Webhook.job_id)).all()
    return [(kind, json.loads(body)) for kind, body in rows if kind.startswith("invoice.")]
