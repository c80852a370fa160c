"""Credit-note PDFs: made by a job once the credit note is created, served at ``file_url``,
announced once by ``credit_note.generated``; ``download`` as Lago answers it."""

from __future__ import annotations

from typing import Any

import httpx

from billow.core.db import Database
from tests.conftest import LiveServer, Org, make_org
from tests.customers.support import client_for
from tests.documents.support import credit_note_key, fetch, jobs, run, sent, text
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    invoices,
    listen,
    ok,
    plan,
    subscribe,
    utc,
)


def test_a_credit_note_gets_its_pdf_once(api: httpx.Client, anon: httpx.Client, lago: Any, server: LiveServer,
                                         at: Clock, database: Database, org: Org) -> None:
    listen(api)
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    plan(api, "base", 3100)
    customer(api, "cus", name="Globex", tax_codes=["vat"])
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1), chunked=False)
    [invoice] = invoices(api)
    at(utc(2024, 2, 5))
    # 10.00 of the 31.00 fee back, with its 20 % VAT: 12.00 credited to the customer's balance.
    items = [{"fee_id": invoice["fees"][0]["lago_id"], "amount_cents": 1000}]
    note = ok(api.post("credit_notes", json={"credit_note": {
        "invoice_id": invoice["lago_id"], "reason": "other", "items": items, "credit_amount_cents": 1200}}))["credit_note"]
    assert note["file_url"] is None
    download = api.post(f"credit_notes/{note['lago_id']}/download")
    assert (download.status_code, download.content) == (200, b"")
    assert lago.credit_notes.download(note["lago_id"]) is None

    with client_for(server, make_org(database, "Other").api_key) as other:
        assert other.post(f"credit_notes/{note['lago_id']}/download").status_code == 404
        assert other.post(f"invoices/{invoice['lago_id']}/download").status_code == 404

    key = credit_note_key(note["lago_id"])
    assert run(database, key) == ["done"]
    assert run(database, key) == []  # done: nothing left to run
    found = ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]
    content = text(fetch(anon, found["file_url"]))
    for shown in ("Credit note", note["number"], invoice["number"], "Credit from", "Test org", "Credit to", "Globex",
                  "Credited on customer balance on 2024-02-05", "Subscription fee - base", "€10.00",
                  "Subtotal (excl. tax) €10.00", "VAT (20% on €10.00) €2.00", "Total €12.00"):
        assert shown in content, (shown, content)

    downloaded = ok(api.post(f"credit_notes/{note['lago_id']}/download"))["credit_note"]
    assert (downloaded["lago_id"], downloaded["file_url"]) == (note["lago_id"], found["file_url"])
    assert lago.credit_notes.download(note["lago_id"]).file_url == found["file_url"]
    [generated] = sent(database, org, "credit_note.generated")
    assert (generated["object_type"], generated["credit_note"]["lago_id"], generated["credit_note"]["file_url"]) == (
        "credit_note", note["lago_id"], found["file_url"])
    assert [job.state for job in jobs(database, key)] == ["done"]
    # The invoice's own document is a separate job, untouched by the credit note's.
    assert ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]["file_url"] is None

