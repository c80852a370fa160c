"""``/subscriptions/{external_id}/charges[/{code}[/filters[/{id}]]]``: the charges a subscription
is priced on, and per-subscription overrides of them (its own copy of the plan)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.charge import Charge, ChargeFilter

from billow.core.db import Database
from tests.conftest import make_org
from tests.subscriptions.conftest import Clock, create_plan, error_details, not_found, subscribe, subscribed
from tests.subscriptions.test_overrides import charge_of, parent  # noqa: F401  (the plan fixture)


def plan_of(api: httpx.Client, external_id: str, **params: str) -> dict[str, Any]:
    response = api.get(f"subscriptions/{external_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["subscription"]["plan"]  # type: ignore[no-any-return]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_charges_and_overrides_through_the_client(
    lago: Any, api: httpx.Client, at: Clock, parent: dict[str, Any]  # noqa: F811
) -> None:
    subscribed(api, "deal", "pro")
    subscribed(api, "plain", "pro", customer="other")
    calls = charge_of(parent, "calls")

    # Before any override the subscription is priced on the plan's own charges.
    found = lago.subscription_charges.find("deal", "calls")
    assert (found.lago_id, found.properties) == (calls["lago_id"], {"amount": "0.10"})
    # subscription_charges.find_all sends no Authorization header (a client bug): plain HTTP.
    listed = ok(api.get("subscriptions/deal/charges"))
    assert [c["lago_id"] for c in listed["charges"]] == [c["lago_id"] for c in parent["charges"]]
    assert (listed["meta"]["total_count"], listed["meta"]["current_page"]) == (2, 1)
    paged = ok(api.get("subscriptions/deal/charges", params={"per_page": 1, "page": 2}))
    assert [c["code"] for c in paged["charges"]] == [parent["charges"][1]["code"]]

    updated = lago.subscription_charges.update("deal", "calls", Charge(
        properties={"amount": "0.05"}, invoice_display_name="Calls (deal)", min_amount_cents=200, tax_codes=["vat"],
        charge_model="package"))  # not overridable: ignored
    assert updated.lago_id != calls["lago_id"]
    assert (updated.charge_model, updated.properties, updated.invoice_display_name, updated.min_amount_cents) == (
        "standard", {"amount": "0.05"}, "Calls (deal)", 200)
    assert [tax.code for tax in updated.taxes.__root__] == ["vat"]

    # The subscription is now on its own copy; the plan and the other subscription are not.
    copy = plan_of(api, "deal")
    assert (copy["parent_id"], copy["code"], copy["version"]) == (parent["lago_id"], "pro", 1)
    assert charge_of(copy, "calls")["lago_id"] == updated.lago_id
    assert charge_of(copy, "calls")["lago_parent_id"] == calls["lago_id"]
    assert lago.subscription_charges.find("deal", "calls").lago_id == updated.lago_id
    assert ok(api.get("plans/pro"))["plan"] == parent
    assert plan_of(api, "plain")["lago_id"] == parent["lago_id"]
    assert lago.subscription_charges.find("plain", "calls").properties == {"amount": "0.10"}

    # A second override edits the same copy (one more version of it).
    again = lago.subscription_charges.update("deal", "calls", Charge(properties={"amount": "0.04"}))
    assert (again.lago_id, again.properties, again.invoice_display_name) == (
        updated.lago_id, {"amount": "0.04"}, "Calls (deal)")
    assert plan_of(api, "deal")["version"] == 2
    # Filters sent with the charge are its full new set.
    storage = lago.subscription_charges.update("deal", "storage", Charge(
        filters=[ChargeFilter(values={"region": ["us"]}, properties={"amount": "7"})]))
    assert [(f.values, f.properties) for f in storage.filters.__root__] == [({"region": ["us"]}, {"amount": "7"})]
    assert charge_of(ok(api.get("plans/pro"))["plan"], "storage")["filters"] == charge_of(parent, "storage")["filters"]
    assert [c["lago_id"] for c in ok(api.get("subscriptions/deal/charges"))["charges"]] == [
        c["lago_id"] for c in copy["charges"]]


def test_filters_through_the_client(lago: Any, api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:  # noqa: F811
    subscribed(api, "deal", "pro")
    storage = charge_of(parent, "storage")
    [eu] = storage["filters"]
    listed = lago.subscriptions.find_all_charge_filters("deal", "storage")
    assert [(f.lago_id, f.values) for f in listed["filters"]] == [(eu["lago_id"], {"region": ["eu"]})]

    # Editing the plan's filter (by its id) makes the copy and edits the copy's filter.
    updated = lago.subscriptions.update_charge_filter(
        "deal", "storage", eu["lago_id"], ChargeFilter(properties={"amount": "3"}, invoice_display_name="EU"))
    assert updated.lago_id != eu["lago_id"]
    assert (updated.values, updated.properties, updated.invoice_display_name) == ({"region": ["eu"]}, {"amount": "3"}, "EU")
    assert lago.subscriptions.find_charge_filter("deal", "storage", updated.lago_id).properties == {"amount": "3"}
    assert ok(api.get("plans/pro"))["plan"] == parent

    created = lago.subscriptions.create_charge_filter(
        "deal", "storage", ChargeFilter(values={"region": ["us"]}, properties={"amount": "5"}))
    filters = lago.subscriptions.find_all_charge_filters("deal", "storage")
    assert sorted(((f.values, f.properties) for f in filters["filters"]), key=str) == [
        ({"region": ["eu"]}, {"amount": "3"}), ({"region": ["us"]}, {"amount": "5"})]  # made at one frozen instant
    assert filters["meta"]["total_count"] == 2

    destroyed = lago.subscriptions.destroy_charge_filter("deal", "storage", created.lago_id)
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as missing:
        lago.subscriptions.find_charge_filter("deal", "storage", created.lago_id)
    assert missing.value.status_code == 404
    copy_storage = charge_of(plan_of(api, "deal"), "storage")
    assert [(f["values"], f["properties"]) for f in copy_storage["filters"]] == [({"region": ["eu"]}, {"amount": "3"})]
    assert charge_of(ok(api.get("plans/pro"))["plan"], "storage")["filters"] == storage["filters"]


def test_a_new_filter_on_a_plan_subscription_makes_its_copy(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:  # noqa: F811
    subscribed(api, "deal", "pro")
    created = ok(api.post("subscriptions/deal/charges/storage/filters",
                          json={"filter": {"values": {"region": ["us"]}, "properties": {"amount": "4"}}}))["filter"]
    copy = plan_of(api, "deal")
    assert copy["parent_id"] == parent["lago_id"]
    copied = {f["lago_id"]: f["values"] for f in charge_of(copy, "storage")["filters"]}
    assert copied[created["lago_id"]] == {"region": ["us"]}
    assert sorted(copied.values(), key=str) == [{"region": ["eu"]}, {"region": ["us"]}]
    assert len(charge_of(ok(api.get("plans/pro"))["plan"], "storage")["filters"]) == 1


def test_subscription_status_picks_the_row(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:  # noqa: F811
    create_plan(api, "basic", 100)  # cheaper, no charges: a downgrade waits as a pending row
    subscribed(api, "sub", "pro")
    subscribed(api, "sub", "basic")
    assert len(ok(api.get("subscriptions/sub/charges"))["charges"]) == 2
    assert len(ok(api.get("subscriptions/sub/charges", params={"subscription_status": "active"}))["charges"]) == 2
    pending = ok(api.get("subscriptions/sub/charges", params={"subscription_status": "pending"}))
    assert (pending["charges"], pending["meta"]["total_count"], pending["meta"]["current_page"]) == ([], 0, 0)
    not_found(api.get("subscriptions/sub/charges/calls", params={"subscription_status": "pending"}), "charge")
    not_found(api.get("subscriptions/sub/charges", params={"subscription_status": "terminated"}))
    not_found(api.get("subscriptions/sub/charges", params={"subscription_status": "bogus"}))
    # A write on the pending row gives that row (not the active one) its copy.
    not_found(api.put("subscriptions/sub/charges/calls", params={"subscription_status": "pending"},
                      json={"charge": {"properties": {"amount": "1"}}}), "charge")
    ok(api.put("subscriptions/sub/charges/calls", json={"charge": {"properties": {"amount": "1"}}}))
    assert plan_of(api, "sub")["parent_id"] == parent["lago_id"]
    assert plan_of(api, "sub", status="pending")["code"] == "basic"


def test_errors_change_nothing(api: httpx.Client, at: Clock, unchanged: Any, parent: dict[str, Any]) -> None:  # noqa: F811
    subscribed(api, "sub", "pro")
    [eu] = charge_of(parent, "storage")["filters"]
    base = "subscriptions/sub/charges"
    with unchanged():
        for response in (api.get("subscriptions/nope/charges"), api.get("subscriptions/nope/charges/calls"),
                         api.put("subscriptions/nope/charges/calls", json={"charge": {"min_amount_cents": 1}}),
                         api.post("subscriptions/nope/charges/storage/filters", json={"filter": {"values": {"region": ["us"]}}}),
                         api.get("subscriptions/nope/charges/storage/filters"),
                         api.get(f"subscriptions/nope/charges/storage/filters/{eu['lago_id']}"),
                         api.put(f"subscriptions/nope/charges/storage/filters/{eu['lago_id']}",
                                 json={"filter": {"invoice_display_name": "x"}}),
                         api.delete(f"subscriptions/nope/charges/storage/filters/{eu['lago_id']}")):
            not_found(response)
        for response in (api.get(f"{base}/nope"), api.put(f"{base}/nope", json={"charge": {"min_amount_cents": 1}}),
                         api.get(f"{base}/nope/filters"),
                         api.post(f"{base}/nope/filters", json={"filter": {"values": {"region": ["us"]}}}),
                         api.delete(f"{base}/nope/filters/{eu['lago_id']}")):
            not_found(response, "charge")
        calls_filter = f"{base}/calls/filters/{eu['lago_id']}"  # a filter of another charge
        for response in (api.get(calls_filter), api.put(calls_filter, json={"filter": {"invoice_display_name": "x"}}), api.delete(calls_filter),
                         api.get(f"{base}/storage/filters/not-a-uuid")):
            not_found(response, "charge_filter")

        assert error_details(api.put(f"{base}/calls", json={"charge": {"properties": {"amount": "-1"}}})) == {
            "properties": ["invalid_amount"]}
        assert "min_amount_cents" in error_details(api.put(f"{base}/calls", json={"charge": {"min_amount_cents": -5}}))
        assert error_details(api.post(f"{base}/storage/filters", json={"filter": {
            "values": {"region": ["eu"]}, "properties": {"amount": "1"}}})) == {"values": ["value_already_exist"]}
        assert error_details(api.post(f"{base}/storage/filters", json={"filter": {
            "values": {"region": ["mars"]}, "properties": {"amount": "1"}}})) == {"values": ["value_is_invalid"]}
        assert api.put(f"{base}/calls", json={"properties": {}}).status_code == 400
        assert api.post(f"{base}/storage/filters", json={}).status_code == 400
        assert api.get("plans/pro").json()["plan"] == parent
    assert plan_of(api, "sub")["lago_id"] == parent["lago_id"]


def test_other_organization_cannot_see_or_touch(
    api: httpx.Client, server: Any, database: Database, at: Clock, parent: dict[str, Any]  # noqa: F811
) -> None:
    subscribed(api, "sub", "pro")
    other = make_org(database, "Other")
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {other.api_key}"}) as client:
        for response in (client.get("subscriptions/sub/charges"), client.get("subscriptions/sub/charges/calls"),
                         client.put("subscriptions/sub/charges/calls", json={"charge": {"min_amount_cents": 5}}),
                         client.get("subscriptions/sub/charges/storage/filters"),
                         client.post("subscriptions/sub/charges/storage/filters",
                                     json={"filter": {"values": {"region": ["us"]}}})):
            not_found(response)
    assert subscribe(api, "sub", "pro").status_code == 200  # same plan: unchanged, still there
    assert plan_of(api, "sub")["lago_id"] == parent["lago_id"]
    assert charge_of(plan_of(api, "sub"), "calls")["min_amount_cents"] == 0
    # Without a key: 401.
    with httpx.Client(base_url=f"{server.url}/api/v1/") as anonymous:
        assert anonymous.get("subscriptions/sub/charges").status_code == 401
