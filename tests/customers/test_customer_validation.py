"""Customer input validation: every refused body answers Lago's code and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.customers.support import create_customer

INVALID = [
    ({"external_id": ""}, "external_id", "value_is_invalid"),
    ({"country": "XX"}, "country", "not_a_valid_country_code"),
    ({"shipping_address": {"country": "ZZ"}}, "shipping_country", "not_a_valid_country_code"),
    ({"currency": "ABC"}, "currency", "value_is_invalid"),
    ({"timezone": "Mars/Olympus"}, "timezone", "invalid_timezone"),
    ({"net_payment_term": -1}, "net_payment_term", "value_is_out_of_range"),
    ({"net_payment_term": "soon"}, "net_payment_term", "value_is_invalid"),
    ({"customer_type": "robot"}, "customer_type", "value_is_invalid"),
    ({"account_type": "vendor"}, "account_type", "value_is_invalid"),
    ({"finalize_zero_amount_invoice": "maybe"}, "finalize_zero_amount_invoice", "invalid_value"),
    ({"email": "not-an-email"}, "email", "invalid_email_format"),
    ({"billing_configuration": {"payment_provider": "paypal"}}, "payment_provider", "value_is_invalid"),
    ({"billing_configuration": {"invoice_grace_period": -2}}, "invoice_grace_period", "value_is_out_of_range"),
    ({"billing_configuration": {"document_locale": "French!"}}, "document_locale", "value_is_invalid"),
    (
        {"billing_configuration": {"subscription_invoice_issuing_date_anchor": "whenever"}},
        "subscription_invoice_issuing_date_anchor",
        "value_is_invalid",
    ),
    ({"metadata": [{"key": f"k{i}", "value": "v"} for i in range(6)]}, "metadata", "invalid_count"),
    ({"metadata": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]}, "metadata", "value_already_exist"),
    ({"metadata": [{"key": "k" * 21, "value": "v"}]}, "key", "value_is_too_long"),
    ({"metadata": [{"key": "k", "value": "v" * 101}]}, "value", "value_is_too_long"),
    ({"metadata": [{"value": "v"}]}, "key", "value_is_mandatory"),
    ({"metadata": [{"key": "k"}]}, "value", "value_is_mandatory"),
    (
        {
            "integration_customers": [
                {"integration_type": "xero", "integration_code": "a"},
                {"integration_type": "xero", "integration_code": "b"},
            ]
        },
        "integration_customers",
        "invalid_count_per_integration_type",
    ),
    (
        {"integration_customers": [{"integration_type": "sap", "integration_code": "a"}]},
        "integration_type",
        "value_is_invalid",
    ),
]


@pytest.mark.parametrize(("fields", "field", "code"), INVALID)
def test_validation_on_create_and_on_update(api: httpx.Client, unchanged, fields: dict, field: str, code: str) -> None:
    create_customer(api, "existing", name="Before")
    for external_id in ("new_one", "existing"):
        body = {"external_id": external_id, **fields}
        with unchanged():
            response = api.post("customers", json={"customer": body})
        assert response.status_code == 422, response.text
        payload = response.json()
        assert (payload["status"], payload["error"], payload["code"]) == (
            422,
            "Unprocessable Entity",
            "validation_errors",
        )
        assert code in payload["error_details"][field]


def test_missing_external_id_or_root(api: httpx.Client, unchanged) -> None:
    with unchanged():
        missing_id = api.post("customers", json={"customer": {"name": "No id"}})
        response = api.post("customers", json={"client": {"external_id": "x"}})
    assert missing_id.status_code == 422
    assert missing_id.json()["error_details"] == {"external_id": ["value_is_mandatory"]}
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest: param is missing or the value is empty or invalid: customer"
