"""Helpers shared by the customers, add-ons and coupons tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from billow.core.db import Database
from billow.models import BillableMetric, Charge, Plan


def client_for(server: Any, api_key: str) -> httpx.Client:
    """An /api/v1 client authenticated as another organization."""
    return httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {api_key}"}, timeout=30)


def create_customer(api: httpx.Client, external_id: str, **fields: Any) -> dict[str, Any]:
    response = api.post("customers", json={"customer": {"external_id": external_id, **fields}})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def create_tax(api: httpx.Client, code: str, rate: str = "20") -> dict[str, Any]:
    response = api.post("taxes", json={"tax": {"name": code.upper(), "code": code, "rate": rate}})
    assert response.status_code == 200, response.text
    return response.json()["tax"]


def insert_plan(database: Database, organization_id: uuid.UUID, code: str, **fields: Any) -> uuid.UUID:
    """A plan row written straight to the database (the plans API is another domain)."""
    values = {"name": code, "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR", **fields}
    with database.unit_of_work() as session:
        plan = Plan(organization_id=organization_id, code=code, **values)
        session.add(plan)
        session.flush()
        return plan.id


def insert_metric(database: Database, organization_id: uuid.UUID, code: str) -> uuid.UUID:
    with database.unit_of_work() as session:
        metric = BillableMetric(organization_id=organization_id, name=code, code=code, aggregation_type="count_agg")
        session.add(metric)
        session.flush()
        return metric.id


def insert_charge(database: Database, organization_id: uuid.UUID, plan_id: uuid.UUID, metric_id: uuid.UUID) -> None:
    with database.unit_of_work() as session:
        session.add(
            Charge(
                organization_id=organization_id,
                plan_id=plan_id,
                billable_metric_id=metric_id,
                code=f"charge_{uuid.uuid4().hex[:8]}",
                charge_model="standard",
                properties={"amount": "1"},
            )
        )
