"""Plan versions: which edits write one, the cascade flag, listing, and the typed snapshot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from billow.core.errors import NotFound
from billow.plans import repository, versions
from billow.pricing.properties import GraduatedProperties, StandardProperties
from tests.plans.conftest import create_plan


def numbers(api: httpx.Client, code: str = "starter") -> list[tuple[int, bool]]:
    return [(v["version"], v["cascade"]) for v in api.get(f"plans/{code}/versions").json()["plan_versions"]]


def test_version_1_at_create_with_the_snapshot(api: httpx.Client, metric: Any, tax: Any) -> None:
    tax("vat")
    calls = metric("calls", "count_agg", filters={"region": ["eu"]})
    plan = create_plan(
        api,
        tax_codes=["vat"],
        trial_period=1.5,
        minimum_commitment={"amount_cents": 300, "tax_codes": ["vat"]},
        usage_thresholds=[{"amount_cents": 900, "recurring": True}, {"amount_cents": 100}],
        charges=[
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "0.5"},
                "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "1"}}],
            }
        ],
    )
    assert plan["version"] == 1
    listed = api.get("plans/starter/versions").json()
    assert listed["meta"]["total_count"] == 1
    version = listed["plan_versions"][0]
    assert api.get("plans/starter/versions/1").json()["plan_version"] == version
    assert (version["version"], version["cascade"]) == (1, False)
    assert {"lago_id", "created_at"} <= version.keys()
    charge = plan["charges"][0]
    assert version["plan"] == {
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "trial_period": "1.5",
        "bill_charges_monthly": None,
        "tax_codes": ["vat"],
        "charges": [
            {
                "id": charge["lago_id"],
                "code": "calls",
                "billable_metric_id": calls["lago_id"],
                "charge_model": "standard",
                "pay_in_advance": False,
                "invoiceable": True,
                "regroup_paid_fees": None,
                "prorated": False,
                "min_amount_cents": 0,
                "properties": {"amount": "0.5"},
                "tax_codes": [],
                "filters": [
                    {"id": charge["filters"][0]["lago_id"], "values": {"region": ["eu"]}, "properties": {"amount": "1"}}
                ],
            }
        ],
        "minimum_commitment": {"amount_cents": 300, "tax_codes": ["vat"]},
        "usage_thresholds": [{"amount_cents": 100, "recurring": False}, {"amount_cents": 900, "recurring": True}],
    }


def test_which_edits_write_a_version(api: httpx.Client, metric: Any, tax: Any) -> None:
    tax("vat")
    calls = metric("calls", "count_agg", filters={"region": ["eu", "us"]})
    plan = create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}])
    charge_id = plan["charges"][0]["lago_id"]

    def put(fields: dict[str, Any]) -> int:
        response = api.put("plans/starter", json={"plan": fields})
        assert response.status_code == 200, response.text
        return response.json()["plan"]["version"]  # type: ignore[no-any-return]

    # Labels and metadata: no new version.
    assert put({"name": "Renamed", "description": "d", "invoice_display_name": "x", "metadata": {"a": "b"}}) == 1
    api.post("plans/starter/metadata", json={"metadata": {"k": "v"}})
    assert put({"charges": [{"id": charge_id, "invoice_display_name": "Calls"}]}) == 1
    # Resending the same prices: no new version.
    assert put({"amount_cents": 1000, "charges": [{"id": charge_id, "properties": {"amount": "0"}}]}) == 1
    # Prices: a new version each time.
    assert put({"amount_cents": 2000}) == 2
    assert put({"amount_cents": 2500, "cascade_updates": True}) == 3
    assert put({"tax_codes": ["vat"]}) == 4
    assert put({"charges": [{"id": charge_id, "properties": {"amount": "0.1"}}], "cascade_updates": False}) == 5
    assert put({"usage_thresholds": [{"amount_cents": 10}]}) == 6
    assert put({"minimum_commitment": {"amount_cents": 10}}) == 7
    assert put({"interval": "yearly"}) == 8
    # Sub-resources write versions too.
    assert api.put("plans/starter/charges/c", json={"charge": {"min_amount_cents": 5, "cascade_updates": True}}).status_code == 200
    charge_filter = api.post(
        "plans/starter/charges/c/filters", json={"filter": {"values": {"region": ["eu"]}, "properties": {"amount": "2"}}}
    ).json()["filter"]
    api.put(f"plans/starter/charges/c/filters/{charge_filter['lago_id']}", json={"filter": {"invoice_display_name": "EU"}})
    api.put(f"plans/starter/charges/c/filters/{charge_filter['lago_id']}", json={"filter": {"values": {"region": ["us"]}}})
    api.post("plans/starter/charges", json={"charge": {"billable_metric_id": calls["lago_id"], "charge_model": "standard"}})

    assert api.get("plans/starter").json()["plan"]["version"] == 12
    assert numbers(api) == [
        (12, False), (11, False), (10, False), (9, True), (8, False), (7, False), (6, False), (5, False), (4, False),
        (3, True), (2, False), (1, False),
    ]  # fmt: skip
    page = api.get("plans/starter/versions", params={"per_page": 5, "page": 3}).json()
    assert [v["version"] for v in page["plan_versions"]] == [2, 1]
    assert page["meta"]["total_pages"] == 3
    assert api.get("plans/starter/versions/3").json()["plan_version"]["plan"]["amount_cents"] == 2500
    assert api.get("plans/starter/versions/2").json()["plan_version"]["plan"]["amount_cents"] == 2000


def test_refused_edit_writes_no_version(api: httpx.Client, unchanged: Any) -> None:
    create_plan(api)
    with unchanged():
        assert api.put("plans/starter", json={"plan": {"amount_cents": 1, "tax_codes": ["nope"]}}).status_code == 404
    assert numbers(api) == [(1, False)]


def test_unknown_version_is_404(api: httpx.Client) -> None:
    create_plan(api)
    for number in ("2", "0", "abc", "-1"):
        response = api.get(f"plans/starter/versions/{number}")
        assert response.status_code == 404
        assert response.json()["code"] == "plan_version_not_found"


def test_versions_survive_charge_deletion(api: httpx.Client, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c"}])
    api.delete("plans/starter/charges/c")
    first, second = (api.get(f"plans/starter/versions/{n}").json()["plan_version"]["plan"] for n in (1, 2))
    assert [c["code"] for c in first["charges"]] == ["c"]
    assert second["charges"] == []


def test_version_snapshot_is_typed(api: httpx.Client, database: Any, org: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg", filters={"region": ["eu"]})
    create_plan(
        api,
        trial_period="7",
        charges=[
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "graduated",
                "code": "c",
                "properties": {"graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                    {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
                ]},
                "filters": [{"values": {"region": ["eu"]}, "properties": {"graduated_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "3", "flat_amount": "0"}]}}],
            }
        ],
        usage_thresholds=[{"amount_cents": 50}],
        minimum_commitment={"amount_cents": 70},
    )  # fmt: skip
    api.put("plans/starter/charges/c", json={"charge": {"properties": {"graduated_ranges": [
        {"from_value": 0, "to_value": None, "per_unit_amount": "9", "flat_amount": "0"}]}, "cascade_updates": True}})  # fmt: skip
    with database.unit_of_work(write=False) as session:
        plan = repository.get_plan(session, org.id, "starter")
        newest = versions.version_snapshot(session, plan)
        first = versions.version_snapshot(session, plan, 1)
        with pytest.raises(NotFound):
            versions.version_snapshot(session, plan, 3)
    assert (newest.version, newest.cascade, first.version, first.cascade) == (2, True, 1, False)
    assert (first.interval, first.amount_cents, first.amount_currency, first.trial_period) == (
        "monthly", 1000, "EUR", Decimal(7)
    )  # fmt: skip
    charge = first.charges[0]
    assert isinstance(charge.properties, GraduatedProperties)
    assert [t.per_unit_amount for t in charge.properties.graduated_ranges] == [Decimal(1), Decimal("0.5")]
    assert isinstance(charge.filters[0].properties, GraduatedProperties)
    assert charge.filters[0].values == {"region": ["eu"]}
    assert (first.usage_thresholds[0].amount_cents, first.minimum_commitment.amount_cents) == (50, 70)  # type: ignore[union-attr]
    assert newest.charges[0].properties.graduated_ranges[0].per_unit_amount == Decimal(9)  # type: ignore[union-attr]
    assert newest.charges[0].id == charge.id
    assert not isinstance(newest.charges[0].properties, StandardProperties)


def test_subscriptions_keep_their_version_unless_an_edit_cascades(api: httpx.Client, database: Any, org: Any, metric: Any) -> None:
    calls = metric("calls", "count_agg")
    create_plan(api, charges=[{"billable_metric_id": calls["lago_id"], "charge_model": "standard", "code": "c", "properties": {"amount": "1"}}])

    def price(amount: str, cascade: bool) -> None:
        body = {"charge": {"properties": {"amount": amount}, "cascade_updates": cascade}}
        assert api.put("plans/starter/charges/c", json=body).status_code == 200

    with database.unit_of_work(write=False) as session:
        plan = repository.get_plan(session, org.id, "starter")
        early = versions.version_for_new_subscription(plan)
    assert early == 1

    price("2", cascade=False)  # version 2: existing subscriptions stay on 1
    with database.unit_of_work(write=False) as session:
        plan = repository.get_plan(session, org.id, "starter")
        assert versions.effective_version(session, plan, early) == 1
        middle = versions.version_for_new_subscription(plan)
    assert middle == 2

    price("3", cascade=True)  # version 3 cascades: everybody moves to it
    price("4", cascade=False)  # version 4: only new subscriptions get it
    with database.unit_of_work(write=False) as session:
        plan = repository.get_plan(session, org.id, "starter")
        assert versions.effective_version(session, plan, early) == 3
        assert versions.effective_version(session, plan, middle) == 3
        assert versions.version_for_new_subscription(plan) == 4
        assert versions.effective_version(session, plan, 4) == 4
        assert versions.version_snapshot(session, plan, 3).charges[0].properties.amount == Decimal("3")
