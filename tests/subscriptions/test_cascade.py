"""``cascade_updates`` on a plan edit carries its taxes, minimum commitment and usage thresholds
(of the plan and of its charges) to the override copies that had not overridden them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.subscriptions.conftest import Clock, subscribed
from tests.subscriptions.test_overrides import charge_of, parent  # noqa: F401  (the plan fixture)


def edit(api: httpx.Client, cascade: bool = True, **fields: Any) -> None:
    response = api.put("plans/pro", json={"plan": {**fields, "cascade_updates": cascade}})
    assert response.status_code == 200, response.text


def plan_of(api: httpx.Client, external_id: str) -> dict[str, Any]:
    response = api.get(f"subscriptions/{external_id}")
    assert response.status_code == 200, response.text
    return response.json()["subscription"]["plan"]  # type: ignore[no-any-return]


def taxes(owner: dict[str, Any]) -> list[str]:
    return sorted(tax["code"] for tax in owner["taxes"])


def thresholds(plan: dict[str, Any]) -> list[tuple[int, bool, str | None]]:
    return sorted((t["amount_cents"], t["recurring"], t["threshold_display_name"]) for t in plan["usage_thresholds"])


def commitment(plan: dict[str, Any]) -> int | None:
    return None if plan["minimum_commitment"] is None else plan["minimum_commitment"]["amount_cents"]


@pytest.fixture
def gst(api: httpx.Client) -> None:
    response = api.post("taxes", json={"tax": {"name": "GST", "code": "gst", "rate": "5"}})
    assert response.status_code == 200, response.text


def test_plan_taxes(api: httpx.Client, at: Clock, parent: dict[str, Any], gst: None) -> None:  # noqa: F811
    subscribed(api, "kept", "pro", customer="a", plan_overrides={"tax_codes": ["gst"]})
    subscribed(api, "taken", "pro", customer="b", plan_overrides={"amount_cents": 900})
    edit(api, cascade=False, tax_codes=["vat"])
    assert [taxes(plan_of(api, name)) for name in ("kept", "taken")] == [["gst"], []]

    edit(api, tax_codes=["vat", "gst"])  # the copies now differ from the parent's previous []: ...
    assert [taxes(plan_of(api, name)) for name in ("kept", "taken")] == [["gst"], []]  # ... neither takes it
    subscribed(api, "fresh", "pro", customer="c", plan_overrides={"amount_cents": 900})
    edit(api, tax_codes=["vat"])
    assert [taxes(plan_of(api, name)) for name in ("kept", "fresh")] == [["gst"], ["vat"]]
    assert plan_of(api, "fresh")["version"] == 2


def test_charge_taxes(api: httpx.Client, at: Clock, parent: dict[str, Any], gst: None) -> None:  # noqa: F811
    calls = charge_of(parent, "calls")
    subscribed(api, "kept", "pro", customer="a", plan_overrides={
        "charges": [{"id": calls["lago_id"], "tax_codes": ["gst"]}]})
    subscribed(api, "taken", "pro", customer="b", plan_overrides={
        "charges": [{"id": calls["lago_id"], "min_amount_cents": 100}]})
    edit(api, charges=[{"id": calls["lago_id"], "tax_codes": ["vat"]}, {"id": charge_of(parent, "storage")["lago_id"]}])
    kept, taken = plan_of(api, "kept"), plan_of(api, "taken")
    assert (taxes(charge_of(kept, "calls")), taxes(charge_of(taken, "calls"))) == (["gst"], ["vat"])
    assert charge_of(taken, "calls")["min_amount_cents"] == 100  # its own override stays
    assert taxes(charge_of(taken, "storage")) == []


def test_minimum_commitment(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:  # noqa: F811
    subscribed(api, "kept", "pro", customer="a", plan_overrides={"minimum_commitment": {"amount_cents": 6000}})
    subscribed(api, "taken", "pro", customer="b", plan_overrides={"amount_cents": 900})
    edit(api, cascade=False, minimum_commitment={"amount_cents": 6500})
    assert [commitment(plan_of(api, name)) for name in ("kept", "taken")] == [6000, 5000]

    subscribed(api, "fresh", "pro", customer="c", plan_overrides={"amount_cents": 900})  # copied at 6500
    edit(api, minimum_commitment={"amount_cents": 7000, "tax_codes": ["vat"]})
    assert [commitment(plan_of(api, name)) for name in ("kept", "taken", "fresh")] == [6000, 5000, 7000]
    assert taxes(plan_of(api, "fresh")["minimum_commitment"]) == ["vat"]
    edit(api, minimum_commitment={})  # removed from the parent: from the copies that had it too
    assert [commitment(plan_of(api, name)) for name in ("kept", "taken", "fresh")] == [6000, 5000, None]
    assert plan_of(api, "fresh")["version"] == 3


def test_usage_thresholds(api: httpx.Client, at: Clock, parent: dict[str, Any]) -> None:  # noqa: F811
    subscribed(api, "kept", "pro", customer="a", plan_overrides={"usage_thresholds": [{"amount_cents": 500}]})
    subscribed(api, "taken", "pro", customer="b", plan_overrides={"amount_cents": 900})
    edit(api, usage_thresholds=[{"amount_cents": 20000, "threshold_display_name": "big"},
                                {"amount_cents": 1000, "recurring": True}])
    assert thresholds(plan_of(api, "kept")) == [(500, False, None)]
    assert thresholds(plan_of(api, "taken")) == [(1000, True, None), (20000, False, "big")]
    taken = api.get("subscriptions/taken").json()["subscription"]
    assert sorted(t["amount_cents"] for t in taken["applicable_usage_thresholds"]) == [1000, 20000]

    edit(api, cascade=False, usage_thresholds=[])
    assert thresholds(plan_of(api, "taken")) == [(1000, True, None), (20000, False, "big")]
    assert thresholds(api.get("plans/pro").json()["plan"]) == []
