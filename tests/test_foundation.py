"""Cross-cutting wire conventions: health, auth, errors, pagination, organization scoping."""

from __future__ import annotations

import httpx

from tests.conftest import make_org


def test_health_needs_no_key(anon: httpx.Client) -> None:
    response = anon.get("health")
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Success"
    assert body["version"]


def test_missing_or_wrong_key_is_401(anon: httpx.Client) -> None:
    assert anon.get("api/v1/taxes").json() == {"status": 401, "error": "Unauthorized"}
    wrong = anon.get("api/v1/taxes", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"status": 401, "error": "Unauthorized"}


def test_unknown_route_and_verb_are_404_resource_not_found(api: httpx.Client) -> None:
    for response in (api.get("does_not_exist"), api.patch("taxes"), api.post("taxes/abc")):
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "resource_not_found"}


def test_missing_root_is_400(api: httpx.Client, unchanged) -> None:
    with unchanged():
        for body in ({}, {"tax": {}}, {"taxes": {"code": "x"}}, {"tax": None}):
            response = api.post("taxes", json=body)
            assert response.status_code == 400
            assert response.json() == {
                "status": 400,
                "error": "BadRequest: param is missing or the value is empty or invalid: tax",
            }
        bad_json = api.post("taxes", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 400


def test_empty_list_meta_quirk(api: httpx.Client) -> None:
    body = api.get("taxes").json()
    assert body == {
        "taxes": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }


def test_pagination_meta(api: httpx.Client) -> None:
    for i in range(5):
        assert api.post("taxes", json={"tax": {"name": f"T{i}", "code": f"t{i}", "rate": "1"}}).status_code == 200
    page = api.get("taxes", params={"page": 2, "per_page": 2}).json()
    assert [t["code"] for t in page["taxes"]] == ["t2", "t1"]  # newest first
    assert page["meta"] == {"current_page": 2, "next_page": 3, "prev_page": 1, "total_pages": 3, "total_count": 5}
    last = api.get("taxes", params={"page": 3, "per_page": 2}).json()
    assert [t["code"] for t in last["taxes"]] == ["t0"]
    assert last["meta"]["next_page"] is None


def test_other_organization_objects_are_404(api: httpx.Client, server, database) -> None:
    api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
    other = make_org(database, "Other")
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {other.api_key}"}) as client:
        response = client.get("taxes/vat")
        assert response.status_code == 404
        assert response.json()["code"] == "tax_not_found"
        assert client.get("taxes").json()["taxes"] == []
        # The same code is free in the other organization.
        assert client.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "10"}}).status_code == 200
    assert api.get("taxes/vat").json()["tax"]["rate"] == 20.0


def test_unknown_keys_ignored_and_null_means_not_given(api: httpx.Client) -> None:
    created = api.post(
        "taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20", "colour": "blue", "description": None}}
    )
    assert created.status_code == 200
    updated = api.put("taxes/vat", json={"tax": {"description": "Value added tax"}}).json()["tax"]
    assert updated["description"] == "Value added tax"
    # An explicit null changes nothing (PUT is a partial update).
    again = api.put("taxes/vat", json={"tax": {"description": None, "name": "VAT 20"}}).json()["tax"]
    assert again["description"] == "Value added tax"
    assert again["name"] == "VAT 20"
    assert again["rate"] == 20.0
