"""Every refusal: the exact Lago code, and the database left as it was."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billow.core import clock
from billow.models import BillableMetric
from tests.plans.conftest import create_plan, error_details, plan_body


@pytest.fixture
def metrics(metric: Any) -> dict[str, dict[str, Any]]:
    return {
        "count": metric("calls", "count_agg", filters={"region": ["eu", "us"], "tier": ["free"]}),
        "sum": metric("tokens", "sum_agg"),
        "recurring_sum": metric("storage", "sum_agg", recurring=True),
        "unique": metric("seats", "unique_count_agg", recurring=True),
        "max": metric("peak", "max_agg"),
        "latest": metric("level", "latest_agg"),
        "weighted": metric("gauge", "weighted_sum_agg", recurring=True),
    }


def charge(metric: dict[str, Any], charge_model: str = "standard", **fields: Any) -> dict[str, Any]:
    return {"billable_metric_id": metric["lago_id"], "charge_model": charge_model, **fields}


PLAN_FIELD_ERRORS: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
    ({"name": None}, {"name": ["value_is_mandatory"]}),
    ({"name": ""}, {"name": ["value_is_invalid"]}),
    ({"code": None}, {"code": ["value_is_mandatory"]}),
    ({"interval": "daily"}, {"interval": ["value_is_invalid"]}),
    ({"interval": None}, {"interval": ["value_is_mandatory"]}),
    ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
    ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
    ({"amount_cents": "ten"}, {"amount_cents": ["value_is_invalid"]}),
    ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
    ({"amount_currency": None}, {"amount_currency": ["value_is_mandatory"]}),
    ({"trial_period": -1}, {"trial_period": ["value_is_out_of_range"]}),
    ({"metadata": {"a": 1}}, {"metadata": ["value_is_invalid"]}),
    ({"metadata": {"": "x"}}, {"metadata": ["value_is_invalid"]}),
    ({"metadata": ["a"]}, {"metadata": ["value_is_invalid"]}),
    ({"charges": ["calls"]}, {"charges": ["value_is_invalid"]}),
    ({"charges": {"a": 1}}, {"charges": ["value_is_invalid"]}),
    ({"tax_codes": "vat"}, {"tax_codes": ["value_is_invalid"]}),
    ({"usage_thresholds": [{"threshold_display_name": "x"}]}, {"usage_thresholds": ["missing_amount_cents"]}),
    ({"usage_thresholds": [{"amount_cents": 0}]}, {"amount_cents": ["value_is_out_of_range"]}),
    ({"usage_thresholds": [{"amount_cents": 5}, {"amount_cents": 5}]}, {"usage_thresholds": ["duplicated_values"]}),
    (
        {"usage_thresholds": [{"amount_cents": 5, "recurring": True}, {"amount_cents": 6, "recurring": True}]},
        {"usage_thresholds": ["multiple_recurring_thresholds"]},
    ),
    ({"minimum_commitment": {"invoice_display_name": "x"}}, {"amount_cents": ["value_is_mandatory"]}),
    ({"minimum_commitment": {"amount_cents": -5}}, {"amount_cents": ["value_is_out_of_range"]}),
]


@pytest.mark.parametrize(("fields", "details"), PLAN_FIELD_ERRORS)
def test_plan_field_rules(api: httpx.Client, unchanged: Any, fields: dict[str, Any], details: dict[str, Any]) -> None:
    body = plan_body()
    for key, value in fields.items():
        if value is None:
            body["plan"].pop(key, None)
        else:
            body["plan"][key] = value
    with unchanged():
        assert error_details(api.post("plans", json=body)) == details


def test_same_amount_is_allowed_once_recurring_and_once_not(api: httpx.Client) -> None:
    plan = create_plan(api, usage_thresholds=[{"amount_cents": 5}, {"amount_cents": 5, "recurring": True}])
    assert len(plan["usage_thresholds"]) == 2


def test_update_refusals_leave_the_plan_alone(api: httpx.Client, unchanged: Any, tax: Any) -> None:
    create_plan(api, "taken")
    create_plan(api, minimum_commitment={"amount_cents": 5})
    with unchanged():
        assert error_details(api.put("plans/starter", json={"plan": {"code": "taken"}})) == {
            "code": ["value_already_exist"]
        }
        assert error_details(api.put("plans/starter", json={"plan": {"interval": "hourly", "name": "ok"}})) == {
            "interval": ["value_is_invalid"]
        }
        assert error_details(
            api.put("plans/starter", json={"plan": {"name": "new", "usage_thresholds": [{}]}})
        ) == {"usage_thresholds": ["missing_amount_cents"]}
        response = api.put("plans/starter", json={"plan": {"name": "new", "tax_codes": ["nope"]}})
        assert response.status_code == 404
        assert response.json()["code"] == "tax_not_found"
        assert api.put("plans/starter", json={"plan": {}}).status_code == 400
        assert error_details(api.put("plans/starter", json={"plan": {"amount_currency": "XXX"}})) == {
            "amount_currency": ["value_is_invalid"]
        }
        assert error_details(api.put("plans/starter", json={"plan": {"trial_period": "-0.5"}})) == {
            "trial_period": ["value_is_out_of_range"]
        }


def test_code_must_be_unique_among_live_plans(api: httpx.Client, unchanged: Any) -> None:
    create_plan(api)
    with unchanged():
        assert error_details(api.post("plans", json=plan_body())) == {"code": ["value_already_exist"]}


def test_missing_root_is_400(api: httpx.Client, unchanged: Any) -> None:
    with unchanged():
        for body in ({}, {"plan": {}}, {"plans": {"code": "x"}}):
            response = api.post("plans", json=body)
            assert response.status_code == 400
            assert response.json()["error"] == "BadRequest: param is missing or the value is empty or invalid: plan"


def test_unknown_taxes_are_404(api: httpx.Client, unchanged: Any, metrics: Any, tax: Any) -> None:
    tax("vat")
    with unchanged():
        for fields in (
            {"tax_codes": ["vat", "nope"]},
            {"charges": [charge(metrics["count"], tax_codes=["nope"])]},
            {"minimum_commitment": {"amount_cents": 1, "tax_codes": ["nope"]}},
        ):
            response = api.post("plans", json=plan_body(**fields))
            assert response.status_code == 404, fields
            assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}


def test_unknown_and_deleted_metrics_are_404(api: httpx.Client, unchanged: Any, metrics: Any, database: Any) -> None:
    with database.unit_of_work() as session:
        session.get(BillableMetric, _uuid(metrics["max"]["lago_id"])).deleted_at = clock.now()
    with unchanged():
        for metric_id in ("nope", "6a0f7d2e-2a0a-4f5b-9d55-0d7a7ea1c000", metrics["max"]["lago_id"]):
            response = api.post(
                "plans", json=plan_body(charges=[{"billable_metric_id": metric_id, "charge_model": "standard"}])
            )
            assert response.status_code == 404
            assert response.json()["code"] == "billable_metric_not_found"


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


CHARGE_ERRORS: list[tuple[str, str, dict[str, Any], dict[str, list[str]]]] = [
    # (metric, charge_model, other fields, error_details)
    ("count", "", {}, {"charge_model": ["value_is_mandatory"]}),
    ("count", "flat", {}, {"charge_model": ["value_is_invalid"]}),
    ("count", "standard", {"properties": {"amount": "-1"}}, {"properties": ["invalid_amount"]}),
    ("count", "package", {"properties": {"amount": "1", "package_size": 0}},
     {"properties": ["invalid_package_size", "invalid_free_units"]}),
    ("count", "graduated", {"properties": {"graduated_ranges": [{"from_value": 1, "to_value": None,
                                                                 "per_unit_amount": "1", "flat_amount": "0"}]}},
     {"properties": ["invalid_graduated_ranges"]}),
    ("count", "volume", {"properties": {"amount": "1"}}, {"properties": ["missing_volume_ranges"]}),
    ("count", "percentage", {"properties": {"rate": "x"}}, {"properties": ["invalid_rate"]}),
    ("count", "graduated_percentage", {"properties": {"graduated_percentage_ranges": "x"}},
     {"properties": ["invalid_graduated_percentage_ranges"]}),
    ("count", "standard", {"properties": "0.5"}, {"properties": ["value_is_invalid"]}),
    ("count", "volume", {"pay_in_advance": True}, {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
    ("max", "standard", {"pay_in_advance": True}, {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
    ("latest", "standard", {"pay_in_advance": True}, {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
    ("weighted", "standard", {"pay_in_advance": True},
     {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}),
    ("count", "dynamic", {}, {"charge_model": ["invalid_aggregation_type_or_charge_model"]}),
    ("latest", "percentage", {}, {"properties": ["invalid_value"]}),
    ("latest", "graduated_percentage", {}, {"properties": ["invalid_value"]}),
    ("count", "standard", {"invoiceable": False}, {"invoiceable": ["must_be_true_unless_pay_in_advance"]}),
    ("count", "standard", {"regroup_paid_fees": "invoice", "pay_in_advance": True},
     {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]}),
    ("count", "standard", {"regroup_paid_fees": "invoice"},
     {"regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]}),
    ("count", "standard", {"regroup_paid_fees": "monthly"}, {"regroup_paid_fees": ["value_is_invalid"]}),
    ("count", "standard", {"pay_in_advance": True, "min_amount_cents": 100},
     {"min_amount_cents": ["not_compatible_with_pay_in_advance"]}),
    ("count", "standard", {"min_amount_cents": -1}, {"min_amount_cents": ["value_is_out_of_range"]}),
    ("sum", "standard", {"prorated": True}, {"prorated": ["invalid_billable_metric_or_charge_model"]}),
    ("recurring_sum", "package", {"prorated": True}, {"prorated": ["invalid_billable_metric_or_charge_model"]}),
    ("recurring_sum", "graduated", {"prorated": True, "pay_in_advance": True},
     {"prorated": ["invalid_billable_metric_or_charge_model"]}),
    ("weighted", "standard", {"prorated": True}, {"prorated": ["invalid_billable_metric_or_charge_model"]}),
    ("count", "standard", {"code": ""}, {"code": ["value_is_invalid"]}),
]  # fmt: skip


@pytest.mark.parametrize(("metric_key", "charge_model", "fields", "details"), CHARGE_ERRORS)
def test_charge_rules(
    api: httpx.Client, unchanged: Any, metrics: Any, metric_key: str, charge_model: str, fields: Any, details: Any
) -> None:
    item = {"billable_metric_id": metrics[metric_key]["lago_id"], **fields}
    if charge_model:
        item["charge_model"] = charge_model
    create_plan(api, "existing")
    with unchanged():
        assert error_details(api.post("plans", json=plan_body(charges=[item]))) == details
        assert error_details(api.post("plans/existing/charges", json={"charge": item})) == details


def test_charge_rules_also_apply_to_updates(api: httpx.Client, unchanged: Any, metrics: Any) -> None:
    plan = create_plan(api, charges=[charge(metrics["sum"], code="a"), charge(metrics["count"], code="b")])
    first = plan["charges"][0]
    with unchanged():
        assert error_details(api.put("plans/starter/charges/a", json={"charge": {"charge_model": "volume",
                                                                                 "pay_in_advance": True}})) == {
            "pay_in_advance": ["invalid_aggregation_type_or_charge_model"]
        }  # fmt: skip
        assert error_details(api.put("plans/starter/charges/a", json={"charge": {"code": "b"}})) == {
            "code": ["value_already_exist"]
        }
        assert error_details(
            api.put("plans/starter", json={"plan": {"charges": [{"id": first["lago_id"], "properties": {"amount": "x"}}]}})
        ) == {"properties": ["invalid_amount"]}
        assert error_details(
            api.put("plans/starter", json={"plan": {"charges": [charge(metrics["sum"], code="x"),
                                                                charge(metrics["sum"], code="x")]}})
        ) == {"code": ["value_already_exist"]}  # fmt: skip
        assert error_details(api.post("plans/starter/charges", json={"charge": charge(metrics["sum"], code="a")})) == {
            "code": ["value_already_exist"]
        }
        assert error_details(api.post("plans/starter/charges", json={"charge": {"charge_model": "standard"}})) == {
            "billable_metric_id": ["value_is_mandatory"]
        }


def test_allowed_combinations(api: httpx.Client, metrics: Any) -> None:
    plan = create_plan(
        api,
        charges=[
            charge(metrics["count"], pay_in_advance=True),
            charge(metrics["sum"], "graduated", pay_in_advance=True, invoiceable=False),
            charge(metrics["unique"], "standard", pay_in_advance=True, prorated=True),
            charge(metrics["recurring_sum"], "volume", prorated=True),
            charge(metrics["recurring_sum"], "graduated", prorated=True),
            charge(metrics["sum"], "dynamic", pay_in_advance=True),
            charge(metrics["max"], "percentage", min_amount_cents=10),
            charge(metrics["weighted"], "standard"),
        ],
    )
    assert len(plan["charges"]) == 8


FILTER_ERRORS: list[tuple[dict[str, Any], dict[str, list[str]]]] = [
    ({"properties": {"amount": "1"}}, {"values": ["value_is_mandatory"]}),
    ({"values": {}, "properties": {"amount": "1"}}, {"values": ["value_is_mandatory"]}),
    ({"values": {"region": []}, "properties": {"amount": "1"}}, {"values": ["value_is_mandatory"]}),
    ({"values": {"country": ["fr"]}, "properties": {"amount": "1"}}, {"values": ["value_is_invalid"]}),
    ({"values": {"region": ["mars"]}, "properties": {"amount": "1"}}, {"values": ["value_is_invalid"]}),
    ({"values": {"region": ["eu", "__ALL_FILTER_VALUES__"]}, "properties": {"amount": "1"}},
     {"values": ["value_is_invalid"]}),
    ({"values": {"region": ["eu"]}}, {"properties": ["invalid_amount"]}),
    ({"values": {"region": ["eu"]}, "properties": {"amount": "-2"}}, {"properties": ["invalid_amount"]}),
    ({"values": {"region": "eu"}, "properties": {"amount": "1"}}, {"values": ["value_is_invalid"]}),
    ({"values": {"region": [1]}, "properties": {"amount": "1"}}, {"values": ["value_is_invalid"]}),
    ({"values": ["region"], "properties": {"amount": "1"}}, {"values": ["value_is_invalid"]}),
]  # fmt: skip


@pytest.mark.parametrize(("item", "details"), FILTER_ERRORS)
def test_filter_rules(api: httpx.Client, unchanged: Any, metrics: Any, item: Any, details: Any) -> None:
    create_plan(api, "existing", charges=[charge(metrics["count"], code="c")])
    with unchanged():
        assert error_details(api.post("plans", json=plan_body(charges=[charge(metrics["count"], filters=[item])]))) == (
            details
        )
        assert error_details(api.post("plans/existing/charges/c/filters", json={"filter": item})) == details


def test_filters_of_a_charge_must_differ(api: httpx.Client, unchanged: Any, metrics: Any) -> None:
    eu = {"values": {"region": ["eu"], "tier": ["free"]}, "properties": {"amount": "1"}}
    same = {"values": {"tier": ["free"], "region": ["eu", "eu"]}, "properties": {"amount": "2"}}
    us = {"values": {"region": ["us"]}, "properties": {"amount": "3"}}
    create_plan(api, charges=[charge(metrics["count"], code="c", filters=[eu, us])])
    filters = api.get("plans/starter/charges/c/filters").json()["filters"]
    with unchanged():
        details = {"values": ["value_already_exist"]}
        assert error_details(api.post("plans", json=plan_body("p2", charges=[charge(metrics["count"],
                                                                                     filters=[eu, same])]))) == details
        assert error_details(api.post("plans/starter/charges/c/filters", json={"filter": same})) == details
        assert error_details(
            api.put(f"plans/starter/charges/c/filters/{filters[1]['lago_id']}", json={"filter": {"values": eu["values"]}})
        ) == details
        assert error_details(
            api.put(f"plans/starter/charges/c/filters/{filters[1]['lago_id']}", json={"filter": {"properties": {}}})
        ) == {"properties": ["invalid_amount"]}
    # Updating a filter to its own values is fine.
    assert api.put(
        f"plans/starter/charges/c/filters/{filters[0]['lago_id']}", json={"filter": {"values": same["values"]}}
    ).status_code == 200  # fmt: skip


def test_new_charge_model_must_fit_existing_filters(api: httpx.Client, unchanged: Any, metrics: Any) -> None:
    create_plan(
        api,
        charges=[charge(metrics["count"], code="c", filters=[{"values": {"region": ["eu"]}, "properties": {"amount": "1"}}])],
    )
    with unchanged():
        assert error_details(api.put("plans/starter/charges/c", json={"charge": {"charge_model": "package"}})) == {
            "properties": ["invalid_package_size", "invalid_free_units"]
        }
    switched = api.put(
        "plans/starter/charges/c",
        json={"charge": {"charge_model": "percentage",
                         "filters": [{"values": {"region": ["eu"]}, "properties": {"rate": "1"}}]}},
    )  # fmt: skip
    assert switched.status_code == 200, switched.text
    body = switched.json()["charge"]
    assert (body["properties"], body["filters"][0]["properties"]) == ({"rate": "0"}, {"rate": "1"})
