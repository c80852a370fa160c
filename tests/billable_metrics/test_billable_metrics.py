"""Billable metrics through the official Python client and the raw wire."""

from __future__ import annotations

import uuid

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, BillableMetricFilter, BillableMetricFilters
from sqlalchemy import select

from billow.models import BillableMetric as MetricRow
from tests.conftest import make_org

WIRE_FIELDS = {
    "lago_id", "name", "code", "description", "aggregation_type", "field_name", "recurring", "weighted_interval",
    "rounding_function", "rounding_precision", "expression", "filters", "created_at",
    "active_subscriptions_count", "draft_invoices_count", "plans_count",
}


def filters(*pairs: tuple[str, list[str]]) -> BillableMetricFilters:
    return BillableMetricFilters(__root__=[BillableMetricFilter(key=key, values=values) for key, values in pairs])


def test_crud_through_the_client(lago) -> None:
    created = lago.billable_metrics.create(
        BillableMetric(
            name="Storage",
            code="storage",
            description="GB stored",
            aggregation_type="sum_agg",
            field_name="gb",
            recurring=True,
            rounding_function="round",
            rounding_precision=2,
            expression="round(event.properties.bytes / 1000000000, 3)",
            filters=filters(("region", ["us", "eu"]), ("cloud", ["aws"])),
        )
    )
    assert (created.name, created.code, created.description) == ("Storage", "storage", "GB stored")
    assert (created.aggregation_type, created.field_name, created.recurring) == ("sum_agg", "gb", True)
    assert (created.rounding_function, created.rounding_precision) == ("round", 2)
    assert created.expression == "round(event.properties.bytes / 1000000000, 3)"
    assert created.weighted_interval is None
    assert [(f.key, f.values) for f in created.filters.__root__] == [("cloud", ["aws"]), ("region", ["us", "eu"])]
    assert created.created_at.endswith("Z")
    uuid.UUID(created.lago_id)

    found = lago.billable_metrics.find("storage")
    assert found.dict() == created.dict()

    updated = lago.billable_metrics.update(BillableMetric(name="Cloud storage", rounding_precision=-1), "storage")
    assert (updated.name, updated.rounding_precision) == ("Cloud storage", -1)
    assert (updated.field_name, updated.description, updated.expression) == ("gb", "GB stored", created.expression)
    assert len(updated.filters.__root__) == 2

    listed = lago.billable_metrics.find_all()
    assert [m.code for m in listed["billable_metrics"]] == ["storage"]
    assert listed["meta"]["total_count"] == 1

    deleted = lago.billable_metrics.destroy("storage")
    assert (deleted.lago_id, deleted.code, deleted.name) == (created.lago_id, "storage", "Cloud storage")
    with pytest.raises(LagoApiError) as missing:
        lago.billable_metrics.find("storage")
    assert missing.value.status_code == 404
    assert lago.billable_metrics.find_all()["billable_metrics"] == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"aggregation_type": "count_agg"}, {"field_name": None, "recurring": False, "weighted_interval": None}),
        ({"aggregation_type": "sum_agg", "field_name": "amount"}, {"field_name": "amount", "weighted_interval": None}),
        ({"aggregation_type": "sum_agg", "field_name": "amount", "recurring": True}, {"recurring": True}),
        ({"aggregation_type": "max_agg", "field_name": "cpu"}, {"field_name": "cpu", "recurring": False}),
        ({"aggregation_type": "unique_count_agg", "field_name": "user_id"}, {"field_name": "user_id"}),
        ({"aggregation_type": "unique_count_agg", "field_name": "seat", "recurring": True}, {"recurring": True}),
        ({"aggregation_type": "latest_agg", "field_name": "balance"}, {"field_name": "balance"}),
        (
            {"aggregation_type": "weighted_sum_agg", "field_name": "gb", "weighted_interval": "seconds"},
            {"weighted_interval": "seconds"},
        ),
        # Lago assumes seconds when the interval is not given.
        ({"aggregation_type": "weighted_sum_agg", "field_name": "gb", "recurring": True},
         {"weighted_interval": "seconds", "recurring": True}),
        # Only weighted sums carry an interval; count ignores a field name.
        ({"aggregation_type": "sum_agg", "field_name": "x", "weighted_interval": "seconds"}, {"weighted_interval": None}),
        ({"aggregation_type": "count_agg", "field_name": "ignored"}, {"field_name": None}),
    ],
)
def test_each_aggregation_type_round_trips(lago, fields: dict, expected: dict) -> None:
    created = lago.billable_metrics.create(BillableMetric(name="Metric", code="metric", **fields))
    for key, value in {**fields, **expected}.items():
        assert getattr(created, key) == value, key
    assert lago.billable_metrics.find("metric").dict() == created.dict()


