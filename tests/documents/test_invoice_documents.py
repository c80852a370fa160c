"""Invoice PDFs: made by a job once the invoice is finalized (never for drafts), stored, served at
``file_url`` without the API key, announced once by ``invoice.generated``; ``download`` as Lago
answers it; the setting that turns rendering off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from billow.config import Settings
from billow.core.db import Database
from billow.documents import tasks
from billow.fees import tasks as fee_tasks
from billow.models import Document, Job
from tests.conftest import LiveServer, Org
from tests.documents.support import (
    PUBLIC_URL,
    fetch,
    invoice_key,
    jobs,
    run,
    sent,
    settings_for,
    text,
)
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    invoices,
    listen,
    metric,
    ok,
    plan,
    send,
    subscribe,
    utc,
)


def _story(api: httpx.Client, at: Clock, **customer_fields: Any) -> None:
    """January of a 31.00 EUR plan with 0.25 EUR per call, 4 calls, a 5.00 EUR coupon, 20 % VAT."""
    listen(api)
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    calls = metric(api, "calls", "count_agg")
    plan(api, "pro", 3100, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                     "properties": {"amount": "0.25"}}])
    customer(api, "acme", name="Acme Corp", tax_codes=["vat"], email="billing@acme.test", city="Lyon",
             **customer_fields)
    ok(api.post("coupons", json={"coupon": {"name": "Launch", "code": "launch", "coupon_type": "fixed_amount",
                                            "amount_cents": 500, "amount_currency": "EUR",
                                            "expiration": "no_expiration", "frequency": "once"}}))
    ok(api.post("applied_coupons", json={"applied_coupon": {"external_customer_id": "acme", "coupon_code": "launch"}}))
    subscribe(api, at, "sub", "acme", "pro", utc(2024, 1, 1))
    for day in (3, 9, 17, 28):
        send(api, "sub", "calls", utc(2024, 1, day, 12))


def test_a_finalized_invoice_gets_its_pdf_served_without_the_api_key(
        api: httpx.Client, anon: httpx.Client, lago: Any, at: Clock, database: Database, org: Org) -> None:
    _story(api, at)
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1), chunked=False)
    [invoice] = invoices(api)
    # 3100 + 4 x 25 = 3200, less the 500 coupon = 2700, VAT 540: 3240.
    assert (invoice["fees_amount_cents"], invoice["coupons_amount_cents"], invoice["taxes_amount_cents"],
            invoice["total_amount_cents"]) == (3200, 500, 540, 3240)
    assert invoice["file_url"] is None  # rendered after the finalizing transaction, by its job
    assert (api.post(f"invoices/{invoice['lago_id']}/download").status_code,
            api.post(f"invoices/{invoice['lago_id']}/download").content) == (200, b"")
    assert [job.state for job in jobs(database, invoice_key(invoice["lago_id"]))] == ["queued"]  # not asked twice

    assert run(database, invoice_key(invoice["lago_id"])) == ["done"]
    found = ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]
    assert found["file_url"].startswith(f"{PUBLIC_URL}/documents/")
    content = text(fetch(anon, found["file_url"]))
    for shown in (invoice["number"], "Invoice", "Test org", "Acme Corp", "billing@acme.test", "Lyon",
                  "Issue date 2024-02-01", "Subscription fee - pro", "2024-01-01 to 2024-01-31", "€31.00",
                  "calls", "€0.25", "€1.00", "Launch", "-€5.00", "Subtotal (excl. tax) €27.00",
                  "VAT (20% on €27.00) €5.40", "Subtotal (incl. tax) €32.40", "Total €32.40", "Due 2024-02-01"):
        assert shown in content, (shown, content)

    # download answers with the invoice once the file exists; so does the official client
    downloaded = ok(api.post(f"invoices/{invoice['lago_id']}/download"))["invoice"]
    assert (downloaded["lago_id"], downloaded["file_url"]) == (invoice["lago_id"], found["file_url"])
    assert lago.invoices.download(invoice["lago_id"]).file_url == found["file_url"]

    [generated] = sent(database, org, "invoice.generated")
    assert (generated["object_type"], generated["invoice"]["lago_id"], generated["invoice"]["file_url"]) == (
        "invoice", invoice["lago_id"], found["file_url"])


def test_unknown_tokens_are_not_found(anon: httpx.Client) -> None:
    assert anon.get("/documents/not-a-token.pdf").status_code == 404
    assert anon.get("/documents/.pdf").status_code == 404


def test_the_job_run_again_sends_invoice_generated_once(api: httpx.Client, at: Clock, database: Database,
                                                         org: Org) -> None:
    _story(api, at)
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1), chunked=False)
    [invoice] = invoices(api)
    key = invoice_key(invoice["lago_id"])
    assert run(database, key) == ["done"]
    file_url = ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]["file_url"]
    # The worker died after the job's transaction committed, before recording the job as done:
    # its lease ends and the job runs again.
    with database.unit_of_work() as session:
        session.execute(update(Job).where(Job.dedupe_key == key).values(state="running", locked_by="dead-worker",
                                                                             run_at=utc(2024, 2, 1)))
    assert run(database, key) == ["done"]
    # Finalization asked again (a retried transaction): the same job, not a new one.
    with database.unit_of_work() as session:
        tasks.enqueue_invoice(session, invoice["lago_id"])
    assert [(job.state, job.attempts) for job in jobs(database, key)] == [("done", 2)]
    assert [body["invoice"]["file_url"] for body in sent(database, org, "invoice.generated")] == [file_url]
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Document)
                              .where(Document.organization_id == org.id)) == 1


def test_drafts_get_no_pdf_until_they_are_finalized(api: httpx.Client, anon: httpx.Client, at: Clock,
                                                    database: Database, org: Org) -> None:
    _story(api, at, billing_configuration={"invoice_grace_period": 3})
    subscribe(api, at, "sub-2", "acme", "pro", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1), chunked=False)
    drafts = invoices(api)
    assert [draft["status"] for draft in drafts] == ["draft", "draft"]
    assert all(jobs(database, invoice_key(draft["lago_id"])) == [] for draft in drafts)
    assert api.post(f"invoices/{drafts[0]['lago_id']}/download").status_code == 404  # as Lago: drafts have no file

    # One is finalized by hand, the other when its grace period ends (the billing clock).
    finalized = ok(api.put(f"invoices/{drafts[0]['lago_id']}/finalize"))["invoice"]
    assert (finalized["status"], finalized["file_url"]) == ("finalized", None)
    at(utc(2024, 2, 4))
    assert [str(invoice_id) for invoice_id in bill(database, org, utc(2024, 2, 4)).finalized] == [drafts[1]["lago_id"]]
    keys = [invoice_key(draft["lago_id"]) for draft in drafts]
    assert run(database, *keys) == ["done", "done"]
    done = {invoice["lago_id"]: invoice for invoice in invoices(api)}
    for draft in drafts:
        invoice = done[draft["lago_id"]]
        assert invoice["status"] == "finalized"
        assert invoice["number"] in text(fetch(anon, invoice["file_url"]))
    assert sorted(body["invoice"]["lago_id"] for body in sent(database, org, "invoice.generated")) == sorted(done)


def test_one_off_invoices_get_their_pdf_and_voided_invoices_keep_it(
        api: httpx.Client, anon: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    listen(api)
    ok(api.post("add_ons", json={"add_on": {"name": "Setup", "code": "setup", "amount_cents": 12000,
                                            "amount_currency": "EUR"}}))
    customer(api, "cus")
    at(utc(2024, 3, 10))
    invoice = ok(api.post("invoices", json={"invoice": {"external_customer_id": "cus", "fees": [
        {"add_on_code": "setup", "units": "2.5", "invoice_display_name": "Onboarding"}]}}))["invoice"]
    assert run(database, invoice_key(invoice["lago_id"])) == ["done"]
    ok(api.post(f"invoices/{invoice['lago_id']}/void"))
    voided = ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]
    assert voided["status"] == "voided" and voided["file_url"] is not None
    content = text(fetch(anon, voided["file_url"]))
    for shown in ("Onboarding", "2.5", "€120.00", "€300.00", "Tax (0%) €0.00", "Total €300.00"):
        assert shown in content, (shown, content)
    assert api.post(f"invoices/{invoice['lago_id']}/download").status_code == 404  # finalized invoices only


def test_the_billing_run_in_chunks_enqueues_the_pdfs_of_its_invoices(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    """The chunked billing run queues one document job per invoice in its write transaction;
    queuing them again (``enqueue_invoices``) adds nothing."""
    plan(api, "flat", 1000)
    customer(api, "cus")
    for name in ("a", "b"):
        subscribe(api, at, name, "cus", "flat", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    ids = [invoice["lago_id"] for invoice in invoices(api)]
    assert len(ids) == 2
    assert [len(jobs(database, invoice_key(lago_id))) for lago_id in ids] == [1, 1]
    with database.unit_of_work() as session:
        tasks.enqueue_invoices(session, ids)
        tasks.enqueue_invoices(session, [])
    assert [len(jobs(database, invoice_key(lago_id))) for lago_id in ids] == [1, 1]
    assert run(database, *map(invoice_key, ids)) == ["done", "done"]
    assert all(invoice["file_url"] for invoice in invoices(api))


@pytest.fixture
def app_settings(server: LiveServer) -> Iterator[Callable[[Settings], None]]:
    """Swap the live server's settings for the test."""
    kept = server.app.state.settings

    def use(settings: Settings) -> None:
        server.app.state.settings = settings

    yield use
    server.app.state.settings = kept


