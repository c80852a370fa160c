"""Add-ons through the official Python client and the raw wire."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn

from tests.conftest import make_org
from tests.customers.support import client_for, create_tax

ADD_ON_KEYS = {
    "lago_id",
    "name",
    "code",
    "invoice_display_name",
    "description",
    "amount_cents",
    "amount_currency",
    "created_at",
    "taxes",
}


def test_crud_through_the_client(lago, api: httpx.Client) -> None:
    create_tax(api, "vat", "20")
    create_tax(api, "eco", "2.5")
    created = lago.add_ons.create(
        AddOn(
            name="Setup fee",
            code="setup",
            amount_cents=50_000,
            amount_currency="EUR",
            invoice_display_name="One-time setup",
            description="Onboarding and configuration",
            tax_codes=["vat", "eco"],
        )
    )
    assert (created.name, created.code, created.amount_cents, created.amount_currency) == (
        "Setup fee",
        "setup",
        50_000,
        "EUR",
    )
    assert (created.invoice_display_name, created.description) == ("One-time setup", "Onboarding and configuration")
    assert [(t.code, t.rate) for t in created.taxes.__root__] == [("eco", 2.5), ("vat", 20.0)]
    assert created.created_at.endswith("Z")

    assert lago.add_ons.find("setup").dict() == created.dict()

    updated = lago.add_ons.update(AddOn(amount_cents=45_000, tax_codes=["vat"]), "setup")
    assert updated.amount_cents == 45_000
    assert updated.name == "Setup fee"
    assert updated.description == "Onboarding and configuration"
    assert [t.code for t in updated.taxes.__root__] == ["vat"]

    renamed = lago.add_ons.update(AddOn(code="setup_v2"), "setup")
    assert renamed.code == "setup_v2"
    assert [t.code for t in renamed.taxes.__root__] == ["vat"]  # taxes untouched when tax_codes is not sent

    listed = lago.add_ons.find_all()
    assert [a.code for a in listed["add_ons"]] == ["setup_v2"]
    assert listed["meta"]["total_count"] == 1

    deleted = lago.add_ons.destroy("setup_v2")
    assert deleted.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as missing:
        lago.add_ons.find("setup_v2")
    assert missing.value.status_code == 404
    assert lago.add_ons.find_all()["add_ons"] == []


def test_wire_shape_and_defaults(api: httpx.Client) -> None:
    body = api.post(
        "add_ons", json={"add_on": {"name": "Support", "code": "support", "amount_cents": 0, "amount_currency": "JPY"}}
    )
    assert body.status_code == 200
    add_on = body.json()["add_on"]
    assert set(add_on) == ADD_ON_KEYS
    assert (add_on["amount_cents"], add_on["amount_currency"]) == (0, "JPY")
    assert add_on["invoice_display_name"] is None and add_on["description"] is None
    assert add_on["taxes"] == []
    assert api.get("add_ons/support").json() == body.json()


def test_list_is_newest_first_and_paged(api: httpx.Client) -> None:
    for i in range(3):
        api.post(
            "add_ons", json={"add_on": {"name": f"A{i}", "code": f"a{i}", "amount_cents": i, "amount_currency": "USD"}}
        )
    page = api.get("add_ons", params={"per_page": 2}).json()
    assert [a["code"] for a in page["add_ons"]] == ["a2", "a1"]
    assert page["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 3}


VALID = {"name": "Setup", "code": "setup", "amount_cents": 100, "amount_currency": "EUR"}


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": None}, "name", "value_is_mandatory"),
        ({"code": None}, "code", "value_is_mandatory"),
        ({"amount_cents": None}, "amount_cents", "value_is_mandatory"),
        ({"amount_currency": None}, "amount_currency", "value_is_mandatory"),
        ({"name": ""}, "name", "value_is_invalid"),
        ({"amount_cents": -1}, "amount_cents", "value_is_out_of_range"),
        ({"amount_cents": 2**63}, "amount_cents", "value_is_out_of_range"),
        ({"amount_cents": 1.5}, "amount_cents", "value_is_invalid"),
        ({"amount_currency": "EURO"}, "amount_currency", "value_is_invalid"),
    ],
)
def test_validation(api: httpx.Client, unchanged, changes: dict, field: str, code: str) -> None:
    payload = {key: value for key, value in {**VALID, **changes}.items() if value is not None}
    with unchanged():
        response = api.post("add_ons", json={"add_on": payload})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_errors"
    assert code in response.json()["error_details"][field]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"amount_cents": -5}, "amount_cents", "value_is_out_of_range"),
        ({"amount_currency": "XXX"}, "amount_currency", "value_is_invalid"),
        ({"name": ""}, "name", "value_is_invalid"),
    ],
)
def test_update_validation(api: httpx.Client, unchanged, changes: dict, field: str, code: str) -> None:
    api.post("add_ons", json={"add_on": VALID})
    with unchanged():
        response = api.put("add_ons/setup", json={"add_on": changes})
    assert response.status_code == 422
    assert response.json()["error_details"] == {field: [code]}


def test_code_is_unique_among_live_add_ons(api: httpx.Client, unchanged) -> None:
    api.post("add_ons", json={"add_on": VALID})
    api.post("add_ons", json={"add_on": {**VALID, "code": "other"}})
    with unchanged():
        duplicate = api.post("add_ons", json={"add_on": VALID})
        renamed = api.put("add_ons/other", json={"add_on": {"code": "setup"}})
    for response in (duplicate, renamed):
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    # Soft-deleted add-ons free their code.
    deleted = api.delete("add_ons/setup").json()["add_on"]
    again = api.post("add_ons", json={"add_on": VALID}).json()["add_on"]
    assert again["lago_id"] != deleted["lago_id"]


def test_unknown_tax_and_unknown_add_on(api: httpx.Client, unchanged) -> None:
    api.post("add_ons", json={"add_on": VALID})
    with unchanged():
        create = api.post("add_ons", json={"add_on": {**VALID, "code": "taxed", "tax_codes": ["nope"]}})
        update = api.put("add_ons/setup", json={"add_on": {"name": "X", "tax_codes": ["nope"]}})
        for response in (create, update):
            assert response.status_code == 404
            assert response.json()["code"] == "tax_not_found"
        for response in (
            api.get("add_ons/ghost"),
            api.put("add_ons/ghost", json={"add_on": {"name": "X"}}),
            api.delete("add_ons/ghost"),
        ):
            assert response.status_code == 404
            assert response.json() == {"status": 404, "error": "Not Found", "code": "add_on_not_found"}
        missing_root = api.post("add_ons", json={"addon": VALID})
    assert missing_root.status_code == 400


def test_deleted_tax_leaves_the_add_on(api: httpx.Client) -> None:
    create_tax(api, "vat")
    api.post("add_ons", json={"add_on": {**VALID, "tax_codes": ["vat"]}})
    assert api.delete("taxes/vat").status_code == 200
    assert api.get("add_ons/setup").json()["add_on"]["taxes"] == []


def test_other_organization_is_isolated(api: httpx.Client, server, database, unchanged) -> None:
    api.post("add_ons", json={"add_on": VALID})
    other = make_org(database, "Other")
    with client_for(server, other.api_key) as client:
        with unchanged():
            assert client.get("add_ons/setup").json()["code"] == "add_on_not_found"
            assert client.put("add_ons/setup", json={"add_on": {"name": "Hijack"}}).status_code == 404
            assert client.delete("add_ons/setup").status_code == 404
            assert client.get("add_ons").json()["add_ons"] == []
        # The other organization's taxes are not visible either, and the same code is free there.
        create_tax(api, "vat")
        assert (
            client.post("add_ons", json={"add_on": {**VALID, "tax_codes": ["vat"]}}).json()["code"] == "tax_not_found"
        )
        assert client.post("add_ons", json={"add_on": VALID}).status_code == 200
    assert api.get("add_ons/setup").json()["add_on"]["name"] == "Setup"