def test_wire_shape(api: httpx.Client) -> None:
    response = api.post("billable_metrics", json={"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}})
    assert response.status_code == 200
    metric = response.json()["billable_metric"]
    assert set(metric) == WIRE_FIELDS
    assert metric == {
        "lago_id": metric["lago_id"],
        "name": "Calls",
        "code": "calls",
        "description": None,
        "aggregation_type": "count_agg",
        "field_name": None,
        "recurring": False,
        "weighted_interval": None,
        "rounding_function": None,
        "rounding_precision": None,
        "expression": None,
        "filters": [],
        "created_at": metric["created_at"],
        "active_subscriptions_count": 0,
        "draft_invoices_count": 0,
        "plans_count": 0,
    }
    assert metric["created_at"].endswith("Z") and len(metric["created_at"]) == 20
    for path in ("billable_metrics/calls",):
        assert api.get(path).json() == {"billable_metric": metric}
    listed = api.get("billable_metrics").json()
    assert listed == {
        "billable_metrics": [metric],
        "meta": {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 1},
    }


def test_filters_sorted_by_key_and_replaced_on_update(api: httpx.Client) -> None:
    body = {
        "name": "Requests",
        "code": "requests",
        "aggregation_type": "count_agg",
        "filters": [
            {"key": "region", "values": ["us", "eu", "us"]},
            {"key": "method", "values": ["GET", "POST"]},
            {"key": "cloud", "values": ["aws"]},
        ],
    }
    created = api.post("billable_metrics", json={"billable_metric": body}).json()["billable_metric"]
    assert created["filters"] == [
        {"key": "cloud", "values": ["aws"]},
        {"key": "method", "values": ["GET", "POST"]},
        {"key": "region", "values": ["us", "eu"]},  # duplicates dropped, order kept
    ]

    # A PUT without filters leaves them alone.
    renamed = api.put("billable_metrics/requests", json={"billable_metric": {"name": "API requests"}}).json()
    assert renamed["billable_metric"]["filters"] == created["filters"]

    # A PUT with filters replaces the whole set.
    replaced = api.put(
        "billable_metrics/requests",
        json={"billable_metric": {"filters": [{"key": "zone", "values": ["a"]}, {"key": "region", "values": ["eu", "ap"]}]}},
    ).json()["billable_metric"]
    assert replaced["filters"] == [{"key": "region", "values": ["eu", "ap"]}, {"key": "zone", "values": ["a"]}]
    assert api.get("billable_metrics/requests").json()["billable_metric"]["filters"] == replaced["filters"]

    cleared = api.put("billable_metrics/requests", json={"billable_metric": {"filters": []}}).json()["billable_metric"]
    assert cleared["filters"] == []
    assert api.get("billable_metrics/requests").json()["billable_metric"]["filters"] == []


def test_partial_update(api: httpx.Client) -> None:
    api.post(
        "billable_metrics",
        json={"billable_metric": {
            "name": "GB", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb", "description": "Storage",
            "rounding_function": "ceil", "rounding_precision": 1, "expression": "event.properties.mb / 1000",
        }},
    )
    before = api.get("billable_metrics/gb").json()["billable_metric"]

    same = api.put("billable_metrics/gb", json={"billable_metric": {"description": None, "colour": "blue"}}).json()
    assert same["billable_metric"] == before  # explicit null = not given, unknown keys ignored

    changed = api.put(
        "billable_metrics/gb",
        json={"billable_metric": {"code": "gigabytes", "aggregation_type": "max_agg", "rounding_function": "floor"}},
    ).json()["billable_metric"]
    assert changed == {**before, "code": "gigabytes", "aggregation_type": "max_agg", "rounding_function": "floor"}
    assert api.get("billable_metrics/gb").status_code == 404
    assert api.get("billable_metrics/gigabytes").json()["billable_metric"] == changed

    # An empty expression removes it; switching to count drops the field name.
    counted = api.put(
        "billable_metrics/gigabytes", json={"billable_metric": {"expression": "", "aggregation_type": "count_agg"}}
    ).json()["billable_metric"]
    assert (counted["expression"], counted["field_name"], counted["aggregation_type"]) == (None, None, "count_agg")

    # Switching to a weighted sum needs a field name again and defaults the interval.
    weighted = api.put(
        "billable_metrics/gigabytes",
        json={"billable_metric": {"aggregation_type": "weighted_sum_agg", "field_name": "gb", "recurring": True}},
    ).json()["billable_metric"]
    assert (weighted["weighted_interval"], weighted["field_name"], weighted["recurring"]) == ("seconds", "gb", True)
    back = api.put("billable_metrics/gigabytes", json={"billable_metric": {"aggregation_type": "sum_agg"}}).json()
    assert back["billable_metric"]["weighted_interval"] is None


def test_keeping_its_own_code_is_not_a_conflict(api: httpx.Client) -> None:
    api.post("billable_metrics", json={"billable_metric": {"name": "A", "code": "a", "aggregation_type": "count_agg"}})
    response = api.put("billable_metrics/a", json={"billable_metric": {"code": "a", "name": "A2"}})
    assert response.status_code == 200
    assert response.json()["billable_metric"]["name"] == "A2"


def test_unknown_metric_is_404(api: httpx.Client, lago, unchanged) -> None:
    expected = {"status": 404, "error": "Not Found", "code": "billable_metric_not_found"}
    with unchanged():
        assert api.get("billable_metrics/nope").json() == expected
        put = api.put("billable_metrics/nope", json={"billable_metric": {"name": "x"}})
        assert (put.status_code, put.json()) == (404, expected)
        delete = api.delete("billable_metrics/nope")
        assert (delete.status_code, delete.json()) == (404, expected)
        for call in (lambda: lago.billable_metrics.find("nope"), lambda: lago.billable_metrics.destroy("nope")):
            with pytest.raises(LagoApiError) as error:
                call()
            assert error.value.status_code == 404


def test_soft_delete(api: httpx.Client, database, org) -> None:
    body = {"name": "Seats", "code": "seats", "aggregation_type": "unique_count_agg", "field_name": "user"}
    first = api.post("billable_metrics", json={"billable_metric": body}).json()["billable_metric"]
    deleted = api.delete("billable_metrics/seats")
    assert deleted.status_code == 200
    assert deleted.json()["billable_metric"] == first

    assert api.get("billable_metrics/seats").status_code == 404
    assert api.delete("billable_metrics/seats").status_code == 404
    assert api.put("billable_metrics/seats", json={"billable_metric": {"name": "x"}}).status_code == 404
    assert api.get("billable_metrics").json()["billable_metrics"] == []

    # The row stays (fees and events keep pointing at it), marked deleted.
    with database.unit_of_work(write=False) as session:
        row = session.scalar(select(MetricRow).where(MetricRow.id == uuid.UUID(first["lago_id"])))
        assert row is not None and row.deleted_at is not None and row.organization_id == org.id

    # The code is free again.
    again = api.post("billable_metrics", json={"billable_metric": body})
    assert again.status_code == 200
    assert again.json()["billable_metric"]["lago_id"] != first["lago_id"]
    assert api.get("billable_metrics/seats").json()["billable_metric"]["lago_id"] == again.json()["billable_metric"]["lago_id"]


def test_list_is_paged_newest_first(api: httpx.Client) -> None:
    for index in range(5):
        body = {"name": f"M{index}", "code": f"m{index}", "aggregation_type": "count_agg"}
        assert api.post("billable_metrics", json={"billable_metric": body}).status_code == 200
    page = api.get("billable_metrics", params={"page": 2, "per_page": 2}).json()
    assert [m["code"] for m in page["billable_metrics"]] == ["m2", "m1"]
    assert page["meta"] == {"current_page": 2, "next_page": 3, "prev_page": 1, "total_pages": 3, "total_count": 5}


def test_other_organizations_metrics_are_invisible(api: httpx.Client, server, database) -> None:
    body = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
    mine = api.post("billable_metrics", json={"billable_metric": body}).json()["billable_metric"]
    other = make_org(database, "Other")
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {other.api_key}"}) as client:
        for response in (
            client.get("billable_metrics/calls"),
            client.put("billable_metrics/calls", json={"billable_metric": {"name": "Mine now"}}),
            client.delete("billable_metrics/calls"),
        ):
            assert response.status_code == 404
            assert response.json()["code"] == "billable_metric_not_found"
        assert client.get("billable_metrics").json()["billable_metrics"] == []
        # The same code is free in the other organization.
        theirs = client.post("billable_metrics", json={"billable_metric": body}).json()["billable_metric"]
        assert theirs["lago_id"] != mine["lago_id"]
    assert api.get("billable_metrics/calls").json()["billable_metric"] == mine
