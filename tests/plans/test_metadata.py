"""Plan metadata: `/plans/{code}/metadata` (replace, merge, clear, remove one key)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.plans.conftest import create_plan, error_details


def test_metadata_endpoints_through_the_client(lago: Any, api: httpx.Client) -> None:
    create_plan(api, metadata={"a": "1"})
    assert lago.plans.replace_metadata("starter", {"b": "2", "c": None}) == {"b": "2", "c": None}
    assert lago.plans.merge_metadata("starter", {"c": "3", "d": "4"}) == {"b": "2", "c": "3", "d": "4"}
    assert lago.plans.delete_metadata_key("starter", "c") == {"b": "2", "d": "4"}
    assert lago.plans.delete_metadata_key("starter", "unknown") == {"b": "2", "d": "4"}
    assert api.get("plans/starter").json()["plan"]["metadata"] == {"b": "2", "d": "4"}
    assert lago.plans.delete_all_metadata("starter") == {}
    assert api.get("plans/starter").json()["plan"]["metadata"] == {}
    # PUT with metadata replaces the map.
    api.put("plans/starter", json={"plan": {"metadata": {"x": "y"}}})
    assert api.post("plans/starter/metadata", json={"metadata": {}}).json() == {"metadata": {}}


def test_metadata_endpoints_refuse_bad_bodies(api: httpx.Client, unchanged: Any) -> None:
    create_plan(api, metadata={"a": "1"})
    with unchanged():
        for body in ({}, {"metadata": ["a"]}, {"meta": {}}, None):
            response = api.post("plans/starter/metadata", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"] == "BadRequest: param is missing or the value is empty or invalid: metadata"
        for bad in ({"a": 1}, {"": "x"}, {"a": {"b": "c"}}):
            response = api.patch("plans/starter/metadata", json={"metadata": bad})
            assert error_details(response) == {"metadata": ["value_is_invalid"]}
        assert api.post("plans/nope/metadata", json={"metadata": {}}).json()["code"] == "plan_not_found"
