"""Plans through the official client and raw HTTP: CRUD, full round trip, set semantics, metadata."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.charge import Charge, ChargeFilter
from lago_python_client.models.plan import Plan

from tests.conftest import make_org
from tests.plans.conftest import create_plan, plan_body


def tier(low: int, high: int | None, unit: str, flat: str = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "per_unit_amount": unit, "flat_amount": flat}


def test_client_create_find_update_find_all_destroy(lago: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    created = lago.plans.create(
        Plan(
            name="Starter",
            code="starter",
            interval="monthly",
            amount_cents=1000,
            amount_currency="EUR",
            trial_period=1.5,
            charges=[Charge(billable_metric_id=calls["lago_id"], charge_model="standard", properties={"amount": "0.5"})],
        )
    )
    assert (created.code, created.name, created.amount_cents, created.trial_period) == ("starter", "Starter", 1000, 1.5)
    assert created.charges.__root__[0].properties == {"amount": "0.5"}
    assert created.charges.__root__[0].code == "calls"

    found = lago.plans.find("starter")
    assert found.lago_id == created.lago_id

    updated = lago.plans.update(Plan(name="Starter 2", description="For small teams"), "starter")
    assert (updated.name, updated.description, updated.amount_cents) == ("Starter 2", "For small teams", 1000)
    assert len(updated.charges.__root__) == 1  # charges omitted: untouched

    listed = lago.plans.find_all()
    assert [p.code for p in listed["plans"]] == ["starter"]
    assert listed["meta"]["total_count"] == 1

    destroyed = lago.plans.destroy("starter")
    assert destroyed.code == "starter"
    with pytest.raises(LagoApiError) as missing:
        lago.plans.find("starter")
    assert missing.value.status_code == 404
    assert lago.plans.find_all()["plans"] == []


def test_round_trip_of_a_plan_with_every_charge_model(api: httpx.Client, metric: Any, tax: Any) -> None:
    tax("vat")
    tax("reduced", "5")
    calls = metric("calls", "count_agg", filters={"region": ["eu", "us", "asia"], "tier": ["free", "pro"]})
    tokens = metric("tokens", "sum_agg", recurring=True)
    seats = metric("seats", "unique_count_agg", recurring=True)
    body = {
        "name": "Enterprise",
        "code": "enterprise",
        "interval": "yearly",
        "amount_cents": 100000,
        "amount_currency": "USD",
        "pay_in_advance": True,
        "trial_period": 14,
        "bill_charges_monthly": True,
        "invoice_display_name": "Enterprise plan",
        "description": "Everything",
        "tax_codes": ["vat"],
        "metadata": {"segment": "large", "owner": None},
        "minimum_commitment": {"amount_cents": 500000, "invoice_display_name": "Commitment", "tax_codes": ["reduced"]},
        "usage_thresholds": [
            {"amount_cents": 10000, "threshold_display_name": "First"},
            {"amount_cents": 50000, "recurring": True},
        ],
        "charges": [
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "code": "api_calls",
                "invoice_display_name": "API calls",
                "properties": {"amount": "0.002", "pricing_group_keys": ["model"]},
                "tax_codes": ["reduced"],
                "filters": [
                    {"invoice_display_name": "EU", "values": {"region": ["eu"]}, "properties": {"amount": "0.003"}},
                    {
                        "values": {"region": ["us", "asia"], "tier": ["__ALL_FILTER_VALUES__"]},
                        "properties": {"amount": "0.001"},
                    },
                ],
            },
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "package",
                "properties": {"amount": "100", "package_size": 1000, "free_units": 100},
            },
            {
                "billable_metric_id": tokens["lago_id"],
                "charge_model": "graduated",
                "prorated": True,
                "properties": {"graduated_ranges": [tier(0, 10, "10", "2"), tier(11, None, "5", "3")]},
            },
            {
                "billable_metric_id": tokens["lago_id"],
                "charge_model": "volume",
                "min_amount_cents": 2500,
                "properties": {"volume_ranges": [tier(0, 100, "2", "10"), tier(101, None, "1")]},
            },
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "percentage",
                "pay_in_advance": True,
                "invoiceable": False,
                "regroup_paid_fees": "invoice",
                "properties": {"rate": "1.5", "fixed_amount": "0.25", "free_units_per_events": 3},
            },
            {
                "billable_metric_id": seats["lago_id"],
                "charge_model": "graduated_percentage",
                "properties": {
                    "graduated_percentage_ranges": [
                        {"from_value": 0, "to_value": 100, "rate": "5", "flat_amount": "0"},
                        {"from_value": 101, "to_value": None, "rate": "2", "flat_amount": "10"},
                    ]
                },
            },
            {"billable_metric_id": tokens["lago_id"], "charge_model": "dynamic"},
        ],
    }
    response = api.post("plans", json={"plan": body})
    assert response.status_code == 200, response.text
    created = response.json()["plan"]
    assert api.get("plans/enterprise").json()["plan"] == created
    assert api.get("plans").json()["plans"] == [created]

    for key in ("name", "code", "interval", "amount_cents", "amount_currency", "pay_in_advance",
                "bill_charges_monthly", "invoice_display_name", "description", "metadata"):  # fmt: skip
        assert created[key] == body[key], key
    assert created["trial_period"] == 14.0
    assert created["bill_fixed_charges_monthly"] is False
    assert (created["customers_count"], created["active_subscriptions_count"], created["draft_invoices_count"]) == (0, 0, 0)
    assert (created["fixed_charges"], created["entitlements"], created["parent_id"], created["pending_deletion"]) == (
        [], [], None, False
    )  # fmt: skip
    assert created["version"] == 1
    assert [t["code"] for t in created["taxes"]] == ["vat"]

    commitment = created["minimum_commitment"]
    assert commitment["plan_code"] == "enterprise"
    assert (commitment["amount_cents"], commitment["invoice_display_name"], commitment["interval"]) == (
        500000, "Commitment", "yearly"
    )  # fmt: skip
    assert [t["code"] for t in commitment["taxes"]] == ["reduced"]
    assert {"lago_id", "created_at", "updated_at"} <= commitment.keys()

    thresholds = created["usage_thresholds"]
    assert [(t["amount_cents"], t["recurring"], t["threshold_display_name"]) for t in thresholds] == [
        (10000, False, "First"),
        (50000, True, None),
    ]

    charges = created["charges"]
    assert [c["code"] for c in charges] == ["api_calls", "calls", "tokens", "tokens_2", "calls_2", "seats", "tokens_3"]
    for sent, got in zip(body["charges"], charges, strict=True):
        assert got["charge_model"] == sent["charge_model"]
        assert got["lago_billable_metric_id"] == sent["billable_metric_id"]
        assert got["applied_pricing_unit"] is None
        assert got["accepts_target_wallet"] is False
        assert got["lago_parent_id"] is None
    standard, package, graduated, volume, percentage, graduated_pct, dynamic = charges
    assert standard["properties"] == {"amount": "0.002", "pricing_group_keys": ["model"], "grouped_by": ["model"]}
    assert standard["invoice_display_name"] == "API calls"
    assert standard["billable_metric_code"] == "calls"
    assert [t["code"] for t in standard["taxes"]] == ["reduced"]
    assert [(f["invoice_display_name"], f["values"], f["properties"]) for f in standard["filters"]] == [
        ("EU", {"region": ["eu"]}, {"amount": "0.003"}),
        (None, {"region": ["us", "asia"], "tier": ["__ALL_FILTER_VALUES__"]}, {"amount": "0.001"}),
    ]
    assert package["properties"] == {"amount": "100", "package_size": 1000, "free_units": 100}
    assert graduated["properties"] == body["charges"][2]["properties"]
    assert graduated["prorated"] is True
    assert volume["properties"] == body["charges"][3]["properties"]
    assert volume["min_amount_cents"] == 2500
    assert percentage["properties"] == {"rate": "1.5", "fixed_amount": "0.25", "free_units_per_events": 3}
    assert (percentage["pay_in_advance"], percentage["invoiceable"], percentage["regroup_paid_fees"]) == (
        True, False, "invoice"
    )  # fmt: skip
    assert graduated_pct["properties"] == body["charges"][5]["properties"]
    assert dynamic["properties"] == {}
    assert (dynamic["pay_in_advance"], dynamic["invoiceable"], dynamic["regroup_paid_fees"], dynamic["prorated"]) == (
        False, True, None, False
    )  # fmt: skip


def test_client_reads_every_field(lago: Any, api: httpx.Client, metric: Any, tax: Any) -> None:
    tax("vat")
    calls = metric("calls", "count_agg", filters={"region": ["eu"]})
    create_plan(
        api,
        tax_codes=["vat"],
        minimum_commitment={"amount_cents": 100},
        usage_thresholds=[{"amount_cents": 10}],
        charges=[
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "1"}}],
            }
        ],
    )
    plan = lago.plans.find("starter")
    assert plan.minimum_commitment.amount_cents == 100
    assert plan.minimum_commitment.interval == "monthly"
    assert plan.usage_thresholds.__root__[0].amount_cents == 10
    assert plan.taxes.__root__[0].code == "vat"
    charge = plan.charges.__root__[0]
    assert charge.filters.__root__[0].values == {"region": ["eu"]}
    assert charge.properties == {"amount": "0"}


def test_put_charges_is_the_full_set(api: httpx.Client, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    tokens = metric("tokens")
    plan = create_plan(
        api,
        charges=[
            {"billable_metric_id": calls["lago_id"], "charge_model": "standard", "properties": {"amount": "1"}},
            {"billable_metric_id": tokens["lago_id"], "charge_model": "standard", "properties": {"amount": "2"}},
        ],
    )
    kept, dropped = plan["charges"]
    response = api.put(
        "plans/starter",
        json={
            "plan": {
                "charges": [
                    {"id": kept["lago_id"], "billable_metric_id": calls["lago_id"], "charge_model": "package",
                     "properties": {"amount": "5", "package_size": 10, "free_units": 0}},
                    {"billable_metric_id": tokens["lago_id"], "charge_model": "standard",
                     "properties": {"amount": "3"}},
                ]
            }
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    charges = response.json()["plan"]["charges"]
    assert [c["lago_id"] for c in charges][0] == kept["lago_id"]
    assert charges[0]["charge_model"] == "package"
    assert charges[0]["properties"] == {"amount": "5", "package_size": 10, "free_units": 0}
    assert charges[0]["created_at"] == kept["created_at"]
    assert dropped["lago_id"] not in {c["lago_id"] for c in charges}
    # The dropped charge's code is free again for the new charge.
    assert (charges[1]["code"], charges[1]["properties"]) == ("tokens", {"amount": "3"})
    assert api.get("plans/starter/charges/tokens").json()["charge"]["lago_id"] == charges[1]["lago_id"]

    # Omitting `charges` leaves them; an empty list removes them all.
    assert len(api.put("plans/starter", json={"plan": {"name": "x"}}).json()["plan"]["charges"]) == 2
    assert api.put("plans/starter", json={"plan": {"charges": []}}).json()["plan"]["charges"] == []


def test_put_charge_with_an_unknown_id_creates_it(api: httpx.Client, metric: Any) -> None:
    # As Lago does: ids copied from another plan's charges give new charges here.
    calls = metric("calls", "count_agg")
    source = create_plan(api, "source", charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard"}])
    create_plan(api)
    copied = {**source["charges"][0], "id": source["charges"][0]["lago_id"], "billable_metric_id": calls["lago_id"]}
    charges = api.put("plans/starter", json={"plan": {"charges": [copied]}}).json()["plan"]["charges"]
    assert len(charges) == 1
    assert charges[0]["lago_id"] != copied["id"]
    assert api.get("plans/source").json()["plan"]["charges"] == source["charges"]


def test_put_charge_filters_are_the_full_set_and_keep_ids(api: httpx.Client, metric: Any) -> None:
    calls = metric("calls", "count_agg", filters={"region": ["eu", "us"]})
    plan = create_plan(
        api,
        charges=[
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "filters": [
                    {"values": {"region": ["eu"]}, "properties": {"amount": "1"}},
                    {"values": {"region": ["us"]}, "properties": {"amount": "2"}},
                ],
            }
        ],
    )
    charge = plan["charges"][0]
    eu = charge["filters"][0]
    response = api.put(
        "plans/starter",
        json={
            "plan": {
                "charges": [
                    {
                        "id": charge["lago_id"],
                        "filters": [
                            {"values": {"region": ["eu"]}, "properties": {"amount": "9"}, "invoice_display_name": "EU"},
                            {"values": {"region": ["eu", "us"]}, "properties": {"amount": "3"}},
                        ],
                    }
                ]
            }
        },
    )
    assert response.status_code == 200, response.text
    filters = response.json()["plan"]["charges"][0]["filters"]
    assert [(f["values"], f["properties"], f["invoice_display_name"]) for f in filters] == [
        ({"region": ["eu"]}, {"amount": "9"}, "EU"),
        ({"region": ["eu", "us"]}, {"amount": "3"}, None),
    ]
    assert filters[0]["lago_id"] == eu["lago_id"]


def test_put_thresholds_commitment_taxes_and_fields(api: httpx.Client, tax: Any) -> None:
    tax("vat")
    tax("gst")
    plan = create_plan(
        api,
        tax_codes=["vat"],
        usage_thresholds=[{"amount_cents": 100}, {"amount_cents": 200}],
        minimum_commitment={"amount_cents": 1000},
    )
    first = plan["usage_thresholds"][0]
    updated = api.put(
        "plans/starter",
        json={
            "plan": {
                "interval": "yearly",
                "amount_currency": "USD",
                "pay_in_advance": True,
                "trial_period": "2.5",
                "invoice_display_name": "Starter!",
                "tax_codes": ["gst", "vat"],
                "usage_thresholds": [
                    {"id": first["lago_id"], "amount_cents": 150, "threshold_display_name": "renamed"},
                    {"amount_cents": 300, "recurring": True},
                ],
                "minimum_commitment": {"amount_cents": 2000, "invoice_display_name": "Min"},
            }
        },
    ).json()["plan"]
    assert (updated["interval"], updated["amount_currency"], updated["pay_in_advance"], updated["trial_period"]) == (
        "yearly", "USD", True, 2.5
    )  # fmt: skip
    assert updated["invoice_display_name"] == "Starter!"
    assert updated["bill_charges_monthly"] is False  # yearly: now meaningful, default false
    assert [t["code"] for t in updated["taxes"]] == ["gst", "vat"]
    thresholds = updated["usage_thresholds"]
    assert [(t["amount_cents"], t["recurring"], t["threshold_display_name"]) for t in thresholds] == [
        (150, False, "renamed"),
        (300, True, None),
    ]
    assert thresholds[0]["lago_id"] == first["lago_id"]
    commitment = updated["minimum_commitment"]
    assert (commitment["amount_cents"], commitment["invoice_display_name"], commitment["interval"]) == (
        2000, "Min", "yearly"
    )  # fmt: skip
    assert commitment["lago_id"] == plan["minimum_commitment"]["lago_id"]

    renamed = api.put("plans/starter", json={"plan": {"minimum_commitment": {"invoice_display_name": "Floor"}}})
    assert (renamed.json()["plan"]["minimum_commitment"]["amount_cents"],
            renamed.json()["plan"]["minimum_commitment"]["invoice_display_name"]) == (2000, "Floor")  # fmt: skip
    retaxed = api.put("plans/starter", json={"plan": {"minimum_commitment": {"tax_codes": ["gst"]}}}).json()["plan"]
    assert retaxed["minimum_commitment"]["invoice_display_name"] == "Floor"
    assert [t["code"] for t in retaxed["minimum_commitment"]["taxes"]] == ["gst"]

    monthly = api.put("plans/starter", json={"plan": {"interval": "monthly", "bill_charges_monthly": True}})
    assert monthly.json()["plan"]["bill_charges_monthly"] is None  # not meaningful for monthly plans

    cleared = api.put(
        "plans/starter", json={"plan": {"minimum_commitment": {}, "usage_thresholds": [], "tax_codes": []}}
    ).json()["plan"]
    assert (cleared["minimum_commitment"], cleared["usage_thresholds"], cleared["taxes"]) == (None, [], [])

    again = api.put("plans/starter", json={"plan": {"minimum_commitment": {"amount_cents": 7}}}).json()["plan"]
    assert again["minimum_commitment"]["amount_cents"] == 7


def test_bill_charges_monthly_only_for_yearly_and_semiannual(api: httpx.Client) -> None:
    for interval, sent, expected in [
        ("weekly", True, None),
        ("monthly", True, None),
        ("quarterly", True, None),
        ("semiannual", True, True),
        ("yearly", None, False),
        ("yearly", True, True),
    ]:
        fields = {"interval": interval} | ({} if sent is None else {"bill_charges_monthly": sent})
        plan = create_plan(api, f"p_{interval}_{sent}", **fields)
        assert plan["bill_charges_monthly"] is expected, interval


def test_code_can_change_and_is_reused_after_delete(api: httpx.Client) -> None:
    create_plan(api)
    renamed = api.put("plans/starter", json={"plan": {"code": "basic"}}).json()["plan"]
    assert renamed["code"] == "basic"
    assert api.get("plans/starter").status_code == 404
    deleted = api.delete("plans/basic").json()["plan"]
    assert deleted["code"] == "basic"
    assert api.delete("plans/basic").status_code == 404
    again = create_plan(api, "basic")
    assert again["lago_id"] != deleted["lago_id"]


def test_list_is_paginated_newest_first(api: httpx.Client) -> None:
    for code in ("a", "b", "c"):
        create_plan(api, code)
    page = api.get("plans", params={"page": 1, "per_page": 2}).json()
    assert [p["code"] for p in page["plans"]] == ["c", "b"]
    assert page["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 3}


def test_not_found(api: httpx.Client, lago: Any) -> None:
    for response in (
        api.get("plans/nope"),
        api.put("plans/nope", json={"plan": {"name": "x"}}),
        api.delete("plans/nope"),
        api.delete("plans/nope/metadata"),
        api.delete("plans/nope/metadata/k"),
        api.get("plans/nope/charges"),
        api.get("plans/nope/versions"),
    ):
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "plan_not_found"}
    with pytest.raises(LagoApiError) as caught:
        lago.plans.update(Plan(name="x"), "nope")
    assert caught.value.status_code == 404


def test_other_organization_cannot_see_or_touch(api: httpx.Client, server: Any, database: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    create_plan(
        api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}]
    )
    other = make_org(database, "Other")
    headers = {"Authorization": f"Bearer {other.api_key}"}
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers=headers) as client:
        assert client.get("plans").json()["plans"] == []
        for response in (
            client.get("plans/starter"),
            client.put("plans/starter", json={"plan": {"name": "x"}}),
            client.delete("plans/starter"),
            client.get("plans/starter/charges/c"),
            client.post("plans/starter/metadata", json={"metadata": {}}),
        ):
            assert response.json()["code"] == "plan_not_found"
        # Our metric is unknown to the other organization.
        response = client.post(
            "plans", json=plan_body(charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard"}])
        )
        assert response.status_code == 404
        assert response.json()["code"] == "billable_metric_not_found"
        # The same plan code is free there.
        assert client.post("plans", json=plan_body()).status_code == 200
    assert api.get("plans/starter").json()["plan"]["name"] == "Starter"


def test_unauthenticated(anon: httpx.Client) -> None:
    assert anon.get("api/v1/plans").status_code == 401
    assert anon.post("api/v1/plans", json=plan_body()).status_code == 401


def test_charge_filter_through_client_models(lago: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg", filters={"region": ["eu"]})
    created = lago.plans.create(
        Plan(
            name="P",
            code="p",
            interval="weekly",
            amount_cents=0,
            amount_currency="EUR",
            charges=[
                Charge(
                    billable_metric_id=calls["lago_id"],
                    charge_model="standard",
                    properties={"amount": "1"},
                    filters=[ChargeFilter(values={"region": ["eu"]}, properties={"amount": "2"})],
                )
            ],
        )
    )
    charge_filter = created.charges.__root__[0].filters.__root__[0]
    assert (charge_filter.values, charge_filter.properties) == ({"region": ["eu"]}, {"amount": "2"})
