"""The hooks the billable-metrics service calls when a metric's filters change or it is deleted."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from billow.core import clock
from billow.models import BillableMetric, BillableMetricFilter
from billow.plans import hooks
from tests.plans.conftest import create_plan


def change_metric(database: Any, lago_id: str, *, filters: dict[str, list[str]] | None = None, delete: bool = False) -> None:
    """What the billable-metrics service does, then its call into the plans domain."""
    with database.unit_of_work() as session:
        metric = session.get(BillableMetric, uuid.UUID(lago_id))
        if delete:
            metric.deleted_at = clock.now()
            session.flush()
            hooks.metric_deleted(session, metric)
        else:
            metric.filters = [BillableMetricFilter(key=key, values=values) for key, values in (filters or {}).items()]
            session.flush()
            hooks.metric_filters_changed(session, metric)


def test_filters_changed_prunes_charge_filters(api: httpx.Client, database: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg", filters={"region": ["eu", "us", "asia"], "tier": ["free", "pro"]})
    other = metric("other", "count_agg", filters={"region": ["us"]})
    price = {"amount": "1"}
    create_plan(
        api,
        charges=[
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "code": "c",
                "filters": [
                    {"values": {"region": ["eu", "us"]}, "properties": price},  # loses "us"
                    {"values": {"region": ["asia"], "tier": ["pro"]}, "properties": price},  # loses its tier key
                    {"values": {"region": ["us"]}, "properties": price},  # left empty: deleted
                    {"values": {"region": ["eu"], "tier": ["free"]}, "properties": price},  # same as the first: deleted
                    {"values": {"region": ["__ALL_FILTER_VALUES__"], "tier": ["pro"]}, "properties": price},
                ],
            },
            {
                "billable_metric_id": other["lago_id"],
                "charge_model": "standard",
                "code": "o",
                "filters": [{"values": {"region": ["us"]}, "properties": price}],
            },
        ],
    )
    create_plan(api, "untouched")
    before = api.get("plans/starter/charges/c").json()["charge"]["filters"]

    change_metric(database, calls["lago_id"], filters={"region": ["eu", "asia"]})

    after = api.get("plans/starter/charges/c").json()["charge"]["filters"]
    assert [f["values"] for f in after] == [
        {"region": ["eu"]},
        {"region": ["asia"]},
        {"region": ["__ALL_FILTER_VALUES__"]},
    ]
    assert [f["lago_id"] for f in after] == [before[0]["lago_id"], before[1]["lago_id"], before[4]["lago_id"]]
    assert api.get("plans/starter/charges/o").json()["charge"]["filters"][0]["values"] == {"region": ["us"]}
    plan = api.get("plans/starter").json()["plan"]
    assert plan["version"] == 2
    assert api.get("plans/untouched").json()["plan"]["version"] == 1

    # Nothing left to prune: no new version.
    change_metric(database, calls["lago_id"], filters={"region": ["eu", "asia", "us"]})
    assert api.get("plans/starter").json()["plan"]["version"] == 2

    # Every filter key gone: every filter goes.
    change_metric(database, calls["lago_id"], filters={})
    assert api.get("plans/starter/charges/c").json()["charge"]["filters"] == []
    assert api.get("plans/starter").json()["plan"]["version"] == 3


def test_metric_deleted_removes_its_charges(api: httpx.Client, database: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    tokens = metric("tokens")
    charges = [
        {"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "a"},
        {"billable_metric_id": tokens["lago_id"], "charge_model": "standard", "code": "b"},
        {"billable_metric_id": calls["lago_id"], "charge_model": "package", "code": "c"},
    ]
    create_plan(api, charges=charges)
    create_plan(api, "second", charges=charges[:1])
    create_plan(api, "unrelated", charges=charges[1:2])
    create_plan(api, "gone", charges=charges[:1])
    api.delete("plans/gone")

    change_metric(database, calls["lago_id"], delete=True)

    assert [c["code"] for c in api.get("plans/starter").json()["plan"]["charges"]] == ["b"]
    assert api.get("plans/second").json()["plan"]["charges"] == []
    assert api.get("plans/starter/charges/a").status_code == 404
    assert [(p, api.get(f"plans/{p}").json()["plan"]["version"]) for p in ("starter", "second", "unrelated")] == [
        ("starter", 2), ("second", 2), ("unrelated", 1)
    ]  # fmt: skip
    # The old version still prices the deleted charges.
    first = api.get("plans/starter/versions/1").json()["plan_version"]["plan"]
    assert [c["code"] for c in first["charges"]] == ["a", "b", "c"]
