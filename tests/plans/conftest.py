"""Helpers for plan tests: billable metrics are inserted as rows (their API is another domain)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from billow.core.db import Database
from billow.models import BillableMetric, BillableMetricFilter
from tests.conftest import Org

MetricFactory = Callable[..., dict[str, Any]]


def insert_metric(
    database: Database,
    org: Org,
    code: str,
    aggregation_type: str = "sum_agg",
    *,
    recurring: bool = False,
    filters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A live billable metric row; returns {"lago_id", "code"}."""
    with database.unit_of_work() as session:
        metric = BillableMetric(
            organization_id=org.id,
            name=code.title(),
            code=code,
            aggregation_type=aggregation_type,
            field_name=None if aggregation_type == "count_agg" else "value",
            recurring=recurring,
            filters=[BillableMetricFilter(key=key, values=values) for key, values in (filters or {}).items()],
        )
        session.add(metric)
        session.flush()
        return {"lago_id": str(metric.id), "code": code}


@pytest.fixture
def metric(database: Database, org: Org) -> MetricFactory:
    """`metric("calls", "count_agg", filters={"region": ["eu", "us"]})` inserts one for the test's org."""

    def make(code: str, aggregation_type: str = "sum_agg", **options: Any) -> dict[str, Any]:
        return insert_metric(database, org, code, aggregation_type, **options)

    return make


@pytest.fixture
def tax(api: httpx.Client) -> Callable[[str, str], dict[str, Any]]:
    def make(code: str, rate: str = "20") -> dict[str, Any]:
        response = api.post("taxes", json={"tax": {"name": code.upper(), "code": code, "rate": rate}})
        assert response.status_code == 200, response.text
        return response.json()["tax"]  # type: ignore[no-any-return]

    return make


def plan_body(code: str = "starter", **fields: Any) -> dict[str, Any]:
    return {
        "plan": {
            "name": code.title(),
            "code": code,
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            **fields,
        }
    }


def create_plan(api: httpx.Client, code: str = "starter", **fields: Any) -> dict[str, Any]:
    response = api.post("plans", json=plan_body(code, **fields))
    assert response.status_code == 200, response.text
    return response.json()["plan"]  # type: ignore[no-any-return]


def error_details(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_errors"
    return body["error_details"]  # type: ignore[no-any-return]
