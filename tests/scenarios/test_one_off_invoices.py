"""One-off invoices of add-ons (``POST /invoices``), their taxes and webhook; ``download``,
``retry`` and ``retry_payment`` as Lago answers them without a PDF or a payment provider."""

from __future__ import annotations

from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import Org, database_state
from tests.scenarios.conftest import Clock, customer, listen, ok, plan, subscribe, utc, webhooks


def _catalog(api: httpx.Client) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    ok(api.post("taxes", json={"tax": {"name": "Local", "code": "local", "rate": "2.5"}}))
    ok(api.post("add_ons", json={"add_on": {"name": "Setup", "code": "setup", "amount_cents": 12000,
                                            "amount_currency": "EUR", "tax_codes": ["vat"]}}))
    ok(api.post("add_ons", json={"add_on": {"name": "Support", "code": "support", "amount_cents": 5000,
                                            "amount_currency": "EUR", "description": "Support time"}}))


def test_a_one_off_invoice_of_add_ons_with_their_taxes(api: httpx.Client, lago: Any, at: Clock,
                                                       database: Database, org: Org) -> None:
    listen(api)
    _catalog(api)
    customer(api, "cus", tax_codes=["local"])
    at(utc(2024, 3, 10, 15))
    created = ok(api.post("invoices", json={"invoice": {"external_customer_id": "cus", "currency": "EUR", "fees": [
        {"add_on_code": "setup", "units": "2.5"},
        {"add_on_code": "support", "unit_amount_cents": 333, "units": 3, "description": "3 hours",
         "invoice_display_name": "Support hours"},
        {"add_on_code": "support", "units": "0.5", "tax_codes": ["vat", "local"]}]}}))["invoice"]
    invoice = ok(api.get(f"invoices/{created['lago_id']}"))["invoice"]
    assert invoice == created
    assert (invoice["invoice_type"], invoice["status"], invoice["payment_status"]) == (
        "one_off", "finalized", "pending")
    listed = ok(api.get("invoices", params={"invoice_type": "one_off"}))["invoices"]
    assert [i["lago_id"] for i in listed] == [invoice["lago_id"]]
    assert invoice["number"] == f"TES-{org.id.hex[-4:].upper()}-001-001"
    assert (invoice["issuing_date"], invoice["billing_periods"], invoice["subscriptions"]) == ("2024-03-10", [], [])
    lines = [(f["item"]["type"], f["item"]["code"], f["item"]["invoice_display_name"], f["units"], f["amount_cents"],
              f["description"], f["taxes_amount_cents"]) for f in invoice["fees"]]
    # setup: 2.5 x 120.00 = 300.00, the add-on's VAT: 20 % -> 60.00.
    # support: 3 x 3.33 = 9.99, no add-on tax -> the customer's local 2.5 % = 0.24975 -> 0.25.
    # support: 0.5 x 50.00 = 25.00 with the line's VAT + local: 22.5 % = 5.625 -> 5.63.
    assert lines == [("add_on", "setup", "Setup", "2.5", 30000, None, 6000),
                     ("add_on", "support", "Support hours", "3", 999, "3 hours", 25),
                     ("add_on", "support", "Support", "0.5", 2500, "Support time", 563)]
    # Per code: VAT (30000 + 2500) x 20 % = 6500; local (999 + 2500) x 2.5 % = 87.475 -> 87;
    # the invoice tax is round(6500 + 87.475) = 6587 (not 6000 + 25 + 563 = 6588).
    assert sorted((t["tax_code"], t["fees_amount_cents"], t["amount_cents"]) for t in invoice["applied_taxes"]) == [
        ("local", 3499, 87), ("vat", 32500, 6500)]
    assert (invoice["fees_amount_cents"], invoice["taxes_amount_cents"], invoice["total_amount_cents"]) == (
        33499, 6587, 40086)
    assert [(kind, body["invoice"]["lago_id"]) for kind, body in webhooks(database, org)] == [
        ("invoice.one_off_created", invoice["lago_id"])]
    assert ok(api.get("fees", params={"fee_type": "add_on"}))["meta"]["total_count"] == 3

    # The official client: a second one-off invoice for the add-on's own price, numbered next.
    from lago_python_client.models import InvoiceFee, InvoiceFeesList, OneOffInvoice

    second = lago.invoices.create(OneOffInvoice(external_customer_id="cus", fees=InvoiceFeesList(
        __root__=[InvoiceFee(add_on_code="support")])))
    # 1 x 50.00 and the customer's 2.5 % = 1.25.
    assert (second.number[-7:], second.currency, second.total_amount_cents) == ("001-002", "EUR", 5125)


