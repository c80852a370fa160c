"""Billing runs side by side: a run in two processes (PostgreSQL; one on SQLite) bills each period
once and numbers invoices without gaps; a chunked run and a one-by-one run over the same
subscriptions at the same time both finish without error (both lock customers in id order before
writing) and bill each period once."""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from billow.core.db import Database
from billow.invoices import batch, billing, parallel
from billow.models import Invoice, InvoiceSubscription, Subscription
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, metric, ok, plan, send, subscribe, utc

START = utc(2024, 1, 1)
END = utc(2024, 4, 1)  # January to March
SUBSCRIPTIONS = 9


def _population(api: httpx.Client, at: Clock) -> None:
    """Nine subscriptions an hour apart on six customers (three with two), one of them in a trial
    (billed one by one), with usage."""
    calls = metric(api, "calls", "count_agg")
    plan(api, "basic", 1000, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                       "properties": {"amount": "0.01"}}])
    plan(api, "trial", 700, trial_period=45)
    for n in range(6):
        customer(api, f"cus-{n}")
    for n in range(SUBSCRIPTIONS):
        subscribe(api, at, f"sub-{n}", f"cus-{n % 6}", "trial" if n == 4 else "basic",
                  datetime.fromtimestamp(START.timestamp() + 3600 * n, START.tzinfo))
    for n in range(SUBSCRIPTIONS):
        for month in (1, 2, 3):
            for _ in range(n % 3 + 1):
                send(api, f"sub-{n}", "calls", utc(2024, month, 5 + n))


def _check_billed_once(database: Database, org: Org) -> None:
    """Every period of January to March billed once; the organization's and each customer's
    sequences (of finalized invoices) without gap or duplicate."""
    with database.unit_of_work(write=False) as session:
        periods = session.execute(select(Subscription.external_id, InvoiceSubscription.charges_from_datetime)
                                  .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
                                  .where(InvoiceSubscription.organization_id == org.id)).all()
        invoices = session.scalars(select(Invoice).where(Invoice.organization_id == org.id)).all()
    assert Counter((name, start.month) for name, start in periods) == {
        (f"sub-{n}", month): 1 for n in range(SUBSCRIPTIONS) for month in (1, 2, 3)}
    numbered = [invoice for invoice in invoices if invoice.status == "finalized"]  # drafts have no number yet
    assert sorted(invoice.organization_sequential_id for invoice in numbered) == list(range(1, len(numbered) + 1))
    by_customer: dict[object, list[int]] = defaultdict(list)
    for invoice in numbered:
        by_customer[invoice.customer_id].append(invoice.sequential_id)
    assert all(sorted(seqs) == list(range(1, len(seqs) + 1)) for seqs in by_customer.values())
    assert len({invoice.number for invoice in numbered}) == len(numbered)


def test_a_run_is_cut_in_chunks_that_shrink_towards_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of ``batch.CHUNK`` at most, in order; towards the end a ``2 * processes``-th of what
    is left, so the processes finish close together (a quarter of a full chunk at least)."""
    monkeypatch.setattr(batch, "CHUNK", 100)
    ids = list(range(1000))
    cut = parallel.chunks(ids, 2)  # type: ignore[arg-type]
    assert [one for chunk in cut for one in chunk] == ids
    assert [len(chunk) for chunk in cut] == [100] * 7 + [75, 57, 42, 32, 25, 25, 25, 19]
    assert [len(chunk) for chunk in parallel.chunks(ids[:20], 2)] == [20]  # type: ignore[arg-type]
    assert [len(chunk) for chunk in parallel.chunks(ids, 1)] == [100] * 9 + [50, 25, 25]  # type: ignore[arg-type]
    assert parallel.chunks([], 2) == []


def test_a_run_in_two_processes_bills_each_period_once(api: httpx.Client, at: Clock, database: Database,
                                                       org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _population(api, at)
    monkeypatch.setattr(batch, "CHUNK", 2)  # five chunks dealt out to the two processes
    at(END)
    report = billing.bill_due(database, END, org.id, processes=2)
    assert report.failed == []
    assert len(report.billed) == 3 * SUBSCRIPTIONS
    assert {b.total_amount_cents for b in report.billed if b.subscription_external_id == "sub-0"} == {1001}
    _check_billed_once(database, org)
    again = billing.bill_due(database, END, org.id, processes=2)
    assert (again.billed, again.failed) == ([], [])


def test_a_chunked_run_and_a_one_by_one_run_at_once_both_finish(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    _population(api, at)
    monkeypatch.setattr(batch, "CHUNK", 3)
    at(END)
    reports: dict[str, billing.RunReport] = {}
    errors: list[BaseException] = []
    ready = threading.Barrier(2)

    def run(name: str, chunked: bool) -> None:
        try:
            ready.wait()
            reports[name] = bill(database, org, END, chunked=chunked)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    caplog.set_level(logging.INFO, logger="billow.billing")
    threads = [threading.Thread(target=run, args=("chunked", True)),
               threading.Thread(target=run, args=("one by one", False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    assert reports["chunked"].failed == reports["one by one"].failed == []
    assert "deadlock" not in caplog.text.lower()
    assert len(reports["chunked"].billed) + len(reports["one by one"].billed) == 3 * SUBSCRIPTIONS
    _check_billed_once(database, org)
    ok(api.get("invoices"))


def test_a_customer_changed_while_its_chunk_was_priced_is_billed_one_by_one(
        api: httpx.Client, at: Clock, database: Database, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk is priced in a read-only transaction: a customer changed before it is written (here
    given a grace period) sends the chunk the one-by-one way, which sees the change."""
    _population(api, at)
    at(END)
    real = batch._price
    priced: list[int] = []

    def then_changed(session: object, ids: object, instant: datetime) -> object:
        found = real(session, ids, instant)  # type: ignore[arg-type]
        if not priced:
            customer(api, "cus-0", billing_configuration={"invoice_grace_period": 3})
        priced.append(found[0])
        return found

    monkeypatch.setattr(batch, "_price", then_changed)
    report = bill(database, org, END)
    assert report.failed == [] and priced
    _check_billed_once(database, org)
    statuses = {(b.subscription_external_id, b.from_datetime.month): b.status for b in report.billed}
    assert statuses[("sub-0", 3)] == statuses[("sub-6", 3)] == "draft"  # grace period: 3 days from April 1st
    assert statuses[("sub-0", 2)] == statuses[("sub-1", 3)] == "finalized"
