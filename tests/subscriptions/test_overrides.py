"""``plan_overrides``: the subscription's own copy of its plan, through the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lago_python_client.models import Subscription
from lago_python_client.models.charge import ChargeOverrides, ChargesOverrides
from lago_python_client.models.plan import PlanOverrides
from lago_python_client.models.usage_threshold import (
    UsageThresholdOverrides,
    UsageThresholdsOverrides,
)

from billow.core.db import Database
from tests.conftest import Org
from tests.plans.conftest import insert_metric
from tests.subscriptions.conftest import (
    Clock,
    create_plan,
    error_details,
    not_found,
    subscribe,
    subscribed,
)


def put(api: httpx.Client, external_id: str, **fields: Any) -> httpx.Response:
    return api.put(f"subscriptions/{external_id}", json={"subscription": fields})


def fetched(api: httpx.Client, external_id: str) -> dict[str, Any]:
    response = api.get(f"subscriptions/{external_id}")
    assert response.status_code == 200, response.text
    return response.json()["subscription"]  # type: ignore[no-any-return]


@pytest.fixture
def parent(api: httpx.Client, database: Database, org: Org) -> dict[str, Any]:
    """Plan ``pro``: 10.00 EUR a month, two standard charges (calls 0.10, storage 1.00), a
    commitment of 50.00 and a 100.00 usage threshold."""
    calls = insert_metric(database, org, "calls", "count_agg")
    storage = insert_metric(database, org, "storage", "sum_agg", filters={"region": ["eu", "us"]})
    api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
    return create_plan(
        api, "pro", 1000, description="Pro plan", metadata={"tier": "2"},
        charges=[
            {"billable_metric_id": calls["lago_id"], "charge_model": "standard", "properties": {"amount": "0.10"}},
            {"billable_metric_id": storage["lago_id"], "charge_model": "standard", "properties": {"amount": "1"},
             "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "2"}}]},
        ],
        minimum_commitment={"amount_cents": 5000},
        usage_thresholds=[{"amount_cents": 10000, "threshold_display_name": "first"}],
    )


def charge_of(plan: dict[str, Any], code: str) -> dict[str, Any]:
    return next(charge for charge in plan["charges"] if charge["billable_metric_code"] == code)


OVERRIDES = {"name": "Pro for Acme", "amount_cents": 750, "description": "negotiated", "trial_period": 3,
             "invoice_display_name": "Pro (Acme)", "tax_codes": ["vat"], "metadata": {"deal": "acme"}}


def test_overrides_give_the_subscription_its_own_copy_of_the_plan(
    api: httpx.Client, at: Clock, parent: dict[str, Any]
) -> None:
    calls = charge_of(parent, "calls")
    body = subscribed(api, "sub-1", "pro", plan_overrides={
        **OVERRIDES,
        "charges": [{"id": calls["lago_id"], "properties": {"amount": "0.05"}, "min_amount_cents": 300,
                     "invoice_display_name": "API calls"}],
        "minimum_commitment": {"amount_cents": 6000},
        "usage_thresholds": [{"amount_cents": 2000}, {"amount_cents": 500, "recurring": True}],
    })
    plan = body["plan"]
    assert (body["plan_code"], body["plan_amount_cents"], body["plan_amount_currency"]) == ("pro", 750, "EUR")
    assert (plan["code"], plan["parent_id"], plan["version"]) == ("pro", parent["lago_id"], 1)
    assert plan["lago_id"] != parent["lago_id"]
    assert {key: plan[key] for key in OVERRIDES if key != "tax_codes"} == {
        key: value for key, value in OVERRIDES.items() if key != "tax_codes"}
    assert [tax["code"] for tax in plan["taxes"]] == ["vat"]
    assert plan["interval"] == "monthly" and plan["pay_in_advance"] is False

    copied_calls, copied_storage = charge_of(plan, "calls"), charge_of(plan, "storage")
    assert copied_calls["lago_parent_id"] == calls["lago_id"] and copied_calls["lago_id"] != calls["lago_id"]
    assert (copied_calls["properties"], copied_calls["min_amount_cents"], copied_calls["invoice_display_name"]) == (
        {"amount": "0.05"}, 300, "API calls")
    storage = charge_of(parent, "storage")
    assert copied_storage["lago_parent_id"] == storage["lago_id"]
    assert (copied_storage["properties"], [(f["values"], f["properties"]) for f in copied_storage["filters"]]) == (
        {"amount": "1"}, [({"region": ["eu"]}, {"amount": "2"})])
    assert plan["minimum_commitment"]["amount_cents"] == 6000
    assert [(t["amount_cents"], t["recurring"]) for t in plan["usage_thresholds"]] == [(2000, False), (500, True)]
    assert body["applicable_usage_thresholds"] == [
        {"threshold_display_name": None, "amount_cents": 2000, "recurring": False},
        {"threshold_display_name": None, "amount_cents": 500, "recurring": True},
    ]

    # The parent is untouched, and the only plan the plans API shows.
    assert api.get("plans/pro").json()["plan"] == parent
    listed = api.get("plans").json()
    assert ([p["lago_id"] for p in listed["plans"]], listed["meta"]["total_count"]) == ([parent["lago_id"]], 1)
    # The list of subscriptions finds it by the parent's code.
    assert [s["external_id"] for s in api.get("subscriptions", params={"plan_code": "pro"}).json()["subscriptions"]] == [
        "sub-1"]


def test_subscriptions_without_overrides_stay_on_the_parent(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:
    body = subscribed(api, "plain", "pro")
    assert body["plan"]["lago_id"] == parent["lago_id"] and body["plan"]["parent_id"] is None
    assert body["applicable_usage_thresholds"] == [{"threshold_display_name": "first", "amount_cents": 10000,
                                                    "recurring": False}]


def test_bad_overrides_change_nothing(api: httpx.Client, at: Clock, unchanged: Any, parent: dict[str, Any]) -> None:
    calls = charge_of(parent, "calls")
    subscribed(api, "sub-1", "pro")
    with unchanged():
        for send in (lambda **o: subscribe(api, "sub-2", "pro", plan_overrides=o),
                     lambda **o: put(api, "sub-1", plan_overrides=o)):
            not_found(send(charges=[{"id": "4b7e4e0a-0000-4000-8000-000000000000", "min_amount_cents": 1}]), "charge")
            not_found(send(charges=[{"min_amount_cents": 1}]), "charge")
            not_found(send(tax_codes=["nope"]), "tax")
            assert error_details(send(charges=[{"id": calls["lago_id"], "properties": {"amount": "-1"}}])) == {
                "properties": ["invalid_amount"]}
            assert error_details(send(usage_thresholds=[{"amount_cents": 5, "recurring": True},
                                                        {"amount_cents": 7, "recurring": True}])) == {
                "usage_thresholds": ["multiple_recurring_thresholds"]}
            assert error_details(send(trial_period=-1)) == {"trial_period": ["value_is_out_of_range"]}
            assert error_details(send(metadata={"nested": {"a": 1}})) == {"metadata": ["value_is_invalid"]}
        # Another currency than the customer's, on a customer already billed in EUR.
        assert error_details(put(api, "sub-1", plan_overrides={"amount_currency": "USD"})) == {
            "currency": ["currencies_does_not_match"]}


def test_put_creates_the_copy_then_edits_it(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:
    calls = charge_of(parent, "calls")
    subscribed(api, "sub-1", "pro")
    first = put(api, "sub-1", plan_overrides={"amount_cents": 900}).json()["subscription"]["plan"]
    assert (first["parent_id"], first["amount_cents"], first["version"]) == (parent["lago_id"], 900, 1)
    assert charge_of(first, "calls")["properties"] == {"amount": "0.10"}

    # Again: the same copy changes (a charge named by the parent's id or by the copy's own id).
    second = put(api, "sub-1", plan_overrides={
        "charges": [{"id": calls["lago_id"], "properties": {"amount": "0.02"}}],
        "usage_thresholds": [],
    }).json()["subscription"]
    plan = second["plan"]
    assert (plan["lago_id"], plan["amount_cents"], plan["version"]) == (first["lago_id"], 900, 2)
    assert charge_of(plan, "calls")["properties"] == {"amount": "0.02"}
    assert plan["usage_thresholds"] == []
    # Without thresholds of its own, the copy falls back on its parent's.
    assert second["applicable_usage_thresholds"] == [
        {"threshold_display_name": "first", "amount_cents": 10000, "recurring": False}]
    own_id = charge_of(plan, "calls")["lago_id"]
    third = put(api, "sub-1", plan_overrides={"charges": [{"id": own_id, "invoice_display_name": "Calls"}]})
    assert charge_of(third.json()["subscription"]["plan"], "calls")["invoice_display_name"] == "Calls"
    assert fetched(api, "sub-1")["plan_amount_cents"] == 900


def test_editing_the_parent_leaves_the_copy_alone(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:
    calls = charge_of(parent, "calls")
    subscribed(api, "sub-1", "pro", plan_overrides={"amount_cents": 800})
    response = api.put("plans/pro", json={"plan": {"amount_cents": 5000, "charges": [
        {"id": calls["lago_id"], "properties": {"amount": "9"}}, {"id": charge_of(parent, "storage")["lago_id"]}]}})
    assert response.status_code == 200, response.text
    body = fetched(api, "sub-1")
    assert (body["plan_amount_cents"], body["plan"]["version"]) == (800, 1)
    assert charge_of(body["plan"], "calls")["properties"] == {"amount": "0.10"}
    # The parent's own subscriptions keep their version too (no cascade): a new one gets the edit.
    assert subscribed(api, "sub-2", "pro", customer="other")["plan_amount_cents"] == 5000


def test_a_cascaded_parent_edit_reaches_what_the_copy_did_not_override(
    api: httpx.Client, at: Clock, database: Database, org: Org, parent: dict[str, Any]
) -> None:
    calls, storage = charge_of(parent, "calls"), charge_of(parent, "storage")
    subscribed(api, "sub-1", "pro", plan_overrides={
        "amount_cents": 800, "charges": [{"id": calls["lago_id"], "properties": {"amount": "0.05"}}]})
    # Without cascade_updates the copy keeps everything.
    quiet = api.put("plans/pro", json={"plan": {"trial_period": 1, "charges": [
        {"id": calls["lago_id"]}, {"id": storage["lago_id"], "min_amount_cents": 100}]}})
    assert quiet.status_code == 200, quiet.text
    plan = fetched(api, "sub-1")["plan"]
    assert (plan["trial_period"], charge_of(plan, "storage")["min_amount_cents"], plan["version"]) == (None, 0, 1)

    events = insert_metric(database, org, "events", "count_agg")
    response = api.put("plans/pro", json={"plan": {"amount_cents": 5000, "trial_period": 2, "cascade_updates": True,
                                                   "charges": [
        {"id": calls["lago_id"], "properties": {"amount": "9"}},
        {"id": storage["lago_id"], "properties": {"amount": "3"},
         "filters": [{"values": {"region": ["us"]}, "properties": {"amount": "4"}}]},
        {"billable_metric_id": events["lago_id"], "charge_model": "standard", "properties": {"amount": "0.5"}},
    ]}})
    assert response.status_code == 200, response.text
    plan = fetched(api, "sub-1")["plan"]
    # Overridden: the amount and the calls price stay. Not overridden: storage, the new charge. The
    # trial changed before without cascade (1 day): the copy no longer had the parent's, it keeps none.
    assert (plan["amount_cents"], plan["trial_period"], plan["version"]) == (800, None, 2)
    assert charge_of(plan, "calls")["properties"] == {"amount": "0.05"}
    copied = charge_of(plan, "storage")
    assert (copied["properties"], [(f["values"], f["properties"]) for f in copied["filters"]]) == (
        {"amount": "3"}, [({"region": ["us"]}, {"amount": "4"})])
    # min_amount_cents of storage (changed without cascade) was not what the copy had: it stays 0.
    assert copied["min_amount_cents"] == 0
    assert charge_of(plan, "events")["properties"] == {"amount": "0.5"}

    # A charge removed from the parent with cascade leaves the copy too.
    response = api.put("plans/pro", json={"plan": {"cascade_updates": True, "charges": [{"id": calls["lago_id"]}]}})
    assert response.status_code == 200, response.text
    assert [c["billable_metric_code"] for c in fetched(api, "sub-1")["plan"]["charges"]] == ["calls"]


def test_deleting_the_parent_deletes_its_copies(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:
    subscribed(api, "sub-1", "pro", plan_overrides={"amount_cents": 800})
    assert api.delete("plans/pro").status_code == 200
    not_found(api.get("plans/pro"), "plan")
    # The code is free again: a new plan ``pro`` does not collide with the deleted copy.
    create_plan(api, "pro", 100)
    assert subscribed(api, "sub-2", "pro", customer="other")["plan"]["amount_cents"] == 100


def test_a_change_to_another_plan_can_carry_overrides(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:
    create_plan(api, "basic", 100)
    subscribed(api, "sub-1", "basic")
    upgraded = subscribed(api, "sub-1", "pro", plan_overrides={"amount_cents": 600})
    assert (upgraded["plan_code"], upgraded["previous_plan_code"], upgraded["plan_amount_cents"]) == ("pro", "basic", 600)
    assert upgraded["plan"]["parent_id"] == parent["lago_id"]
    # The same plan again (with or without overrides) leaves the subscription as it is.
    again = subscribed(api, "sub-1", "pro", plan_overrides={"amount_cents": 1})
    assert (again["lago_id"], again["plan_amount_cents"]) == (upgraded["lago_id"], 600)


def test_subscription_thresholds_and_progressive_billing_disabled(
    api: httpx.Client, at: Clock, parent: dict[str, Any], unchanged: Any
) -> None:
    own = subscribed(api, "own", "pro", usage_thresholds=[{"amount_cents": 300, "threshold_display_name": "mine"}])
    assert own["plan"]["lago_id"] == parent["lago_id"]  # no copy of the plan for this
    assert (own["progressive_billing_disabled"], own["applicable_usage_thresholds"]) == (
        False, [{"threshold_display_name": "mine", "amount_cents": 300, "recurring": False}])

    off = subscribed(api, "off", "pro", customer="other", progressive_billing_disabled=True)
    assert (off["progressive_billing_disabled"], off["applicable_usage_thresholds"]) == (True, [])
    back_on = put(api, "off", progressive_billing_disabled=False).json()["subscription"]
    assert back_on["applicable_usage_thresholds"] == [
        {"threshold_display_name": "first", "amount_cents": 10000, "recurring": False}]

    # An empty list removes the subscription's own thresholds: the plan's apply again.
    cleared = put(api, "own", usage_thresholds=[]).json()["subscription"]
    assert cleared["applicable_usage_thresholds"] == [
        {"threshold_display_name": "first", "amount_cents": 10000, "recurring": False}]
    with unchanged():
        assert error_details(put(api, "own", usage_thresholds=[{"amount_cents": 5}, {"amount_cents": 5}])) == {
            "usage_thresholds": ["duplicated_values"]}
        assert error_details(put(api, "own", usage_thresholds=[{"amount_cents": 0}])) == {
            "amount_cents": ["value_is_out_of_range"]}


def test_client_creates_and_updates_overrides(api: httpx.Client, lago: Any, at: Clock, parent: dict[str, Any]) -> None:
    calls = charge_of(parent, "calls")
    created = lago.subscriptions.create(Subscription(
        external_customer_id="acme", plan_code="pro", external_id="sub-1",
        plan_overrides=PlanOverrides(
            amount_cents=700, name="Acme Pro",
            charges=ChargesOverrides(__root__=[ChargeOverrides(id=calls["lago_id"], properties={"amount": "0.07"})]),
            usage_thresholds=UsageThresholdsOverrides(__root__=[UsageThresholdOverrides(amount_cents=4000)]),
        ),
    ))
    assert (created.plan_code, created.plan_amount_cents) == ("pro", "700")
    plan = fetched(api, "sub-1")["plan"]
    assert (plan["name"], plan["parent_id"], charge_of(plan, "calls")["properties"]) == (
        "Acme Pro", parent["lago_id"], {"amount": "0.07"})
    assert [t["amount_cents"] for t in plan["usage_thresholds"]] == [4000]

    updated = lago.subscriptions.update(Subscription(plan_overrides=PlanOverrides(amount_cents=650)), "sub-1")
    assert updated.plan_amount_cents == "650"
    assert fetched(api, "sub-1")["plan"]["lago_id"] == plan["lago_id"]