def test_refused_one_off_invoices_change_nothing(api: httpx.Client, at: Clock, database: Database,
                                                org: Org) -> None:
    _catalog(api)
    plan(api, "basic", 1000)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "basic", utc(2024, 3, 1))
    before = database_state(database)

    def refused(body: Any) -> tuple[int, Any]:
        response = api.post("invoices", json=body)
        return response.status_code, response.json().get("code"), response.json().get("error_details")

    fee = {"add_on_code": "setup"}
    assert refused({"invoice": {"external_customer_id": "nobody", "fees": [fee]}})[:2] == (404, "customer_not_found")
    assert refused({"invoice": {"external_customer_id": "cus", "fees": []}})[:2] == (404, "fees_not_found")
    assert refused({"invoice": {"external_customer_id": "cus", "fees": [fee, {"add_on_code": "nope"}]}})[:2] == (
        404, "add_on_not_found")
    assert refused({"invoice": {"external_customer_id": "cus", "fees": [{**fee, "tax_codes": ["nope"]}]}})[:2] == (
        404, "tax_not_found")
    assert refused({"invoice": {"external_customer_id": "cus", "currency": "USD", "fees": [fee]}}) == (
        422, "validation_errors", {"currency": ["currencies_does_not_match"]})
    assert refused({"invoice": {"external_customer_id": "cus", "fees": [{**fee, "units": "-1"}]}})[:2] == (
        422, "validation_errors")
    assert api.post("invoices", json={"fees": [fee]}).status_code == 400
    assert database_state(database) == before


def test_download_retry_and_retry_payment(api: httpx.Client, lago: Any, at: Clock, database: Database,
                                          org: Org) -> None:
    _catalog(api)
    customer(api, "cus", currency="EUR")
    at(utc(2024, 3, 10))
    invoice = ok(api.post("invoices", json={"invoice": {"external_customer_id": "cus", "fees": [
        {"add_on_code": "support"}]}}))["invoice"]
    lago_id = invoice["lago_id"]

    # No PDF is rendered yet: an empty 200, which the official client reads as "not ready".
    download = api.post(f"invoices/{lago_id}/download")
    assert (download.status_code, download.content) == (200, b"")
    assert lago.invoices.download(lago_id) is None
    assert api.post("invoices/00000000-0000-0000-0000-000000000000/download").status_code == 404

    # Only an invoice whose generation failed is generated again; Billow's never fail.
    retry = api.post(f"invoices/{lago_id}/retry")
    assert (retry.status_code, retry.json()["code"]) == (405, "invalid_status")

    # No payment provider: the retry is accepted and changes nothing; a paid invoice is refused.
    before = database_state(database)
    retried = api.post(f"invoices/{lago_id}/retry_payment")
    assert (retried.status_code, retried.content) == (200, b"")
    assert database_state(database) == before
    ok(api.put(f"invoices/{lago_id}", json={"invoice": {"payment_status": "succeeded"}}))
    paid = api.post(f"invoices/{lago_id}/retry_payment")
    assert (paid.status_code, paid.json()["code"]) == (405, "invalid_status")

    voided_id = ok(api.post("invoices", json={"invoice": {"external_customer_id": "cus", "fees": [
        {"add_on_code": "support"}]}}))["invoice"]["lago_id"]
    ok(api.post(f"invoices/{voided_id}/void"))
    assert api.post(f"invoices/{voided_id}/download").status_code == 404
    assert api.post(f"invoices/{voided_id}/retry_payment").json()["code"] == "invalid_status"
