"""The caller's organization: read and partial update."""

from __future__ import annotations

import httpx
from lago_python_client.models import Organization, OrganizationBillingConfiguration


def test_update_through_the_client(lago, org) -> None:
    updated = lago.organizations.update(
        Organization(
            default_currency="EUR",
            country="fr",
            timezone="Europe/Paris",
            net_payment_term=30,
            billing_configuration=OrganizationBillingConfiguration(invoice_grace_period=3, document_locale="fr"),
        )
    )
    assert updated.name == org.name
    assert updated.country == "FR"
    assert updated.timezone == "Europe/Paris"
    assert updated.net_payment_term == 30
    assert updated.billing_configuration.invoice_grace_period == 3
    assert updated.billing_configuration.document_locale == "fr"


def test_get_and_partial_update(api: httpx.Client) -> None:
    api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20", "applied_to_organization": True}})
    api.post("taxes", json={"tax": {"name": "Other", "code": "other", "rate": "3"}})
    organization = api.get("organizations").json()["organization"]
    assert organization["default_currency"] == "USD"
    assert organization["timezone"] == "UTC"
    assert [t["code"] for t in organization["taxes"]] == ["vat"]
    assert organization["created_at"].endswith("Z")

    changed = api.put("organizations", json={"organization": {"email": "billing@example.com"}}).json()["organization"]
    assert changed["email"] == "billing@example.com"
    assert changed["default_currency"] == "USD"


def test_invalid_values(api: httpx.Client, unchanged) -> None:
    cases = [
        ({"timezone": "Mars/Olympus"}, "timezone", "invalid_timezone"),
        ({"default_currency": "XXX"}, "default_currency", "value_is_invalid"),
        ({"document_numbering": "per_planet"}, "document_numbering", "value_is_invalid"),
        ({"net_payment_term": -1}, "net_payment_term", "value_is_out_of_range"),
    ]
    with unchanged():
        for payload, field, code in cases:
            response = api.put("organizations", json={"organization": payload})
            assert response.status_code == 422, payload
            assert response.json()["error_details"] == {field: [code]}
