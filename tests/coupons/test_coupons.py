"""Coupons through the official Python client and the raw wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Coupon
from lago_python_client.models.coupon import LimitationConfiguration

from tests.conftest import make_org
from tests.coupons.support import FIXED
from tests.customers.support import (
    client_for,
    create_customer,
    insert_metric,
    insert_plan,
)

COUPON_KEYS = {
    "lago_id",
    "name",
    "code",
    "description",
    "coupon_type",
    "amount_cents",
    "amount_currency",
    "percentage_rate",
    "frequency",
    "frequency_duration",
    "reusable",
    "limited_plans",
    "plan_codes",
    "limited_billable_metrics",
    "billable_metric_codes",
    "expiration",
    "expiration_at",
    "created_at",
    "terminated_at",
}
PERCENT = {
    "name": "Ten off",
    "code": "ten",
    "coupon_type": "percentage",
    "percentage_rate": "10.5",
    "frequency": "recurring",
    "frequency_duration": 3,
    "expiration": "no_expiration",
}


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def post(api: httpx.Client, **fields) -> httpx.Response:
    return api.post("coupons", json={"coupon": fields})


def test_crud_through_the_client(lago, api: httpx.Client, database, org) -> None:
    insert_plan(database, org.id, "startup")
    insert_plan(database, org.id, "scale")
    expires = future(10)
    created = lago.coupons.create(
        Coupon(
            name="Launch",
            code="launch",
            description="Launch offer",
            coupon_type="percentage",
            percentage_rate=12.5,
            frequency="recurring",
            frequency_duration=6,
            expiration="time_limit",
            expiration_at=expires,
            reusable=False,
            applies_to=LimitationConfiguration(plan_codes=["startup", "scale"]),
        )
    )
    assert (created.name, created.code, created.description) == ("Launch", "launch", "Launch offer")
    assert (created.coupon_type, created.percentage_rate) == ("percentage", 12.5)
    assert (created.amount_cents, created.amount_currency) == (None, None)
    assert (created.frequency, created.frequency_duration) == ("recurring", 6)
    assert (created.expiration, created.expiration_at) == ("time_limit", expires)
    assert created.reusable is False
    assert (created.limited_plans, created.plan_codes) == (True, ["scale", "startup"])
    assert (created.limited_billable_metrics, created.billable_metric_codes) == (False, [])
    assert created.terminated_at is None
    assert created.created_at.endswith("Z")

    assert lago.coupons.find("launch").dict() == created.dict()

    updated = lago.coupons.update(Coupon(name="Launch 2", percentage_rate=15.0), "launch")
    assert (updated.name, updated.percentage_rate, updated.frequency_duration) == ("Launch 2", 15.0, 6)
    assert updated.plan_codes == ["scale", "startup"]

    listed = lago.coupons.find_all()
    assert [c.code for c in listed["coupons"]] == ["launch"]
    assert listed["meta"]["total_count"] == 1

    deleted = lago.coupons.destroy("launch")
    assert deleted.lago_id == created.lago_id
    assert deleted.terminated_at is not None and deleted.terminated_at.endswith("Z")
    with pytest.raises(LagoApiError) as missing:
        lago.coupons.find("launch")
    assert missing.value.status_code == 404
    assert lago.coupons.find_all()["coupons"] == []


def test_wire_shape(api: httpx.Client) -> None:
    fixed = post(api, **FIXED).json()["coupon"]
    assert set(fixed) == COUPON_KEYS
    assert (fixed["amount_cents"], fixed["amount_currency"], fixed["percentage_rate"]) == (1000, "EUR", None)
    assert (fixed["frequency_duration"], fixed["expiration_at"], fixed["description"]) == (None, None, None)
    assert fixed["reusable"] is True  # default
    assert (
        fixed["limited_plans"],
        fixed["plan_codes"],
        fixed["limited_billable_metrics"],
        fixed["billable_metric_codes"],
    ) == (False, [], False, [])
    percent = post(api, **PERCENT).json()["coupon"]
    assert percent["percentage_rate"] == "10.5"  # a decimal string
    assert (percent["amount_cents"], percent["amount_currency"]) == (None, None)
    assert api.get("coupons/ten").json() == {"coupon": percent}
    assert [c["code"] for c in api.get("coupons").json()["coupons"]] == ["ten", "welcome"]


def test_values_the_kind_does_not_use_are_cleared(api: httpx.Client) -> None:
    fixed = post(api, **FIXED, percentage_rate="5", frequency_duration=4, expiration_at=future()).json()["coupon"]
    assert (fixed["percentage_rate"], fixed["frequency_duration"], fixed["expiration_at"]) == (None, None, None)
    # Switching the kind by update: the new kind's values are then required, the old ones cleared.
    switched = api.put(
        "coupons/welcome", json={"coupon": {"coupon_type": "percentage", "percentage_rate": "20"}}
    ).json()
    assert switched["coupon"]["percentage_rate"] == "20"
    assert (switched["coupon"]["amount_cents"], switched["coupon"]["amount_currency"]) == (None, None)


PAST = "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("base", "changes", "field", "code"),
    [
        (FIXED, {"name": None}, "name", "value_is_mandatory"),
        (FIXED, {"code": None}, "code", "value_is_mandatory"),
        (FIXED, {"coupon_type": None}, "coupon_type", "value_is_mandatory"),
        (FIXED, {"coupon_type": "gift"}, "coupon_type", "value_is_invalid"),
        (FIXED, {"frequency": None}, "frequency", "value_is_mandatory"),
        (FIXED, {"frequency": "daily"}, "frequency", "value_is_invalid"),
        (FIXED, {"expiration": None}, "expiration", "value_is_mandatory"),
        (FIXED, {"expiration": "someday"}, "expiration", "value_is_invalid"),
        (FIXED, {"amount_cents": None}, "amount_cents", "value_is_mandatory"),
        (FIXED, {"amount_cents": 0}, "amount_cents", "value_is_out_of_range"),
        (FIXED, {"amount_cents": 9.5}, "amount_cents", "value_is_invalid"),
        (FIXED, {"amount_currency": None}, "amount_currency", "value_is_mandatory"),
        (FIXED, {"amount_currency": "EUX"}, "amount_currency", "value_is_invalid"),
        (PERCENT, {"percentage_rate": None}, "percentage_rate", "value_is_mandatory"),
        (PERCENT, {"percentage_rate": "0"}, "percentage_rate", "value_is_out_of_range"),
        (PERCENT, {"percentage_rate": "100.01"}, "percentage_rate", "value_is_out_of_range"),
        (PERCENT, {"percentage_rate": "ten"}, "percentage_rate", "value_is_invalid"),
        (PERCENT, {"percentage_rate": "1.123456"}, "percentage_rate", "value_is_invalid"),
        (PERCENT, {"frequency_duration": None}, "frequency_duration", "value_is_mandatory"),
        (PERCENT, {"frequency_duration": 0}, "frequency_duration", "value_is_out_of_range"),
        (FIXED, {"expiration": "time_limit"}, "expiration_at", "value_is_mandatory"),
        (FIXED, {"expiration": "time_limit", "expiration_at": PAST}, "expiration_at", "invalid_date"),
        (FIXED, {"expiration": "time_limit", "expiration_at": "next week"}, "expiration_at", "value_is_invalid"),
        (FIXED, {"reusable": "sometimes"}, "reusable", "value_is_invalid"),
    ],
)
def test_create_validation(api: httpx.Client, unchanged, base: dict, changes: dict, field: str, code: str) -> None:
    payload = {key: value for key, value in {**base, **changes}.items() if value is not None}
    with unchanged():
        response = post(api, **payload)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_errors"
    assert code in response.json()["error_details"][field]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"coupon_type": "percentage"}, "percentage_rate", "value_is_mandatory"),
        ({"frequency": "recurring"}, "frequency_duration", "value_is_mandatory"),
        ({"expiration": "time_limit"}, "expiration_at", "value_is_mandatory"),
        ({"expiration": "time_limit", "expiration_at": PAST}, "expiration_at", "invalid_date"),
        ({"amount_cents": -1}, "amount_cents", "value_is_out_of_range"),
        ({"name": ""}, "name", "value_is_invalid"),
    ],
)
def test_update_validation(api: httpx.Client, unchanged, changes: dict, field: str, code: str) -> None:
    post(api, **FIXED)
    with unchanged():
        response = api.put("coupons/welcome", json={"coupon": changes})
    assert response.status_code == 422, response.text
    assert response.json()["error_details"] == {field: [code]}


def test_code_unique_among_live_coupons_and_reusable_after_delete(api: httpx.Client, unchanged) -> None:
    post(api, **FIXED)
    post(api, **PERCENT)
    with unchanged():
        for response in (post(api, **FIXED), api.put("coupons/ten", json={"coupon": {"code": "welcome"}})):
            assert response.status_code == 422
            assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    deleted = api.delete("coupons/welcome").json()["coupon"]
    assert deleted["terminated_at"] is not None
    assert api.get("coupons/welcome").status_code == 404
    again = post(api, **FIXED).json()["coupon"]
    assert again["lago_id"] != deleted["lago_id"]
    assert again["terminated_at"] is None


def test_unknown_coupon_is_404(api: httpx.Client, unchanged) -> None:
    with unchanged():
        for response in (
            api.get("coupons/nope"),
            api.put("coupons/nope", json={"coupon": {"name": "X"}}),
            api.delete("coupons/nope"),
        ):
            assert response.status_code == 404
            assert response.json() == {"status": 404, "error": "Not Found", "code": "coupon_not_found"}
        assert api.post("coupons", json={"coupons": FIXED}).status_code == 400


def test_limitations_to_metrics_and_unknown_codes(api: httpx.Client, database, org, unchanged) -> None:
    insert_plan(database, org.id, "basic")
    insert_metric(database, org.id, "api_calls")
    insert_metric(database, org.id, "storage")
    deleted_plan = insert_plan(database, org.id, "old", deleted_at=datetime.now(UTC))
    assert deleted_plan

    limited = post(api, **FIXED, applies_to={"billable_metric_codes": ["storage", "api_calls", "storage"]}).json()[
        "coupon"
    ]
    assert (limited["limited_billable_metrics"], limited["billable_metric_codes"]) == (True, ["api_calls", "storage"])
    assert (limited["limited_plans"], limited["plan_codes"]) == (False, [])

    with unchanged():
        cases = [
            ({"plan_codes": ["basic", "ghost"]}, 404, "plans_not_found"),
            ({"plan_codes": ["old"]}, 404, "plans_not_found"),  # deleted plans do not count
            ({"billable_metric_codes": ["ghost"]}, 404, "billable_metrics_not_found"),
            (
                {"plan_codes": ["basic"], "billable_metric_codes": ["storage"]},
                405,
                "only_one_limitation_type_per_coupon_allowed",
            ),
        ]
        for applies_to, status, code in cases:
            for response in (
                post(api, **{**FIXED, "code": "other"}, applies_to=applies_to),
                api.put("coupons/welcome", json={"coupon": {"applies_to": applies_to}}),
            ):
                assert response.status_code == status, response.text
                assert response.json()["code"] == code

    # Sending one kind of limitation switches a coupon over from the other kind.
    switched = api.put("coupons/welcome", json={"coupon": {"applies_to": {"plan_codes": ["basic"]}}}).json()["coupon"]
    assert (switched["limited_plans"], switched["plan_codes"]) == (True, ["basic"])
    assert (switched["limited_billable_metrics"], switched["billable_metric_codes"]) == (False, [])
    # Other updates leave the limitations alone; an empty list lifts them.
    assert api.put("coupons/welcome", json={"coupon": {"name": "W"}}).json()["coupon"]["plan_codes"] == ["basic"]
    lifted = api.put("coupons/welcome", json={"coupon": {"applies_to": {"plan_codes": []}}}).json()["coupon"]
    assert (lifted["limited_plans"], lifted["plan_codes"]) == (False, [])


def test_an_applied_coupon_only_changes_name_description_and_expiration(
    api: httpx.Client, database, org, unchanged
) -> None:
    insert_plan(database, org.id, "basic")
    post(api, **FIXED, reusable=True)
    create_customer(api, "cus_1", currency="EUR")
    assert (
        api.post(
            "applied_coupons", json={"applied_coupon": {"external_customer_id": "cus_1", "coupon_code": "welcome"}}
        ).status_code
        == 200
    )

    expires = future(5)
    changed = api.put(
        "coupons/welcome",
        json={
            "coupon": {
                "name": "Hello",
                "description": "Now described",
                "expiration": "time_limit",
                "expiration_at": expires,
            }
        },
    ).json()["coupon"]
    assert (changed["name"], changed["description"], changed["expiration_at"]) == ("Hello", "Now described", expires)
    # Resending the current values is fine.
    same = api.put(
        "coupons/welcome", json={"coupon": {"amount_cents": 1000, "amount_currency": "EUR", "code": "welcome"}}
    )
    assert same.status_code == 200

    with unchanged():
        for changes in (
            {"amount_cents": 500},
            {"amount_currency": "USD"},
            {"code": "renamed"},
            {"coupon_type": "percentage", "percentage_rate": "5"},
            {"frequency": "forever"},
            {"reusable": False},
            {"applies_to": {"plan_codes": ["basic"]}},
            {"name": "Allowed", "amount_cents": 1},
        ):
            response = api.put("coupons/welcome", json={"coupon": changes})
            assert response.status_code == 405, changes
            assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "coupon_already_applied"}


def test_percentage_rate_keeps_its_exact_decimal(api: httpx.Client) -> None:
    body = post(api, **{**PERCENT, "percentage_rate": "33.33333"}).json()["coupon"]
    assert Decimal(body["percentage_rate"]) == Decimal("33.33333")
    as_number = post(api, **{**PERCENT, "code": "num", "percentage_rate": 7.25}).json()["coupon"]
    assert as_number["percentage_rate"] == "7.25"


def test_other_organization_is_isolated(api: httpx.Client, server, database, org, unchanged) -> None:
    post(api, **FIXED)
    other = make_org(database, "Other")
    insert_plan(database, org.id, "mine_only")
    with client_for(server, other.api_key) as client:
        with unchanged():
            assert client.get("coupons/welcome").json()["code"] == "coupon_not_found"
            assert client.put("coupons/welcome", json={"coupon": {"name": "X"}}).status_code == 404
            assert client.delete("coupons/welcome").status_code == 404
            assert client.get("coupons").json()["coupons"] == []
            # Plans of another organization cannot be targeted.
            refused = client.post("coupons", json={"coupon": {**FIXED, "applies_to": {"plan_codes": ["mine_only"]}}})
            assert refused.json()["code"] == "plans_not_found"
        assert client.post("coupons", json={"coupon": FIXED}).status_code == 200
    assert api.get("coupons/welcome").json()["coupon"]["name"] == "Welcome"
