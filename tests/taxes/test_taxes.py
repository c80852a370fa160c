"""Taxes through the official Python client and the raw wire."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Tax


def test_crud_through_the_client(lago) -> None:
    created = lago.taxes.create(Tax(name="VAT", code="vat_fr", rate=20.0, description="French VAT"))
    assert (created.name, created.code, created.rate, created.description) == ("VAT", "vat_fr", 20.0, "French VAT")
    assert created.applied_to_organization is False
    assert created.created_at.endswith("Z")

    found = lago.taxes.find("vat_fr")
    assert found.lago_id == created.lago_id

    updated = lago.taxes.update(Tax(rate=5.5, applied_to_organization=True), "vat_fr")
    assert updated.rate == 5.5
    assert updated.applied_to_organization is True
    assert updated.name == "VAT"

    listed = lago.taxes.find_all()
    assert [t.code for t in listed["taxes"]] == ["vat_fr"]
    assert listed["meta"]["total_count"] == 1

    deleted = lago.taxes.destroy("vat_fr")
    assert deleted.code == "vat_fr"
    with pytest.raises(LagoApiError) as missing:
        lago.taxes.find("vat_fr")
    assert missing.value.status_code == 404


def test_wire_shape(api: httpx.Client) -> None:
    body = api.post("taxes", json={"tax": {"name": "GST", "code": "gst", "rate": "12.5"}}).json()
    tax = body["tax"]
    assert set(tax) == {"lago_id", "name", "code", "rate", "description", "applied_to_organization", "created_at"}
    assert tax["rate"] == 12.5
    assert tax["description"] is None


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"code": "t", "rate": "1"}, "name", "value_is_mandatory"),
        ({"name": "T", "rate": "1"}, "code", "value_is_mandatory"),
        ({"name": "T", "code": "t"}, "rate", "value_is_mandatory"),
        ({"name": "T", "code": "t", "rate": "abc"}, "rate", "value_is_invalid"),
        ({"name": "T", "code": "t", "rate": "-1"}, "rate", "value_is_out_of_range"),
        ({"name": "T", "code": "t", "rate": "101"}, "rate", "value_is_out_of_range"),
        ({"name": "", "code": "t", "rate": "1"}, "name", "value_is_invalid"),
    ],
)
def test_validation(api: httpx.Client, unchanged, payload: dict, field: str, code: str) -> None:
    with unchanged():
        response = api.post("taxes", json={"tax": payload})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_errors"
    assert body["error"] == "Unprocessable Entity"
    assert code in body["error_details"][field]


def test_duplicate_code(api: httpx.Client, unchanged) -> None:
    api.post("taxes", json={"tax": {"name": "A", "code": "a", "rate": "1"}})
    api.post("taxes", json={"tax": {"name": "B", "code": "b", "rate": "1"}})
    with unchanged():
        duplicate = api.post("taxes", json={"tax": {"name": "A2", "code": "a", "rate": "2"}})
        renamed = api.put("taxes/b", json={"tax": {"code": "a"}})
    for response in (duplicate, renamed):
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}


def test_unknown_tax_is_404(api: httpx.Client, unchanged) -> None:
    with unchanged():
        for response in (api.get("taxes/nope"), api.put("taxes/nope", json={"tax": {"rate": "1"}}), api.delete("taxes/nope")):
            assert response.status_code == 404
            assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}
