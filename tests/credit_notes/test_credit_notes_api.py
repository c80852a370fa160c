"""The credit note endpoints: Lago's validations (nothing written when refused), organization
scoping, the download placeholder and the official client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from lago_python_client.models.credit_note import CreditNote, CreditNoteEstimate, CreditNoteUpdate, Item, Items

from billow.core.db import Database
from tests.conftest import Org, make_org
from tests.customers.support import client_for
from tests.scenarios.conftest import Clock, bill, customer, invoices, ok, plan, subscribe, utc


@pytest.fixture
def invoice(api: httpx.Client, at: Clock, database: Database, org: Org) -> dict[str, Any]:
    """January of a 31.00 EUR arrears plan with 20 % VAT: fee 3100, 620 VAT, 3720 due (unpaid)."""
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    plan(api, "base", 3100)
    customer(api, "cus", tax_codes=["vat"])
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    [january] = invoices(api)
    return january


def _post(api: httpx.Client, invoice: dict[str, Any], amount_cents: int, **fields: Any) -> httpx.Response:
    items = [{"fee_id": invoice["fees"][0]["lago_id"], "amount_cents": amount_cents}]
    return api.post("credit_notes", json={"credit_note": {"invoice_id": invoice["lago_id"], "items": items, **fields}})


def _refused(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(("amount", "fields", "details"), [
    # 1000 + 20 % = 1200 is the credit note's total; the split must add up to it.
    (1000, {"credit_amount_cents": 1000}, {"base": ["does_not_match_item_amounts"]}),
    (1000, {"credit_amount_cents": 1200, "refund_amount_cents": 10},
     {"base": ["does_not_match_item_amounts"], "refund_amount_cents": ["cannot_refund_unpaid_invoice"]}),
    # More than the fee billed (3100): 3101 + 620.2 VAT -> 3721, more than the 3720 of the invoice too.
    (3101, {"credit_amount_cents": 3721}, {"amount_cents": ["higher_than_remaining_fee_amount"],
                                           "base": ["higher_than_remaining_invoice_amount"],
                                           "credit_amount_cents": ["higher_than_remaining_invoice_amount"]}),
    # The invoice is not paid: nothing can be refunded.
    (1000, {"refund_amount_cents": 1200}, {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]}),
    # Nothing to give back.
    (0, {}, {"base": ["total_amount_must_be_positive"]}),
    (-5, {"credit_amount_cents": 0}, {"amount_cents": ["value_is_out_of_range"]}),
    # Only 3720 is owed on the invoice.
    (1000, {"offset_amount_cents": 1200, "credit_amount_cents": 0}, {}),
])
def test_validations(api: httpx.Client, invoice: dict[str, Any], unchanged: Callable[[], Any], amount: int,
                     fields: dict[str, int], details: dict[str, list[str]]) -> None:
    if not details:  # the last case is valid: an offset of an unpaid invoice
        note = ok(_post(api, invoice, amount, **fields))["credit_note"]
        assert (note["offset_amount_cents"], note["credit_status"]) == (1200, None)
        assert ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]["total_due_amount_cents"] == 2520
        return
    with unchanged():
        body = _refused(_post(api, invoice, amount, **fields))
    assert (body["code"], body["error_details"]) == ("validation_errors", details)


def test_refunds_limited_to_what_was_paid_and_fees_to_what_is_left(api: httpx.Client,
                                                                   invoice: dict[str, Any]) -> None:
    ok(api.put(f"invoices/{invoice['lago_id']}", json={"invoice": {"payment_status": "succeeded"}}))
    ok(_post(api, invoice, 2000, refund_amount_cents=2400))  # 2000 + 400 VAT; 3720 - 2400 = 1320 paid left
    # 1100 + 220 VAT = 1320: a refund of 1321 is more than the note and more than what is left paid.
    body = _refused(_post(api, invoice, 1100, refund_amount_cents=1321))
    assert body["error_details"] == {"base": ["does_not_match_item_amounts"],
                                     "refund_amount_cents": ["higher_than_remaining_invoice_amount"]}
    ok(_post(api, invoice, 1100, refund_amount_cents=1000, credit_amount_cents=320))
    # The fee (3100) is all given back: 1 more cent is too much, for the fee and for the invoice.
    body = _refused(_post(api, invoice, 1, credit_amount_cents=1))
    assert body["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"],
                                     "base": ["higher_than_remaining_invoice_amount"],
                                     "credit_amount_cents": ["higher_than_remaining_invoice_amount"]}
    numbers = [n["number"] for n in ok(api.get("credit_notes"))["credit_notes"]]
    assert numbers == [f"{invoice['number']}-CN2", f"{invoice['number']}-CN1"]  # newest first


def test_items_of_one_fee_add_up(api: httpx.Client, invoice: dict[str, Any], unchanged: Callable[[], Any]) -> None:
    fee_id = invoice["fees"][0]["lago_id"]
    body = {"invoice_id": invoice["lago_id"], "credit_amount_cents": 3840,  # 3200 + 640 VAT
            "items": [{"fee_id": fee_id, "amount_cents": 1600}, {"fee_id": fee_id, "amount_cents": 1600}]}
    with unchanged():
        refused = _refused(api.post("credit_notes", json={"credit_note": body}))
    # Each item alone fits the 3100 of the fee; together they ask 3200.
    assert refused["error_details"]["amount_cents"] == ["higher_than_remaining_fee_amount"]


def test_not_found_and_not_finalized(api: httpx.Client, invoice: dict[str, Any], at: Clock, database: Database,
                                     org: Org, unchanged: Callable[[], Any]) -> None:
    with unchanged():
        assert _refused(api.post("credit_notes", json={"credit_note": {
            "invoice_id": "nope", "items": [{"fee_id": invoice["fees"][0]["lago_id"], "amount_cents": 1}]}}),
            404)["code"] == "invoice_not_found"
        other_fee = dict(invoice, fees=[{"lago_id": invoice["lago_id"]}])  # an id that is no fee of the invoice
        assert _refused(_post(api, other_fee, 1, credit_amount_cents=1), 404)["code"] == "fee_not_found"
        assert _refused(api.post("credit_notes", json={}), 400)["error"].startswith("BadRequest")
        assert _refused(api.post("credit_notes", json={"credit_note": {"invoice_id": invoice["lago_id"],
                                                                       "items": []}}))["error_details"] == {
            "items": ["value_is_invalid"]}
        assert _refused(api.get("credit_notes/00000000-0000-0000-0000-000000000000"), 404)["code"] == \
            "credit_note_not_found"
    # A draft (grace period) cannot be credited.
    customer(api, "late", billing_configuration={"invoice_grace_period": 3})
    subscribe(api, at, "late-sub", "late", "base", utc(2024, 2, 1))
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    draft = next(i for i in invoices(api) if i["status"] == "draft")
    with unchanged():
        assert _refused(_post(api, draft, 100, credit_amount_cents=100), 405)["code"] == "invalid_type_or_status"


def test_other_organizations_see_nothing(api: httpx.Client, invoice: dict[str, Any], server: Any,
                                         database: Database) -> None:
    note = ok(_post(api, invoice, 1000, credit_amount_cents=1200))["credit_note"]
    with client_for(server, make_org(database, "Other").api_key) as other:
        assert other.get(f"credit_notes/{note['lago_id']}").status_code == 404
        assert other.put(f"credit_notes/{note['lago_id']}/void").status_code == 404
        assert ok(other.get("credit_notes"))["credit_notes"] == []
        assert _refused(_post(other, invoice, 10, credit_amount_cents=12), 404)["code"] == "invoice_not_found"


def test_download_answers_empty_until_a_pdf_exists(api: httpx.Client, invoice: dict[str, Any]) -> None:
    note = ok(_post(api, invoice, 1000, credit_amount_cents=1200))["credit_note"]
    response = api.post(f"credit_notes/{note['lago_id']}/download")
    assert (response.status_code, response.content) == (200, b"")


def test_filters(api: httpx.Client, invoice: dict[str, Any]) -> None:
    small = ok(_post(api, invoice, 100, credit_amount_cents=120, reason="duplicated_charge"))["credit_note"]
    ok(_post(api, invoice, 1000, credit_amount_cents=1200, reason="other"))

    def ids(**params: Any) -> list[str]:
        return [n["lago_id"] for n in ok(api.get("credit_notes", params=params))["credit_notes"]]

    assert ids(reason="duplicated_charge") == [small["lago_id"]]
    assert ids(amount_to=500) == [small["lago_id"]]
    assert len(ids(invoice_number=invoice["number"], external_customer_id="cus", currency="EUR")) == 2
    assert ids(external_customer_id="someone") == []
    assert len(ids(search_term="cus")) == 2
    assert ids(issuing_date_from="2030-01-01") == []
    customer_listed = ok(api.get("customers/cus/credit_notes", params={"reason": "other"}))["credit_notes"]
    assert len(customer_listed) == 1
    assert _refused(api.get("credit_notes", params={"credit_status": "gone"}))["error_details"] == {
        "credit_status": ["value_is_invalid"]}


def test_official_client(lago: Any, invoice: dict[str, Any]) -> None:
    items = Items(__root__=[Item(fee_id=invoice["fees"][0]["lago_id"], amount_cents=1000)])
    estimated = lago.credit_notes.estimate(CreditNoteEstimate(invoice_id=invoice["lago_id"], items=items))
    assert (estimated.taxes_amount_cents, estimated.max_creditable_amount_cents) == (200, 1200)
    created = lago.credit_notes.create(CreditNote(invoice_id=invoice["lago_id"], reason="other", items=items,
                                                  credit_amount_cents=1200))
    assert (created.total_amount_cents, created.balance_amount_cents, created.taxes_rate) == (1200, 1200, 20.0)
    assert lago.credit_notes.find(created.lago_id).number == created.number
    updated = lago.credit_notes.update(CreditNoteUpdate(metadata={"ticket": "T-1"}), created.lago_id)
    assert updated.metadata == {"ticket": "T-1"}
    voided = lago.credit_notes.void(created.lago_id)
    assert (voided.credit_status, voided.balance_amount_cents) == ("voided", 0)
    assert lago.credit_notes.download(created.lago_id) is None


def test_metadata_sub_endpoints(api: httpx.Client, invoice: dict[str, Any], server: Any, database: Database,
                                unchanged: Callable[[], Any]) -> None:
    """Replace, merge, clear and remove one key; bad bodies and other organizations change nothing."""
    note = ok(_post(api, invoice, 1000, credit_amount_cents=1200, metadata={"a": "1"}))["credit_note"]
    path = f"credit_notes/{note['lago_id']}/metadata"
    assert ok(api.post(path, json={"metadata": {"b": "2", "c": None}})) == {"metadata": {"b": "2", "c": None}}
    assert ok(api.patch(path, json={"metadata": {"c": "3", "d": "4"}})) == {"metadata": {"b": "2", "c": "3", "d": "4"}}
    assert ok(api.delete(f"{path}/c")) == {"metadata": {"b": "2", "d": "4"}}
    assert ok(api.delete(f"{path}/unknown")) == {"metadata": {"b": "2", "d": "4"}}
    assert ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]["metadata"] == {"b": "2", "d": "4"}
    other_key = make_org(database, "Other").api_key
    with unchanged():
        assert api.post(path, json={"meta": {}}).status_code == 400
        assert _refused(api.patch(path, json={"metadata": {"a": 1}}))["error_details"] == {
            "metadata": ["value_is_invalid"]}
        assert _refused(api.post("credit_notes/00000000-0000-0000-0000-000000000000/metadata",
                                 json={"metadata": {}}), 404)["code"] == "credit_note_not_found"
        with client_for(server, other_key) as other:
            assert other.delete(path).status_code == 404
    assert ok(api.delete(path)) == {"metadata": {}}
    assert ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]["metadata"] == {}
