"""Applying coupons to customers, listing and ending the applications."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AppliedCoupon

from billow.core import clock
from tests.conftest import make_org
from tests.coupons.support import FIXED
from tests.customers.support import (
    client_for,
    create_customer,
    insert_charge,
    insert_metric,
    insert_plan,
)

APPLIED_KEYS = {
    "lago_id",
    "lago_coupon_id",
    "coupon_code",
    "coupon_name",
    "coupon_status",
    "coupon_deleted_at",
    "lago_customer_id",
    "external_customer_id",
    "status",
    "amount_cents",
    "amount_cents_remaining",
    "amount_currency",
    "percentage_rate",
    "frequency",
    "frequency_duration",
    "frequency_duration_remaining",
    "expiration_at",
    "created_at",
    "terminated_at",
    "credits",
}
PERCENT = {
    "name": "Ten off",
    "code": "ten",
    "coupon_type": "percentage",
    "percentage_rate": "10",
    "frequency": "recurring",
    "frequency_duration": 3,
    "expiration": "no_expiration",
}


def coupon(api: httpx.Client, **fields) -> dict:
    response = api.post("coupons", json={"coupon": fields})
    assert response.status_code == 200, response.text
    return response.json()["coupon"]


def apply(api: httpx.Client, **fields) -> httpx.Response:
    return api.post("applied_coupons", json={"applied_coupon": fields})


def test_apply_list_and_terminate_through_the_client(lago, api: httpx.Client) -> None:
    welcome = coupon(api, **FIXED)
    customer = create_customer(api, "cus_1", currency="EUR")
    applied = lago.applied_coupons.create(
        AppliedCoupon(external_customer_id="cus_1", coupon_code="welcome", amount_cents=700, amount_currency="EUR")
    )
    assert (applied.lago_coupon_id, applied.coupon_code) == (welcome["lago_id"], "welcome")
    assert (applied.lago_customer_id, applied.external_customer_id) == (customer["lago_id"], "cus_1")
    assert applied.status == "active"
    assert (applied.amount_cents, applied.amount_cents_remaining, applied.amount_currency) == (700, 700, "EUR")
    assert (applied.percentage_rate, applied.frequency, applied.frequency_duration) == (None, "once", None)
    assert (applied.expiration_at, applied.terminated_at) == (None, None)
    assert applied.credits.__root__ == []

    listed = lago.applied_coupons.find_all(options={"external_customer_id": "cus_1"})
    assert [a.lago_id for a in listed["applied_coupons"]] == [applied.lago_id]
    assert listed["meta"]["total_count"] == 1

    ended = lago.applied_coupons.destroy("cus_1", applied.lago_id)
    assert (ended.lago_id, ended.status) == (applied.lago_id, "terminated")
    assert ended.terminated_at.endswith("Z")
    # Ending it again is harmless and keeps the first termination time.
    again = api.delete(f"customers/cus_1/applied_coupons/{applied.lago_id}").json()["applied_coupon"]
    assert (again["status"], again["terminated_at"]) == ("terminated", ended.terminated_at)


def test_wire_shape_and_values_taken_from_the_coupon(api: httpx.Client) -> None:
    expires = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ten = coupon(api, **{**PERCENT, "expiration": "time_limit", "expiration_at": expires})
    create_customer(api, "cus_p")
    body = apply(api, external_customer_id="cus_p", coupon_code="ten").json()["applied_coupon"]
    assert set(body) == APPLIED_KEYS
    assert (body["coupon_name"], body["coupon_status"], body["coupon_deleted_at"]) == ("Ten off", "active", None)
    assert (body["percentage_rate"], body["frequency"], body["frequency_duration"]) == ("10", "recurring", 3)
    assert body["frequency_duration_remaining"] == 3
    assert (body["amount_cents"], body["amount_cents_remaining"], body["amount_currency"]) == (None, None, None)
    assert body["expiration_at"] == ten["expiration_at"] == expires
    assert body["credits"] == []
    # A percentage coupon leaves the customer's currency alone.
    assert api.get("customers/cus_p").json()["customer"]["currency"] is None


def test_overrides_are_the_customer_own_values(api: httpx.Client) -> None:
    coupon(api, **PERCENT)
    create_customer(api, "cus_o")
    body = apply(
        api,
        external_customer_id="cus_o",
        coupon_code="ten",
        percentage_rate="25.5",
        frequency="recurring",
        frequency_duration=12,
        amount_cents=5,
        amount_currency="USD",
    ).json()["applied_coupon"]
    assert (body["percentage_rate"], body["frequency_duration"], body["frequency_duration_remaining"]) == (
        "25.5",
        12,
        12,
    )
    # Amount overrides do not apply to a percentage coupon.
    assert (body["amount_cents"], body["amount_currency"]) == (None, None)
    forever = apply(api, external_customer_id="cus_o", coupon_code="ten", frequency="forever").json()["applied_coupon"]
    assert (forever["frequency"], forever["frequency_duration"], forever["frequency_duration_remaining"]) == (
        "forever",
        None,
        None,
    )
    # The coupon itself is untouched.
    assert api.get("coupons/ten").json()["coupon"]["percentage_rate"] == "10"


def test_fixed_amount_currency_binds_the_customer(api: httpx.Client, unchanged) -> None:
    coupon(api, **FIXED)
    create_customer(api, "no_currency")
    applied = apply(api, external_customer_id="no_currency", coupon_code="welcome")
    assert applied.status_code == 200
    assert api.get("customers/no_currency").json()["customer"]["currency"] == "EUR"

    create_customer(api, "dollars", currency="USD")
    with unchanged():
        mismatch = apply(api, external_customer_id="dollars", coupon_code="welcome")
        assert mismatch.status_code == 422
        assert mismatch.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
        # Nor can the customer then switch to another currency while holding the EUR coupon.
        switch = api.post("customers", json={"customer": {"external_id": "no_currency", "currency": "USD"}})
        assert switch.status_code == 422
        assert switch.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
    # With an override in the customer's currency it applies.
    overridden = apply(
        api, external_customer_id="dollars", coupon_code="welcome", amount_currency="USD", amount_cents=300
    )
    assert overridden.json()["applied_coupon"]["amount_currency"] == "USD"


def test_refusals(api: httpx.Client, unchanged) -> None:
    coupon(api, **{**FIXED, "reusable": False})
    coupon(api, **{**FIXED, "code": "gone"})
    api.delete("coupons/gone")
    coupon(api, **{**FIXED, "code": "once_only", "frequency": "once"})
    create_customer(api, "cus_r", currency="EUR")
    first = apply(api, external_customer_id="cus_r", coupon_code="welcome").json()["applied_coupon"]
    api.delete(f"customers/cus_r/applied_coupons/{first['lago_id']}")

    cases = [
        ({"external_customer_id": "ghost", "coupon_code": "welcome"}, 404, "customer_not_found", None),
        ({"external_customer_id": "cus_r", "coupon_code": "ghost"}, 404, "coupon_not_found", None),
        ({"external_customer_id": "cus_r", "coupon_code": "gone"}, 404, "coupon_not_found", None),
        # Not reusable: refused even though the first application has ended.
        (
            {"external_customer_id": "cus_r", "coupon_code": "welcome"},
            422,
            "validation_errors",
            {"coupon": ["coupon_is_not_reusable"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "frequency": "recurring"},
            422,
            "validation_errors",
            {"frequency_duration": ["value_is_mandatory"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "amount_cents": -1},
            422,
            "validation_errors",
            {"amount_cents": ["value_is_out_of_range"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "amount_currency": "ZZZ"},
            422,
            "validation_errors",
            {"amount_currency": ["value_is_invalid"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "frequency": "weekly"},
            422,
            "validation_errors",
            {"frequency": ["value_is_invalid"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "frequency_duration": 0},
            422,
            "validation_errors",
            {"frequency_duration": ["value_is_out_of_range"]},
        ),
        (
            {"external_customer_id": "cus_r", "coupon_code": "once_only", "percentage_rate": "101"},
            422,
            "validation_errors",
            {"percentage_rate": ["value_is_out_of_range"]},
        ),
        ({"coupon_code": "once_only"}, 422, "validation_errors", {"external_customer_id": ["value_is_mandatory"]}),
        ({"external_customer_id": "cus_r"}, 422, "validation_errors", {"coupon_code": ["value_is_mandatory"]}),
    ]
    with unchanged():
        for payload, status, code, details in cases:
            response = apply(api, **payload)
            assert response.status_code == status, (payload, response.text)
            assert response.json()["code"] == code
            if details is not None:
                assert response.json()["error_details"] == details
        assert api.post("applied_coupons", json={"coupon": {"coupon_code": "x"}}).status_code == 400


def test_expired_coupon_cannot_be_applied(api: httpx.Client, unchanged) -> None:
    expires = datetime.now(UTC) + timedelta(days=1)
    coupon(api, **{**FIXED, "expiration": "time_limit", "expiration_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
    create_customer(api, "cus_e")
    with clock.frozen(expires + timedelta(seconds=1)), unchanged():
        response = apply(api, external_customer_id="cus_e", coupon_code="welcome")
        assert response.status_code == 404
        assert response.json()["code"] == "coupon_not_found"
    assert apply(api, external_customer_id="cus_e", coupon_code="welcome").status_code == 200


def test_limited_coupons_may_not_overlap(api: httpx.Client, database, org, unchanged) -> None:
    basic = insert_plan(database, org.id, "basic")
    insert_plan(database, org.id, "pro")
    calls = insert_metric(database, org.id, "calls")
    insert_metric(database, org.id, "storage")
    insert_charge(database, org.id, basic, calls)
    coupon(api, **{**FIXED, "code": "on_basic", "applies_to": {"plan_codes": ["basic"]}})
    coupon(api, **{**FIXED, "code": "on_basic_too", "applies_to": {"plan_codes": ["basic", "pro"]}})
    coupon(api, **{**FIXED, "code": "on_calls", "applies_to": {"billable_metric_codes": ["calls"]}})
    coupon(api, **{**FIXED, "code": "on_storage", "applies_to": {"billable_metric_codes": ["storage"]}})
    coupon(api, **{**FIXED, "code": "on_pro", "applies_to": {"plan_codes": ["pro"]}})
    coupon(api, **{**FIXED, "code": "anything"})
    create_customer(api, "cus_l", currency="EUR")
    first = apply(api, external_customer_id="cus_l", coupon_code="on_basic").json()["applied_coupon"]

    with unchanged():
        # Same plan, and a metric charged by that plan.
        for code in ("on_basic_too", "on_calls"):
            response = apply(api, external_customer_id="cus_l", coupon_code=code)
            assert response.status_code == 405, code
            assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "plan_overlapping"}
    for code in ("on_storage", "on_pro", "anything"):
        assert apply(api, external_customer_id="cus_l", coupon_code=code).status_code == 200, code
    # Once the first application has ended, the overlap is gone.
    api.delete(f"customers/cus_l/applied_coupons/{first['lago_id']}")
    assert apply(api, external_customer_id="cus_l", coupon_code="on_calls").status_code == 200


@pytest.fixture
def applications(api: httpx.Client) -> dict[str, str]:
    coupon(api, **FIXED)
    coupon(api, **PERCENT)
    create_customer(api, "alice", currency="EUR")
    create_customer(api, "bob", currency="EUR")
    ids = {}
    for name, (customer, code) in {
        "alice_welcome": ("alice", "welcome"),
        "alice_ten": ("alice", "ten"),
        "bob_ten": ("bob", "ten"),
    }.items():
        ids[name] = apply(api, external_customer_id=customer, coupon_code=code).json()["applied_coupon"]["lago_id"]
    api.delete(f"customers/alice/applied_coupons/{ids['alice_welcome']}")
    return ids


def listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["lago_id"] for a in response.json()["applied_coupons"]]


def test_list_filters(api: httpx.Client, applications: dict[str, str]) -> None:
    ids = applications
    assert listed(api.get("applied_coupons")) == [ids["bob_ten"], ids["alice_ten"], ids["alice_welcome"]]
    assert listed(api.get("applied_coupons", params={"status": "active"})) == [ids["bob_ten"], ids["alice_ten"]]
    assert listed(api.get("applied_coupons", params={"status": "terminated"})) == [ids["alice_welcome"]]
    assert listed(api.get("applied_coupons", params={"external_customer_id": "alice"})) == [
        ids["alice_ten"],
        ids["alice_welcome"],
    ]
    assert listed(api.get("applied_coupons", params={"coupon_code[]": ["welcome"]})) == [ids["alice_welcome"]]
    assert listed(
        api.get("applied_coupons", params={"coupon_code[]": ["welcome", "ten"], "external_customer_id": "bob"})
    ) == [ids["bob_ten"]]
    assert listed(api.get("applied_coupons", params={"external_customer_id": "nobody"})) == []
    page = api.get("applied_coupons", params={"per_page": 2, "page": 2}).json()
    assert page["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 3}
    invalid = api.get("applied_coupons", params={"status": "expired"})
    assert invalid.status_code == 422
    assert invalid.json()["error_details"] == {"status": ["value_is_invalid"]}


def test_customer_scoped_list(lago, api: httpx.Client, applications: dict[str, str]) -> None:
    ids = applications
    assert listed(api.get("customers/alice/applied_coupons")) == [ids["alice_ten"], ids["alice_welcome"]]
    assert listed(api.get("customers/alice/applied_coupons", params={"status": "active"})) == [ids["alice_ten"]]
    assert listed(api.get("customers/alice/applied_coupons", params={"coupon_code[]": "welcome"})) == [
        ids["alice_welcome"]
    ]
    # The path's customer wins over an external_customer_id query parameter.
    assert listed(api.get("customers/bob/applied_coupons", params={"external_customer_id": "alice"})) == [
        ids["bob_ten"]
    ]
    missing = api.get("customers/ghost/applied_coupons")
    assert (missing.status_code, missing.json()["code"]) == (404, "customer_not_found")
    # The official client's customer_applied_coupons.find_all sends no API key (a known client bug).
    with pytest.raises(LagoApiError) as unauthorized:
        lago.customer_applied_coupons.find_all("alice")
    assert unauthorized.value.status_code == 401


def test_terminate_errors(api: httpx.Client, applications: dict[str, str], unchanged) -> None:
    ids = applications
    with unchanged():
        for path, code in (
            (f"customers/bob/applied_coupons/{ids['alice_ten']}", "applied_coupon_not_found"),  # not bob's
            (f"customers/alice/applied_coupons/{uuid.uuid4()}", "applied_coupon_not_found"),
            ("customers/alice/applied_coupons/not-a-uuid", "applied_coupon_not_found"),
            (f"customers/ghost/applied_coupons/{ids['alice_ten']}", "customer_not_found"),
        ):
            response = api.delete(path)
            assert response.status_code == 404, path
            assert response.json()["code"] == code


def test_deleting_the_coupon_or_the_customer_ends_applications(api: httpx.Client, applications: dict[str, str]) -> None:
    ids = applications
    api.delete("coupons/ten")
    statuses = {a["lago_id"]: a for a in api.get("applied_coupons").json()["applied_coupons"]}
    assert statuses[ids["bob_ten"]]["status"] == "terminated"
    assert statuses[ids["bob_ten"]]["coupon_status"] == "terminated"
    assert statuses[ids["bob_ten"]]["coupon_deleted_at"] is not None

    coupon(api, **{**FIXED, "code": "loyal"})
    kept = apply(api, external_customer_id="bob", coupon_code="loyal").json()["applied_coupon"]
    assert api.delete("customers/bob").status_code == 200
    after = {a["lago_id"]: a for a in api.get("applied_coupons").json()["applied_coupons"]}
    assert after[kept["lago_id"]]["status"] == "terminated"
    assert after[kept["lago_id"]]["terminated_at"] is not None


def test_other_organization_is_isolated(
    api: httpx.Client, server, database, applications: dict[str, str], unchanged
) -> None:
    other = make_org(database, "Other")
    with client_for(server, other.api_key) as client:
        with unchanged():
            assert client.get("applied_coupons").json()["applied_coupons"] == []
            assert client.get("customers/alice/applied_coupons").json()["code"] == "customer_not_found"
            response = client.delete(f"customers/alice/applied_coupons/{applications['alice_ten']}")
            assert response.json()["code"] == "customer_not_found"
        # Their customer cannot take our coupon.
        client.post("customers", json={"customer": {"external_id": "alice"}})
        refused = client.post(
            "applied_coupons", json={"applied_coupon": {"external_customer_id": "alice", "coupon_code": "ten"}}
        )
        assert refused.json()["code"] == "coupon_not_found"
        # Their own customer "alice" sees nothing of ours.
        assert client.get("customers/alice/applied_coupons").json()["applied_coupons"] == []
