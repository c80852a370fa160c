"""`/plans/{code}/charges` and `/plans/{code}/charges/{charge_code}/filters`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.charge import Charge, ChargeFilter

from tests.plans.conftest import create_plan


@pytest.fixture
def calls(metric: Any) -> dict[str, Any]:
    return metric("calls", "count_agg", filters={"region": ["eu", "us"], "tier": ["free", "pro"]})  # type: ignore[no-any-return]


def test_charges_through_the_client(lago: Any, api: httpx.Client, calls: dict[str, Any], tax: Any) -> None:
    tax("vat")
    create_plan(api)
    created = lago.plan_charges.create(
        "starter",
        Charge(
            billable_metric_id=calls["lago_id"],
            charge_model="standard",
            code="api",
            invoice_display_name="API",
            properties={"amount": "0.1"},
            tax_codes=["vat"],
            filters=[ChargeFilter(values={"region": ["eu"]}, properties={"amount": "0.2"})],
        ),
    )
    assert (created.code, created.billable_metric_code, created.properties) == ("api", "calls", {"amount": "0.1"})
    assert created.taxes.__root__[0].code == "vat"
    assert created.filters.__root__[0].values == {"region": ["eu"]}

    found = lago.plan_charges.find("starter", "api")
    assert found.lago_id == created.lago_id

    updated = lago.plan_charges.update(
        "starter", "api", Charge(charge_model="graduated", invoice_display_name="Calls", filters=[])
    )
    assert updated.charge_model == "graduated"
    assert updated.properties == {
        "graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}]
    }
    assert updated.invoice_display_name == "Calls"
    assert updated.filters.__root__ == []
    assert updated.taxes.__root__[0].code == "vat"  # tax_codes omitted: untouched

    # plan_charges.find_all sends no Authorization header (a client bug): use raw HTTP.
    listed = api.get("plans/starter/charges").json()
    assert [c["code"] for c in listed["charges"]] == ["api"]
    assert listed["meta"]["total_count"] == 1

    destroyed = lago.plan_charges.destroy("starter", "api")
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as missing:
        lago.plan_charges.find("starter", "api")
    assert missing.value.status_code == 404
    assert api.get("plans/starter").json()["plan"]["charges"] == []


def test_charge_code_is_derived_and_unique(api: httpx.Client, calls: dict[str, Any]) -> None:
    create_plan(api)
    codes = [
        api.post("plans/starter/charges", json={"charge": {"billable_metric_id": calls["lago_id"],
                                                           "charge_model": "standard"}}).json()["charge"]["code"]
        for _ in range(3)
    ]  # fmt: skip
    assert codes == ["calls", "calls_2", "calls_3"]
    api.delete("plans/starter/charges/calls_2")
    again = api.post(
        "plans/starter/charges", json={"charge": {"billable_metric_id": calls["lago_id"], "charge_model": "standard"}}
    ).json()["charge"]
    assert again["code"] == "calls_4"
    renamed = api.put("plans/starter/charges/calls_4", json={"charge": {"code": "calls_2"}})
    assert renamed.json()["charge"]["code"] == "calls_2"


def test_charge_update_is_partial(api: httpx.Client, metric: Any) -> None:
    tokens = metric("tokens", "sum_agg")
    create_plan(api)
    api.post(
        "plans/starter/charges",
        json={"charge": {"billable_metric_id": tokens["lago_id"], "charge_model": "percentage",
                         "properties": {"rate": "1"}, "min_amount_cents": 100}},
    )  # fmt: skip
    updated = api.put("plans/starter/charges/tokens", json={"charge": {"properties": {"rate": "2.5"}}}).json()["charge"]
    assert (updated["properties"], updated["min_amount_cents"], updated["charge_model"]) == (
        {"rate": "2.5"}, 100, "percentage"
    )  # fmt: skip
    advance = api.put(
        "plans/starter/charges/tokens",
        json={"charge": {"pay_in_advance": True, "invoiceable": False, "min_amount_cents": 0,
                         "regroup_paid_fees": "invoice"}},
    ).json()["charge"]  # fmt: skip
    assert (advance["pay_in_advance"], advance["invoiceable"], advance["regroup_paid_fees"]) == (True, False, "invoice")
    # An explicit null stops regrouping (every other null means "not given").
    back = api.put("plans/starter/charges/tokens", json={"charge": {"regroup_paid_fees": None}}).json()["charge"]
    assert (back["regroup_paid_fees"], back["invoiceable"]) == (None, False)
    # tax_codes, when given, replace the charge's taxes.
    for code in ("vat", "gst"):
        api.post("taxes", json={"tax": {"name": code, "code": code, "rate": "10"}})
    taxed = api.put("plans/starter/charges/tokens", json={"charge": {"tax_codes": ["vat", "gst"]}}).json()["charge"]
    assert [t["code"] for t in taxed["taxes"]] == ["gst", "vat"]
    untaxed = api.put("plans/starter/charges/tokens", json={"charge": {"tax_codes": []}}).json()["charge"]
    assert untaxed["taxes"] == []
    # A different billable metric is ignored, as in Lago.
    other = metric("other", "sum_agg")
    same = api.put("plans/starter/charges/tokens", json={"charge": {"billable_metric_id": other["lago_id"]}})
    assert same.json()["charge"]["billable_metric_code"] == "tokens"


def test_filters_through_the_client(lago: Any, api: httpx.Client, calls: dict[str, Any]) -> None:
    create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}])
    created = lago.plans.create_charge_filter(
        "starter", "c", ChargeFilter(invoice_display_name="EU", values={"region": ["eu"]}, properties={"amount": "1"})
    )
    assert (created.invoice_display_name, created.values, created.properties) == ("EU", {"region": ["eu"]}, {"amount": "1"})
    assert created.lago_id and created.created_at

    second = lago.plans.create_charge_filter(
        "starter", "c", ChargeFilter(values={"region": ["us"], "tier": ["__ALL_FILTER_VALUES__"]},
                                     properties={"amount": "2"})
    )  # fmt: skip
    listed = lago.plans.find_all_charge_filters("starter", "c")
    assert [f.lago_id for f in listed["filters"]] == [created.lago_id, second.lago_id]
    assert listed["meta"]["total_count"] == 2

    found = lago.plans.find_charge_filter("starter", "c", created.lago_id)
    assert found.values == {"region": ["eu"]}

    updated = lago.plans.update_charge_filter(
        "starter", "c", created.lago_id, ChargeFilter(values={"region": ["eu", "us"]}, properties={"amount": "3"})
    )
    assert (updated.values, updated.properties, updated.invoice_display_name) == (
        {"region": ["eu", "us"]}, {"amount": "3"}, "EU"
    )  # fmt: skip
    renamed = lago.plans.update_charge_filter("starter", "c", created.lago_id, ChargeFilter(invoice_display_name="Europe"))
    assert (renamed.invoice_display_name, renamed.properties) == ("Europe", {"amount": "3"})

    destroyed = lago.plans.destroy_charge_filter("starter", "c", created.lago_id)
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as missing:
        lago.plans.find_charge_filter("starter", "c", created.lago_id)
    assert missing.value.status_code == 404
    charge = api.get("plans/starter/charges/c").json()["charge"]
    assert [f["lago_id"] for f in charge["filters"]] == [second.lago_id]


def test_charge_and_filter_not_found(api: httpx.Client, calls: dict[str, Any], metric: Any) -> None:
    create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}])
    for response in (
        api.get("plans/starter/charges/nope"),
        api.put("plans/starter/charges/nope", json={"charge": {"invoice_display_name": "x"}}),
        api.delete("plans/starter/charges/nope"),
        api.get("plans/starter/charges/nope/filters"),
        api.post("plans/starter/charges/nope/filters", json={"filter": {"values": {"region": ["eu"]}}}),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "charge_not_found"
    for filter_id in ("not-a-uuid", "6a0f7d2e-2a0a-4f5b-9d55-0d7a7ea1c000"):
        for response in (
            api.get(f"plans/starter/charges/c/filters/{filter_id}"),
            api.put(f"plans/starter/charges/c/filters/{filter_id}", json={"filter": {"invoice_display_name": "x"}}),
            api.delete(f"plans/starter/charges/c/filters/{filter_id}"),
        ):
            assert response.status_code == 404
            assert response.json()["code"] == "charge_filter_not_found"
    # A filter of another charge is not reachable through this one.
    api.post("plans/starter/charges", json={"charge": {"billable_metric_id": calls["lago_id"],
                                                       "charge_model": "standard", "code": "d"}})  # fmt: skip
    other = api.post(
        "plans/starter/charges/d/filters", json={"filter": {"values": {"region": ["eu"]}, "properties": {"amount": "1"}}}
    ).json()["filter"]
    assert api.get(f"plans/starter/charges/c/filters/{other['lago_id']}").status_code == 404
    # An unknown metric cannot be charged.
    response = api.post("plans/starter/charges", json={"charge": {"billable_metric_id": "nope", "charge_model": "standard"}})
    assert response.json()["code"] == "billable_metric_not_found"


def test_delete_bodies_may_carry_cascade_updates(api: httpx.Client, calls: dict[str, Any]) -> None:
    create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}])
    charge_filter = api.post(
        "plans/starter/charges/c/filters", json={"filter": {"values": {"region": ["eu"]}, "properties": {"amount": "1"}}}
    ).json()["filter"]
    response = api.request(
        "DELETE", f"plans/starter/charges/c/filters/{charge_filter['lago_id']}", json={"filter": {"cascade_updates": True}}
    )
    assert response.status_code == 200
    response = api.request("DELETE", "plans/starter/charges/c", json={"charge": {"cascade_updates": False}})
    assert response.status_code == 200
    versions = api.get("plans/starter/versions").json()["plan_versions"]
    assert [(v["version"], v["cascade"]) for v in versions] == [(4, False), (3, True), (2, False), (1, False)]
