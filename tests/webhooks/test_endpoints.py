"""`/webhook_endpoints` and the public key, through the official client where it covers the call."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.webhook_endpoint import WebhookEndpoint

from tests.webhooks.support import add_endpoint


def test_endpoint_lifecycle_through_the_client(lago: Any, org: Any) -> None:
    created = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url="https://example.test/hooks", name="Main"))
    assert created.webhook_url == "https://example.test/hooks"
    assert created.signature_algo == "jwt"
    assert created.event_types is None
    assert created.lago_organization_id == str(org.id)

    found = lago.webhook_endpoints.find(created.lago_id)
    assert found.name == "Main"
    updated = lago.webhook_endpoints.update(
        WebhookEndpoint(signature_algo="hmac", event_types=["customer.created"]), created.lago_id
    )
    assert (updated.signature_algo, updated.event_types, updated.webhook_url) == (
        "hmac", ["customer.created"], "https://example.test/hooks")

    listed = lago.webhook_endpoints.find_all()
    assert [endpoint.lago_id for endpoint in listed["webhook_endpoints"]] == [created.lago_id]
    assert listed["meta"]["total_count"] == 1

    lago.webhook_endpoints.destroy(created.lago_id)
    with pytest.raises(LagoApiError) as error:
        lago.webhook_endpoints.find(created.lago_id)
    assert error.value.status_code == 404


def test_explicit_null_event_types_subscribes_to_everything_again(api: httpx.Client) -> None:
    endpoint = add_endpoint(api, "https://example.test/a", event_types=["customer.created", "customer.updated"])
    assert endpoint["event_types"] == ["customer.created", "customer.updated"]
    kept = api.put(f"webhook_endpoints/{endpoint['lago_id']}", json={"webhook_endpoint": {"name": "renamed"}})
    assert kept.json()["webhook_endpoint"]["event_types"] == ["customer.created", "customer.updated"]
    reset = api.put(f"webhook_endpoints/{endpoint['lago_id']}", json={"webhook_endpoint": {"event_types": None}})
    assert reset.status_code == 200, reset.text
    assert reset.json()["webhook_endpoint"]["event_types"] is None
    assert reset.json()["webhook_endpoint"]["name"] == "renamed"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"webhook_url": "not a url"}, {"webhook_url": ["url_is_invalid"]}),
        ({"webhook_url": "ftp://example.test/x"}, {"webhook_url": ["url_is_invalid"]}),
        ({"name": "no url"}, {"webhook_url": ["value_is_mandatory"]}),
        ({"webhook_url": "https://example.test/x", "signature_algo": "md5"}, {"signature_algo": ["value_is_invalid"]}),
        ({"webhook_url": "https://example.test/x", "event_types": ["customer.created", "nope.nope"]},
         {"event_types": ["value_is_invalid"]}),
    ],
)
def test_invalid_endpoints_are_refused(api: httpx.Client, unchanged: Any, body: dict[str, Any],
                                       details: dict[str, Any]) -> None:
    with unchanged():
        response = api.post("webhook_endpoints", json={"webhook_endpoint": body})
    assert response.status_code == 422, response.text
    assert response.json() == {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                               "error_details": details}


def test_url_unique_per_organization_and_ten_endpoints_at_most(api: httpx.Client) -> None:
    first = add_endpoint(api, "https://example.test/0")
    duplicate = api.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": "https://example.test/0"}})
    assert duplicate.status_code == 422
    assert duplicate.json()["error_details"] == {"webhook_url": ["value_already_exist"]}
    second = add_endpoint(api, "https://example.test/1")
    moved = api.put(f"webhook_endpoints/{second['lago_id']}",
                    json={"webhook_endpoint": {"webhook_url": first["webhook_url"]}})
    assert moved.json()["error_details"] == {"webhook_url": ["value_already_exist"]}
    for index in range(2, 10):
        add_endpoint(api, f"https://example.test/{index}")
    eleventh = api.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": "https://example.test/10"}})
    assert eleventh.status_code == 422
    assert eleventh.json()["error_details"] == {"base": ["webhook_endpoints_limit_reached"]}
    assert api.get("webhook_endpoints", params={"per_page": 4}).json()["meta"]["total_pages"] == 3


def test_endpoints_of_another_organization_are_not_found(api: httpx.Client, server: Any, database: Any) -> None:
    from tests.conftest import make_org
    from tests.customers.support import client_for

    endpoint = add_endpoint(api, "https://example.test/mine")
    other = make_org(database, "Other")
    with client_for(server, other.api_key) as theirs:
        response = theirs.get(f"webhook_endpoints/{endpoint['lago_id']}")
        assert response.status_code == 404
        assert response.json()["code"] == "webhook_endpoint_not_found"
        assert theirs.post("webhook_endpoints", json={"webhook_endpoint": {"webhook_url": endpoint["webhook_url"]}}
                           ).status_code == 200
    assert api.get("webhook_endpoints/not-a-uuid").json()["code"] == "webhook_endpoint_not_found"


def test_public_key_through_the_client_and_as_text(lago: Any, api: httpx.Client) -> None:
    pem = lago.webhooks.public_key()
    key = serialization.load_pem_public_key(pem)
    assert key.key_size == 2048
    text = api.get("webhooks/public_key")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert base64.b64decode(text.text) == pem
    assert text.text == api.get("webhooks/json_public_key").json()["webhook"]["public_key"]
    assert max(len(line) for line in text.text.splitlines()) == 60
    # One key for the instance: asking again gives the same key.
    assert lago.webhooks.public_key() == pem


def test_public_key_needs_an_api_key(anon: httpx.Client) -> None:
    assert anon.get("api/v1/webhooks/json_public_key").status_code == 401
