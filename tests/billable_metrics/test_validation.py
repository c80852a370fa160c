"""Every rule a billable metric is checked against: 4xx with Lago's codes, nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BASE = {"name": "Storage", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"}


def assert_422(response: httpx.Response, details: dict[str, list[str]]) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BASE.items() if k != key}


CREATE_CASES = [
    (without("name"), {"name": ["value_is_mandatory"]}),
    (without("code"), {"code": ["value_is_mandatory"]}),
    (without("aggregation_type"), {"aggregation_type": ["value_is_mandatory"]}),
    ({**BASE, "name": "  "}, {"name": ["value_is_mandatory"]}),
    ({**BASE, "code": ""}, {"code": ["value_is_mandatory"]}),
    ({**BASE, "code": "x" * 256}, {"code": ["value_is_invalid"]}),
    ({**BASE, "aggregation_type": "median_agg"}, {"aggregation_type": ["value_is_invalid"]}),
    ({**BASE, "aggregation_type": "custom_agg"}, {"aggregation_type": ["value_is_invalid"]}),
    ({**BASE, "aggregation_type": 1}, {"aggregation_type": ["value_is_invalid"]}),
    (without("field_name"), {"field_name": ["value_is_mandatory"]}),
    ({**BASE, "field_name": " "}, {"field_name": ["value_is_mandatory"]}),
    ({**BASE, "aggregation_type": "unique_count_agg", "field_name": None}, {"field_name": ["value_is_mandatory"]}),
    ({**without("field_name"), "aggregation_type": "weighted_sum_agg"}, {"field_name": ["value_is_mandatory"]}),
    ({**BASE, "aggregation_type": "count_agg", "recurring": True}, {"recurring": ["not_compatible_with_aggregation_type"]}),
    ({**BASE, "aggregation_type": "max_agg", "recurring": True}, {"recurring": ["not_compatible_with_aggregation_type"]}),
    ({**BASE, "aggregation_type": "latest_agg", "recurring": True}, {"recurring": ["not_compatible_with_aggregation_type"]}),
    (
        {**without("field_name"), "aggregation_type": "max_agg", "recurring": True},
        {"field_name": ["value_is_mandatory"], "recurring": ["not_compatible_with_aggregation_type"]},
    ),
    ({**BASE, "recurring": "sometimes"}, {"recurring": ["value_is_invalid"]}),
    ({**BASE, "aggregation_type": "weighted_sum_agg", "weighted_interval": "hours"}, {"weighted_interval": ["value_is_invalid"]}),
    ({**BASE, "rounding_function": "up"}, {"rounding_function": ["value_is_invalid"]}),
    ({**BASE, "rounding_precision": "two"}, {"rounding_precision": ["value_is_invalid"]}),
    ({**BASE, "rounding_precision": 1.5}, {"rounding_precision": ["value_is_invalid"]}),
    ({**BASE, "rounding_precision": True}, {"rounding_precision": ["value_is_invalid"]}),
    ({**BASE, "rounding_precision": 101}, {"rounding_precision": ["value_is_out_of_range"]}),
    ({**BASE, "rounding_precision": -101}, {"rounding_precision": ["value_is_out_of_range"]}),
    ({**BASE, "expression": "round(event.properties.gb"}, {"expression": ["invalid_expression"]}),
    ({**BASE, "expression": "sqrt(event.properties.gb)"}, {"expression": ["invalid_expression"]}),
    ({**BASE, "expression": "event.gb * 2"}, {"expression": ["invalid_expression"]}),
    ({**BASE, "expression": 12}, {"expression": ["value_is_invalid"]}),
    ({**BASE, "filters": "region"}, {"filters": ["value_is_invalid"]}),
    ({**BASE, "filters": ["region"]}, {"filters": ["value_is_invalid"]}),
    ({**BASE, "filters": [{"values": ["eu"]}]}, {"key": ["value_is_mandatory"]}),
    ({**BASE, "filters": [{"key": "", "values": ["eu"]}]}, {"key": ["value_is_mandatory"]}),
    ({**BASE, "filters": [{"key": "region"}]}, {"values": ["value_is_mandatory"]}),
    ({**BASE, "filters": [{"key": "region", "values": []}]}, {"values": ["value_is_mandatory"]}),
    ({**BASE, "filters": [{"key": "region", "values": "eu"}]}, {"values": ["value_is_invalid"]}),
    ({**BASE, "filters": [{"key": "region", "values": ["eu", 1]}]}, {"values": ["value_is_invalid"]}),
    (
        {**BASE, "filters": [{"key": "region", "values": ["eu"]}, {"key": "region", "values": ["us"]}]},
        {"filters": ["value_already_exist"]},
    ),
]


@pytest.mark.parametrize(("payload", "details"), CREATE_CASES)
def test_create_validation(api: httpx.Client, unchanged, payload: dict[str, Any], details: dict) -> None:
    with unchanged():
        assert_422(api.post("billable_metrics", json={"billable_metric": payload}), details)


def test_code_must_be_unique_among_live_metrics(api: httpx.Client, unchanged) -> None:
    assert api.post("billable_metrics", json={"billable_metric": BASE}).status_code == 200
    with unchanged():
        assert_422(api.post("billable_metrics", json={"billable_metric": {**BASE, "name": "Again"}}), {"code": ["value_already_exist"]})


@pytest.mark.parametrize("body", [{}, {"billable_metric": {}}, {"billable_metric": None}, {"metric": BASE}, [BASE]])
def test_missing_root_is_400(api: httpx.Client, unchanged, body: Any) -> None:
    with unchanged():
        for response in (api.post("billable_metrics", json=body), api.put("billable_metrics/storage", json=body)):
            assert response.status_code == 400
            assert response.json() == {
                "status": 400,
                "error": "BadRequest: param is missing or the value is empty or invalid: billable_metric",
            }


UPDATE_CASES = [
    ({"name": ""}, {"name": ["value_is_mandatory"]}),
    ({"aggregation_type": "avg_agg"}, {"aggregation_type": ["value_is_invalid"]}),
    ({"aggregation_type": "sum_agg", "field_name": ""}, {"field_name": ["value_is_mandatory"]}),
    ({"aggregation_type": "max_agg", "field_name": "cpu", "recurring": True},
     {"recurring": ["not_compatible_with_aggregation_type"]}),
    # A count metric has no field name: switching it to an aggregation over a property needs one.
    ({"aggregation_type": "latest_agg"}, {"field_name": ["value_is_mandatory"]}),
    ({"weighted_interval": "days"}, {"weighted_interval": ["value_is_invalid"]}),
    ({"rounding_function": "truncate"}, {"rounding_function": ["value_is_invalid"]}),
    ({"rounding_precision": 1000}, {"rounding_precision": ["value_is_out_of_range"]}),
    ({"expression": "1 +"}, {"expression": ["invalid_expression"]}),
    ({"filters": [{"key": "a", "values": ["1"]}, {"key": "a", "values": ["2"]}]}, {"filters": ["value_already_exist"]}),
    ({"filters": [{"key": "a", "values": []}]}, {"values": ["value_is_mandatory"]}),
    ({"code": "taken"}, {"code": ["value_already_exist"]}),
]


@pytest.mark.parametrize(("changes", "details"), UPDATE_CASES)
def test_update_validation(api: httpx.Client, unchanged, changes: dict[str, Any], details: dict) -> None:
    created = {**BASE, "aggregation_type": "count_agg", "filters": [{"key": "region", "values": ["eu"]}]}
    assert api.post("billable_metrics", json={"billable_metric": created}).status_code == 200
    taken = {"name": "Taken", "code": "taken", "aggregation_type": "count_agg"}
    assert api.post("billable_metrics", json={"billable_metric": taken}).status_code == 200
    with unchanged():
        assert_422(api.put("billable_metrics/storage", json={"billable_metric": changes}), details)


def test_recurring_metric_cannot_switch_to_a_non_recurring_aggregation(api: httpx.Client, unchanged) -> None:
    assert api.post("billable_metrics", json={"billable_metric": {**BASE, "recurring": True}}).status_code == 200
    with unchanged():
        for aggregation in ("count_agg", "max_agg", "latest_agg"):
            response = api.put("billable_metrics/storage", json={"billable_metric": {"aggregation_type": aggregation}})
            assert_422(response, {"recurring": ["not_compatible_with_aggregation_type"]})


def test_a_deleted_metric_code_is_not_taken(api: httpx.Client) -> None:
    api.post("billable_metrics", json={"billable_metric": {"name": "Old", "code": "old", "aggregation_type": "count_agg"}})
    api.post("billable_metrics", json={"billable_metric": {"name": "New", "code": "new", "aggregation_type": "count_agg"}})
    assert api.delete("billable_metrics/old").status_code == 200
    response = api.put("billable_metrics/new", json={"billable_metric": {"code": "old"}})
    assert response.status_code == 200
    assert response.json()["billable_metric"]["code"] == "old"
