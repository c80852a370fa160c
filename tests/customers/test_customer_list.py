"""GET /customers: paging, order and filters."""

from __future__ import annotations

import httpx
import pytest

from tests.customers.support import create_customer


@pytest.fixture
def population(api: httpx.Client) -> None:
    create_customer(
        api,
        "acme",
        name="Acme Corp",
        email="ops@acme.test",
        country="FR",
        state="IDF",
        zipcode="75002",
        currency="EUR",
        customer_type="company",
        tax_identification_number="FR1",
        metadata=[{"key": "tier", "value": "gold"}],
        billing_entity_code="eu",
    )
    create_customer(
        api,
        "bob_100%",
        firstname="Bob",
        lastname="Stone",
        country="US",
        state="CA",
        zipcode="94107",
        currency="USD",
        customer_type="individual",
        account_type="partner",
        metadata=[{"key": "tier", "value": "silver"}],
    )
    create_customer(api, "carol", legal_name="Carol Holdings Ltd", country="GB", currency="GBP")


def codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["external_id"] for c in response.json()["customers"]]


def test_newest_first_and_paged_through_the_client(lago, population) -> None:
    everything = lago.customers.find_all()
    assert [c.external_id for c in everything["customers"]] == ["carol", "bob_100%", "acme"]
    assert everything["meta"]["total_count"] == 3
    page = lago.customers.find_all(options={"per_page": 2, "page": 2})
    assert [c.external_id for c in page["customers"]] == ["acme"]
    assert page["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 3}
    searched = lago.customers.find_all(options={"search_term": "ACME"})
    assert [c.external_id for c in searched["customers"]] == ["acme"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search_term": "stone"}, ["bob_100%"]),  # last name
        ({"search_term": "holdings"}, ["carol"]),  # legal name
        ({"search_term": "ops@"}, ["acme"]),  # email
        ({"search_term": "100%"}, ["bob_100%"]),  # LIKE wildcards are literal
        ({"search_term": "%"}, ["bob_100%"]),
        ({"countries[]": ["fr", "GB"]}, ["carol", "acme"]),
        ({"states[]": "CA"}, ["bob_100%"]),
        ({"zipcodes[]": ["75002", "94107"]}, ["bob_100%", "acme"]),
        ({"currencies[]": "GBP"}, ["carol"]),
        ({"account_type[]": "partner"}, ["bob_100%"]),
        ({"account_type[]": ["customer"]}, ["carol", "acme"]),
        ({"customer_type": "company"}, ["acme"]),
        ({"has_customer_type": "false"}, ["carol"]),
        ({"has_customer_type": "true"}, ["bob_100%", "acme"]),
        ({"has_tax_identification_number": "true"}, ["acme"]),
        ({"has_tax_identification_number": "false"}, ["carol", "bob_100%"]),
        ({"metadata[tier]": "silver"}, ["bob_100%"]),
        ({"metadata[tier]": "bronze"}, []),
        ({"billing_entity_codes[]": "eu"}, ["acme"]),
        ({"countries[]": "US", "customer_type": "company"}, []),
    ],
)
def test_filters(api: httpx.Client, population, params: dict, expected: list[str]) -> None:
    assert codes(api.get("customers", params=params)) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"customer_type": "robot"}, "customer_type"),
        ({"account_type[]": "vendor"}, "account_type"),
        ({"has_customer_type": "perhaps"}, "has_customer_type"),
    ],
)
def test_invalid_filter_is_422(api: httpx.Client, params: dict, field: str) -> None:
    response = api.get("customers", params=params)
    assert response.status_code == 422
    assert response.json()["error_details"] == {field: ["value_is_invalid"]}


def test_deleted_customers_are_not_listed(api: httpx.Client, population) -> None:
    assert api.delete("customers/acme").status_code == 200
    assert codes(api.get("customers")) == ["carol", "bob_100%"]
    assert codes(api.get("customers", params={"metadata[tier]": "gold"})) == []