def test_rendering_turned_off(api: httpx.Client, app_settings: Callable[[Settings], None], at: Clock,
                              database: Database, org: Org) -> None:
    _story(api, at)
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1), chunked=False)
    [invoice] = invoices(api)
    key = invoice_key(invoice["lago_id"])
    off = settings_for(database, disable_pdf_generation=True)
    assert run(database, key, settings=off) == ["done"]
    assert ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]["file_url"] is None
    assert sent(database, org, "invoice.generated") == []

    app_settings(off)
    assert api.post(f"invoices/{invoice['lago_id']}/download").content == b""
    assert len(jobs(database, key)) == 1  # nothing asked while rendering is off

    # Turned on again: a download asks for the file its job did not make.
    app_settings(settings_for(database))
    assert api.post(f"invoices/{invoice['lago_id']}/download").content == b""
    assert api.post(f"invoices/{invoice['lago_id']}/download").content == b""
    [first, again] = jobs(database, key)
    assert (first.state, again.state, again.dedupe_key.startswith(f"{key}:again:")) == ("done", "queued", True)
    assert run(database, again.dedupe_key) == ["done"]
    assert ok(api.post(f"invoices/{invoice['lago_id']}/download"))["invoice"]["file_url"]
    assert len(sent(database, org, "invoice.generated")) == 1


def test_the_invoice_of_a_pay_in_advance_charge_gets_its_pdf(api: httpx.Client, anon: httpx.Client, at: Clock,
                                                             database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "advance", 0, charges=[{"billable_metric_id": calls, "charge_model": "standard", "pay_in_advance": True,
                                      "invoiceable": True, "properties": {"amount": "0.5"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "advance", utc(2024, 3, 1))
    at(utc(2024, 3, 3, 10))
    send(api, "sub", "calls", utc(2024, 3, 3, 10))
    assert fee_tasks.create_fees(database, utc(2024, 3, 3, 10, 0, 10), org.id) == 1
    [invoice] = invoices(api)
    assert (invoice["status"], invoice["total_amount_cents"]) == ("finalized", 50)
    assert run(database, invoice_key(invoice["lago_id"])) == ["done"]
    content = text(fetch(anon, ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]["file_url"]))
    for shown in (invoice["number"], "calls", "€0.50", "Total €0.50"):
        assert shown in content, (shown, content)
