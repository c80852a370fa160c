"""A billable metric priced by plan charges: counters, frozen definition, filter and delete effects."""

from __future__ import annotations

from typing import Any

import httpx

METRIC = {
    "name": "Requests",
    "code": "requests",
    "aggregation_type": "sum_agg",
    "field_name": "count",
    "filters": [{"key": "region", "values": ["eu", "us"]}, {"key": "method", "values": ["GET", "POST"]}],
}


def create_metric(api: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = api.post("billable_metrics", json={"billable_metric": {**METRIC, **changes}})
    assert response.status_code == 200, response.text
    return response.json()["billable_metric"]


def charge(metric: dict[str, Any], code: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"billable_metric_id": metric["lago_id"], "charge_model": "standard", "properties": {"amount": "1"}, **extra}
    return body if code is None else {**body, "code": code}


def create_plan(api: httpx.Client, code: str, charges: list[dict[str, Any]]) -> dict[str, Any]:
    plan = {"name": code, "code": code, "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR", "charges": charges}
    response = api.post("plans", json={"plan": plan})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def plans_count(api: httpx.Client, code: str) -> int:
    return api.get(f"billable_metrics/{code}").json()["billable_metric"]["plans_count"]


def test_plans_count_counts_live_plans_pricing_the_metric(api: httpx.Client) -> None:
    metric = create_metric(api)
    unused = create_metric(api, code="unused", filters=[])
    assert plans_count(api, "requests") == 0

    create_plan(api, "basic", [charge(metric, "eu_requests"), charge(metric, "us_requests")])  # one plan, two charges
    create_plan(api, "pro", [charge(metric)])
    assert plans_count(api, "requests") == 2
    assert plans_count(api, "unused") == 0
    listed = {m["code"]: m["plans_count"] for m in api.get("billable_metrics").json()["billable_metrics"]}
    assert listed == {"requests": 2, "unused": 0}
    assert api.put("billable_metrics/requests", json={"billable_metric": {"name": "R"}}).json()["billable_metric"]["plans_count"] == 2

    # A plan that stops pricing the metric no longer counts.
    assert api.put("plans/pro", json={"plan": {"charges": [charge(unused)]}}).status_code == 200
    assert plans_count(api, "requests") == 1
    assert plans_count(api, "unused") == 1


def test_a_priced_metric_keeps_what_it_measures(api: httpx.Client) -> None:
    metric = create_metric(api, expression="event.properties.n * 2", rounding_function="round", rounding_precision=0)
    create_plan(api, "basic", [charge(metric)])
    response = api.put(
        "billable_metrics/requests",
        json={"billable_metric": {
            "name": "API requests", "description": "Every call",
            "code": "calls", "aggregation_type": "count_agg", "field_name": "other", "recurring": True,
            "expression": "", "rounding_function": "ceil", "rounding_precision": 3,
        }},
    )
    # Name and description change; the definition the charges price is left as it was.
    assert response.status_code == 200, response.text
    updated = response.json()["billable_metric"]
    assert updated == {**metric, "name": "API requests", "description": "Every call", "plans_count": 1}
    assert api.get("billable_metrics/requests").json()["billable_metric"] == updated
    assert api.get("billable_metrics/calls").status_code == 404


def test_filter_changes_prune_charge_filters(api: httpx.Client) -> None:
    metric = create_metric(api)
    filters = [
        {"values": {"region": ["eu"], "method": ["GET"]}, "properties": {"amount": "2"}},
        {"values": {"region": ["us"]}, "properties": {"amount": "3"}},
        {"values": {"method": ["POST"]}, "properties": {"amount": "4"}},
    ]
    create_plan(api, "basic", [charge(metric, filters=filters)])

    response = api.put(
        "billable_metrics/requests",
        json={"billable_metric": {"filters": [{"key": "region", "values": ["eu"]}, {"key": "method", "values": ["POST"]}]}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["billable_metric"]["filters"] == [
        {"key": "method", "values": ["POST"]},
        {"key": "region", "values": ["eu"]},
    ]
    charge_filters = api.get("plans/basic").json()["plan"]["charges"][0]["filters"]
    # GET left the metric; "us" left the metric: that filter had nothing left and is gone.
    assert [(f["values"], f["properties"]) for f in charge_filters] == [
        ({"region": ["eu"]}, {"amount": "2"}),
        ({"method": ["POST"]}, {"amount": "4"}),
    ]


def test_deleting_a_metric_removes_its_charges(api: httpx.Client) -> None:
    metric = create_metric(api)
    other = create_metric(api, code="storage", filters=[])
    create_plan(api, "basic", [charge(metric), charge(other)])

    deleted = api.delete("billable_metrics/requests")
    assert deleted.status_code == 200
    assert deleted.json()["billable_metric"]["plans_count"] == 0
    charges = api.get("plans/basic").json()["plan"]["charges"]
    assert [c["billable_metric_code"] for c in charges] == ["storage"]
    assert plans_count(api, "storage") == 1
