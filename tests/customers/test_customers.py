"""Customers through the official Python client and the raw wire: upsert, read, list, delete."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer
from lago_python_client.models.customer import (
    Address,
    CustomerBillingConfiguration,
    IntegrationCustomer,
    IntegrationCustomersList,
    Metadata,
    MetadataList,
)
from sqlalchemy import update

from billow.models import Organization
from tests.conftest import make_org
from tests.customers.support import client_for, create_customer, create_tax

CUSTOMER_KEYS = {
    "lago_id",
    "sequential_id",
    "slug",
    "external_id",
    "billing_entity_code",
    "name",
    "firstname",
    "lastname",
    "email",
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "phone",
    "url",
    "logo_url",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "country",
    "currency",
    "timezone",
    "applicable_timezone",
    "net_payment_term",
    "customer_type",
    "account_type",
    "finalize_zero_amount_invoice",
    "skip_invoice_custom_sections",
    "invoice_custom_section_codes",
    "created_at",
    "updated_at",
    "billing_configuration",
    "shipping_address",
    "metadata",
    "integration_customers",
    "taxes",
    "applicable_invoice_custom_sections",
    "error_details",
}
BILLING_KEYS = {
    "invoice_grace_period",
    "payment_provider",
    "payment_provider_code",
    "provider_customer_id",
    "sync",
    "sync_with_provider",
    "provider_payment_methods",
    "document_locale",
    "subscription_invoice_issuing_date_anchor",
    "subscription_invoice_issuing_date_adjustment",
}
ADDRESS_KEYS = {"address_line1", "address_line2", "city", "zipcode", "state", "country"}


def full_customer() -> Customer:
    return Customer(
        external_id="cus_full",
        name="Acme Corp",
        firstname="Ada",
        lastname="Lovelace",
        email="billing@acme.test,cto@acme.test",
        legal_name="Acme Corporation SAS",
        legal_number="RCS 123",
        tax_identification_number="FR123456789",
        phone="+33 1 23 45 67 89",
        url="https://acme.test",
        logo_url="https://acme.test/logo.png",
        address_line1="1 rue de la Paix",
        address_line2="Bâtiment B",
        city="Paris",
        zipcode="75002",
        state="IDF",
        country="fr",
        currency="EUR",
        timezone="Europe/Paris",
        net_payment_term=30,
        customer_type="company",
        finalize_zero_amount_invoice="skip",
        billing_configuration=CustomerBillingConfiguration(
            invoice_grace_period=3,
            payment_provider="stripe",
            payment_provider_code="stripe_main",
            provider_customer_id="cus_stripe_1",
            sync=True,
            sync_with_provider=False,
            document_locale="fr",
            provider_payment_methods=["card", "sepa_debit"],
            subscription_invoice_issuing_date_anchor="current_period_end",
            subscription_invoice_issuing_date_adjustment="keep_anchor",
        ),
        shipping_address=Address(
            address_line1="2 quai", address_line2="Dock 4", city="Lyon", zipcode="69002", state="ARA", country="fr"
        ),
        metadata=MetadataList(
            __root__=[
                Metadata(key="segment", value="enterprise", display_in_invoice=True),
                Metadata(key="crm", value="hubspot-42", display_in_invoice=False),
            ]
        ),
        integration_customers=IntegrationCustomersList(
            __root__=[
                IntegrationCustomer(
                    integration_type="netsuite",
                    integration_code="netsuite_eu",
                    external_customer_id="ns-9",
                    subsidiary_id="sub-1",
                    sync_with_provider=True,
                )
            ]
        ),
        tax_codes=["vat_fr"],
        billing_entity_code="acme_eu",
        skip_invoice_custom_sections=True,
        invoice_custom_section_codes=["bank_details"],
    )


def test_full_round_trip_through_the_client(lago, api: httpx.Client) -> None:
    create_tax(api, "vat_fr", "20")
    created = lago.customers.create(full_customer())

    assert created.external_id == "cus_full"
    assert (created.name, created.firstname, created.lastname) == ("Acme Corp", "Ada", "Lovelace")
    assert created.email == "billing@acme.test,cto@acme.test"
    assert (created.legal_name, created.legal_number) == ("Acme Corporation SAS", "RCS 123")
    assert created.tax_identification_number == "FR123456789"
    assert (created.phone, created.url, created.logo_url) == (
        "+33 1 23 45 67 89",
        "https://acme.test",
        "https://acme.test/logo.png",
    )
    assert (created.address_line1, created.address_line2, created.city) == ("1 rue de la Paix", "Bâtiment B", "Paris")
    assert (created.zipcode, created.state, created.country) == ("75002", "IDF", "FR")
    assert (created.currency, created.timezone, created.applicable_timezone) == ("EUR", "Europe/Paris", "Europe/Paris")
    assert created.net_payment_term == 30
    assert created.customer_type == "company"
    assert created.finalize_zero_amount_invoice == "skip"
    assert created.billing_entity_code == "acme_eu"
    assert created.skip_invoice_custom_sections is True

    billing = created.billing_configuration
    assert billing.invoice_grace_period == 3
    assert (billing.payment_provider, billing.payment_provider_code) == ("stripe", "stripe_main")
    assert billing.provider_customer_id == "cus_stripe_1"
    assert (billing.sync, billing.sync_with_provider) == (True, False)
    assert billing.document_locale == "fr"
    assert billing.provider_payment_methods == ["card", "sepa_debit"]
    assert billing.subscription_invoice_issuing_date_anchor == "current_period_end"
    assert billing.subscription_invoice_issuing_date_adjustment == "keep_anchor"

    shipping = created.shipping_address
    assert (shipping.address_line1, shipping.address_line2, shipping.city) == ("2 quai", "Dock 4", "Lyon")
    assert (shipping.zipcode, shipping.state, shipping.country) == ("69002", "ARA", "FR")

    metadata = [(m.key, m.value, m.display_in_invoice) for m in created.metadata.__root__]
    assert metadata == [("crm", "hubspot-42", False), ("segment", "enterprise", True)]
    assert all(uuid.UUID(m.lago_id) for m in created.metadata.__root__)

    [integration] = created.integration_customers.__root__
    assert (integration.type, integration.integration_code) == ("netsuite", "netsuite_eu")
    assert (integration.external_customer_id, integration.subsidiary_id) == ("ns-9", "sub-1")
    assert integration.sync_with_provider is True
    assert [t.code for t in created.taxes.__root__] == ["vat_fr"]

    found = lago.customers.find("cus_full")
    assert found.dict() == created.dict()
    # The raw wire reads back exactly what the upsert answered.
    raw = api.get("customers/cus_full").json()["customer"]
    assert raw["invoice_custom_section_codes"] == ["bank_details"]
    again = api.post("customers", json={"customer": {"external_id": "cus_full"}}).json()["customer"]
    assert {k: v for k, v in again.items() if k != "updated_at"} == {k: v for k, v in raw.items() if k != "updated_at"}


def test_wire_shape_of_a_minimal_customer(api: httpx.Client) -> None:
    customer = create_customer(api, "cus_min")
    assert set(customer) == CUSTOMER_KEYS
    uuid.UUID(customer["lago_id"])
    assert customer["external_id"] == "cus_min"
    assert customer["sequential_id"] == 1
    assert customer["slug"] == "TES-0001"  # from the organization name "Test org"
    assert customer["applicable_timezone"] == "UTC"
    assert customer["timezone"] is None
    assert customer["account_type"] == "customer"
    assert customer["finalize_zero_amount_invoice"] == "inherit"
    assert customer["skip_invoice_custom_sections"] is False
    assert customer["created_at"].endswith("Z") and customer["updated_at"].endswith("Z")
    assert set(customer["billing_configuration"]) == BILLING_KEYS
    assert all(value is None for value in customer["billing_configuration"].values())
    assert customer["shipping_address"] == dict.fromkeys(ADDRESS_KEYS)
    for key in ("metadata", "integration_customers", "taxes", "applicable_invoice_custom_sections", "error_details"):
        assert customer[key] == []
    second = create_customer(api, "cus_two")
    assert (second["sequential_id"], second["slug"]) == (2, "TES-0002")


def test_applicable_timezone_falls_back_to_the_organization(api: httpx.Client, database, org) -> None:
    with database.unit_of_work() as session:
        session.execute(update(Organization).where(Organization.id == org.id).values(timezone="America/New_York"))
    assert create_customer(api, "c1")["applicable_timezone"] == "America/New_York"
    assert create_customer(api, "c2", timezone="Asia/Tokyo")["applicable_timezone"] == "Asia/Tokyo"


def test_upsert_updates_only_the_keys_sent(lago, api: httpx.Client) -> None:
    first = create_customer(api, "cus_1", name="Acme", email="a@acme.test", country="FR", currency="EUR")
    second = lago.customers.create(Customer(external_id="cus_1", city="Paris"))
    assert second.lago_id == first["lago_id"]
    assert (second.name, second.email, second.country, second.currency, second.city) == (
        "Acme",
        "a@acme.test",
        "FR",
        "EUR",
        "Paris",
    )
    # An explicit null changes nothing either.
    third = api.post("customers", json={"customer": {"external_id": "cus_1", "name": None, "phone": "123"}}).json()
    assert third["customer"]["name"] == "Acme"
    assert third["customer"]["phone"] == "123"
    assert third["customer"]["sequential_id"] == first["sequential_id"]
    assert api.get("customers").json()["meta"]["total_count"] == 1


def test_billing_configuration_and_shipping_address_merge(api: httpx.Client) -> None:
    create_customer(
        api,
        "cus_b",
        billing_configuration={"invoice_grace_period": 2, "payment_provider": "adyen", "document_locale": "en"},
        shipping_address={"city": "Berlin", "country": "de"},
    )
    updated = create_customer(
        api, "cus_b", billing_configuration={"document_locale": "de"}, shipping_address={"zipcode": "10115"}
    )
    billing = updated["billing_configuration"]
    assert (billing["invoice_grace_period"], billing["payment_provider"], billing["document_locale"]) == (
        2,
        "adyen",
        "de",
    )
    assert updated["shipping_address"] == {
        "address_line1": None,
        "address_line2": None,
        "city": "Berlin",
        "zipcode": "10115",
        "state": None,
        "country": "DE",
    }


def test_metadata_items_update_by_id_and_the_list_replaces(api: httpx.Client) -> None:
    created = create_customer(
        api, "cus_m", metadata=[{"key": "a", "value": "1"}, {"key": "b", "value": "2", "display_in_invoice": True}]
    )
    items = {m["key"]: m for m in created["metadata"]}
    assert items["a"]["display_in_invoice"] is False
    assert items["b"]["display_in_invoice"] is True

    # Item "a" updated through its id, "b" dropped (not listed), "c" created.
    updated = create_customer(
        api,
        "cus_m",
        metadata=[
            {"id": items["a"]["lago_id"], "key": "a", "value": "10", "display_in_invoice": True},
            {"key": "c", "value": "3"},
        ],
    )["metadata"]
    by_key = {m["key"]: m for m in updated}
    assert set(by_key) == {"a", "c"}
    assert by_key["a"]["lago_id"] == items["a"]["lago_id"]
    assert (by_key["a"]["value"], by_key["a"]["display_in_invoice"]) == ("10", True)

    # Not sending metadata leaves it alone.
    assert create_customer(api, "cus_m", name="X")["metadata"] == updated

    # Two items may swap keys in one request.
    swapped = create_customer(
        api,
        "cus_m",
        metadata=[
            {"id": by_key["a"]["lago_id"], "key": "c", "value": "from a"},
            {"id": by_key["c"]["lago_id"], "key": "a", "value": "from c"},
        ],
    )["metadata"]
    assert {(m["lago_id"], m["key"], m["value"]) for m in swapped} == {
        (by_key["a"]["lago_id"], "c", "from a"),
        (by_key["c"]["lago_id"], "a", "from c"),
    }
    # A new item may take the key of an item removed in the same request; an unknown id creates an item.
    replaced = create_customer(api, "cus_m", metadata=[{"id": str(uuid.uuid4()), "key": "a", "value": "new"}])[
        "metadata"
    ]
    assert [(m["key"], m["value"]) for m in replaced] == [("a", "new")]
    assert replaced[0]["lago_id"] not in {by_key["a"]["lago_id"], by_key["c"]["lago_id"]}
    # An empty list removes everything.
    assert create_customer(api, "cus_m", metadata=[])["metadata"] == []


def test_tax_codes_replace_the_customer_taxes(api: httpx.Client, unchanged) -> None:
    create_tax(api, "vat", "20")
    create_tax(api, "eco", "1")
    assert [t["code"] for t in create_customer(api, "cus_t", tax_codes=["vat", "eco"])["taxes"]] == ["eco", "vat"]
    assert [t["code"] for t in create_customer(api, "cus_t", tax_codes=["eco"])["taxes"]] == ["eco"]
    assert [t["code"] for t in create_customer(api, "cus_t", name="kept")["taxes"]] == ["eco"]
    with unchanged():
        response = api.post(
            "customers", json={"customer": {"external_id": "cus_t", "name": "Y", "tax_codes": ["nope"]}}
        )
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}
    # Deleting a tax detaches it from its customers.
    assert api.delete("taxes/eco").status_code == 200
    assert api.get("customers/cus_t").json()["customer"]["taxes"] == []


def test_integration_customers_keep_their_id_per_type(api: httpx.Client) -> None:
    first = create_customer(
        api, "cus_i", integration_customers=[{"integration_type": "anrok", "integration_code": "anrok_1"}]
    )
    [link] = first["integration_customers"]
    assert (link["type"], link["integration_code"]) == ("anrok", "anrok_1")
    second = create_customer(
        api,
        "cus_i",
        integration_customers=[
            {"integration_type": "anrok", "integration_code": "anrok_2"},
            {"integration_type": "xero", "integration_code": "xero_1"},
        ],
    )
    links = {item["type"]: item for item in second["integration_customers"]}
    assert links["anrok"]["lago_id"] == link["lago_id"]
    assert links["anrok"]["integration_code"] == "anrok_2"
    assert links["xero"]["lago_id"] != link["lago_id"]


def test_unknown_customer_is_404(lago, api: httpx.Client, unchanged) -> None:
    with unchanged():
        for response in (api.get("customers/ghost"), api.delete("customers/ghost")):
            assert response.status_code == 404
            assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
        with pytest.raises(LagoApiError) as missing:
            lago.customers.find("ghost")
    assert missing.value.status_code == 404


def test_delete_is_soft_and_frees_the_external_id(lago, api: httpx.Client, database) -> None:
    created = create_customer(api, "cus_d", name="Gone", metadata=[{"key": "k", "value": "v"}])
    deleted = lago.customers.destroy("cus_d")
    assert deleted.lago_id == created["lago_id"]
    assert deleted.name == "Gone"
    assert api.get("customers/cus_d").status_code == 404
    assert api.get("customers").json()["customers"] == []

    reborn = create_customer(api, "cus_d")
    assert reborn["lago_id"] != created["lago_id"]
    assert reborn["name"] is None and reborn["metadata"] == []
    assert reborn["sequential_id"] == created["sequential_id"] + 1  # numbers are never reused
    assert api.get("customers/cus_d").json()["customer"]["lago_id"] == reborn["lago_id"]


def test_other_organization_cannot_see_customers(api: httpx.Client, server, database, unchanged) -> None:
    mine = create_customer(api, "shared_id", name="Mine")
    other = make_org(database, "Zeta Industries")
    with client_for(server, other.api_key) as client:
        with unchanged():
            assert client.get("customers/shared_id").json()["code"] == "customer_not_found"
            assert client.delete("customers/shared_id").status_code == 404
            assert client.get("customers").json()["customers"] == []
        theirs = client.post("customers", json={"customer": {"external_id": "shared_id", "name": "Theirs"}}).json()
    assert theirs["customer"]["lago_id"] != mine["lago_id"]
    assert (theirs["customer"]["sequential_id"], theirs["customer"]["slug"]) == (1, "ZET-0001")
    assert api.get("customers/shared_id").json()["customer"]["name"] == "Mine"


def test_concurrent_upserts_number_each_customer_once(api: httpx.Client, server, org) -> None:
    def upsert(external_id: str) -> int:
        with client_for(server, org.api_key) as client:
            return client.post("customers", json={"customer": {"external_id": external_id}}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upsert, [f"c{i}" for i in range(8)] + ["same"] * 8))
    assert statuses == [200] * 16
    customers = api.get("customers").json()["customers"]
    assert sorted(c["external_id"] for c in customers) == sorted([f"c{i}" for i in range(8)] + ["same"])
    assert sorted(c["sequential_id"] for c in customers) == list(range(1, 10))
