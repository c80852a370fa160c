"""The billing run in chunks (:mod:`billow.invoices.batch`) bills exactly what the one-by-one path
bills: the same population in two organizations, one billed in chunks and one period per
transaction, gives the same invoices, fees, periods, numbers and webhooks. A chunk is all or
nothing: one that meets a period billed by another run, or that stops half-way, falls back or is
rolled back, and every period is billed once."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from billow.core.db import Database
from billow.invoices import batch, billing
from billow.models import Fee, Invoice, InvoiceSubscription, Organization, Subscription, Webhook
from tests.conftest import LiveServer, Org, make_org
from tests.scenarios.conftest import Clock, bill, customer, listen, metric, ok, plan, send, subscribe, utc

START = utc(2024, 1, 1)
END = utc(2024, 4, 1)  # January to March


@pytest.fixture
def other(database: Database, server: LiveServer) -> Iterator[tuple[Org, httpx.Client]]:
    second = make_org(database, "Other org")
    with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {second.api_key}"},
                      timeout=30) as client:
        yield second, client


def _population(api: httpx.Client, at: Clock) -> None:
    """Plain subscriptions (arrears and in advance, taxed or not, two on one customer) between
    ones the chunks leave to the one-by-one path: a trial, a coupon, a grace period, a
    termination, a minimum commitment. Each starts an hour after the one before (a fixed order)."""
    listen(api)
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    calls = metric(api, "calls", "count_agg")
    gb = metric(api, "gb", "sum_agg", "gb")
    charges = [{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "0.01"}},
               {"billable_metric_id": gb, "charge_model": "graduated", "properties": {"graduated_ranges": [
                   {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                   {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"}]}}]
    plan(api, "hybrid", 1000, charges=charges)
    plan(api, "advance", 2500, pay_in_advance=True, charges=charges[:1])
    plan(api, "trial", 700, trial_period=45, charges=charges[:1])
    plan(api, "committed", 1000, minimum_commitment={"amount_cents": 5000}, charges=charges[:1])
    ok(api.post("coupons", json={"coupon": {"name": "Off", "code": "off", "expiration": "no_expiration",
                                             "frequency": "once", "coupon_type": "fixed_amount",
                                             "amount_cents": 300, "amount_currency": "EUR"}}))
    population = [("plain-1", "hybrid", {}), ("trial", "trial", {}), ("plain-2", "hybrid", {"tax_codes": ["vat"]}),
                  ("advance-1", "advance", {}), ("coupon", "hybrid", {}), ("plain-3", "hybrid", {}),
                  ("grace", "hybrid", {"billing_configuration": {"invoice_grace_period": 2}}),
                  ("advance-2", "advance", {"tax_codes": ["vat"]}), ("ended", "hybrid", {}),
                  ("committed", "committed", {}), ("plain-4", "hybrid", {})]
    for n, (name, plan_code, fields) in enumerate(population):
        customer(api, f"cus-{name}", **fields)
        subscribe(api, at, f"sub-{name}", f"cus-{name}", plan_code, datetime.fromtimestamp(
            START.timestamp() + 3600 * n, START.tzinfo))
    subscribe(api, at, "sub-plain-1b", "cus-plain-1", "advance", utc(2024, 1, 20))  # a second one
    at(utc(2024, 1, 2))
    ok(api.post("applied_coupons", json={"applied_coupon": {"external_customer_id": "cus-coupon",
                                                            "coupon_code": "off"}}))
    for n, (name, _, _) in enumerate(population):
        for day in range(n % 4 + 1):
            for month in (1, 2, 3):
                when = utc(2024, month, 3 + day, 10 + n)
                send(api, f"sub-{name}", "calls", when)
                send(api, f"sub-{name}", "gb", when, gb=str(Decimal(n + day) + Decimal("0.25")))
    at(utc(2024, 3, 10, 12))
    ok(api.delete("subscriptions/sub-ended"))


def _same_prefix(database: Database, *orgs: Org) -> None:
    with database.unit_of_work() as session:
        session.execute(update(Organization).where(Organization.id.in_([o.id for o in orgs]))
                        .values(document_number_prefix="BIL"))


def _plain(row: Any, drop: set[str]) -> dict[str, Any]:
    """A row's columns without ids, timestamps of writing, and the ids inside its JSON."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not k.startswith("lago_")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return {column.key: strip(getattr(row, column.key)) for column in row.__table__.columns
            if column.key not in drop and not isinstance(getattr(row, column.key), uuid.UUID)}


def _billing_of(database: Database, org: Org) -> dict[str, Any]:
    """Every invoice, fee, billed period and invoice webhook of ``org``, keyed by what names them."""
    written = {"id", "created_at", "updated_at", "finalized_at"}
    with database.unit_of_work(write=False) as session:
        names = dict(session.execute(select(Subscription.id, Subscription.external_id)
                                     .where(Subscription.organization_id == org.id)).all())
        invoices = session.scalars(select(Invoice).where(Invoice.organization_id == org.id)).all()
        number = {invoice.id: (invoice.number, invoice.status, str(invoice.customer.external_id))
                  for invoice in invoices}
        fees = session.scalars(select(Fee).where(Fee.organization_id == org.id)).all()
        links = session.scalars(select(InvoiceSubscription).where(InvoiceSubscription.organization_id == org.id)).all()
        hooks = session.execute(select(Webhook.webhook_type, Webhook.body).where(Webhook.organization_id == org.id)
                                .order_by(Webhook.job_id)).all()
        return {
            "invoices": sorted((number[i.id], _plain(i, written)) for i in invoices),
            "fees": sorted((number[f.invoice_id] if f.invoice_id else None, names.get(f.subscription_id), f.position,
                            f.fee_type, str(f.item.get("code")), str(f.grouped_by), str(f.units), f.amount_cents,
                            str(_plain(f, written))) for f in fees),
            "periods": sorted((number[link.invoice_id], names[link.subscription_id], str(_plain(link, written)))
                              for link in links),
            "webhooks": [(kind, number_in(body)) for kind, body in hooks if kind.startswith("invoice.")],
        }


def number_in(body: str) -> str:
    invoice = json.loads(body)["invoice"]
    return f"{invoice['number']} {invoice['status']} {invoice['total_amount_cents']}"


def test_chunks_bill_what_the_one_by_one_path_bills(api: httpx.Client, at: Clock, database: Database, org: Org,
                                                    other: tuple[Org, httpx.Client],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    second, second_api = other
    _population(api, at)
    _population(second_api, at)
    _same_prefix(database, org, second)
    together: list[str] = []
    real = batch._chunk

    def spying(database: Database, ids: Any, instant: Any) -> Any:
        taken, done, plain = real(database, ids, instant)
        together.extend(billed.subscription_external_id for billed in done)
        return taken, done, plain

    monkeypatch.setattr(batch, "_chunk", spying)
    at(END)
    chunked = bill(database, org, END)
    one_by_one = bill(database, second, END, chunked=False)
    assert chunked.failed == one_by_one.failed == []
    # Arrears: January to March; in advance: a starting invoice too. The others went one by one.
    assert Counter(together) == {"sub-plain-1": 3, "sub-plain-2": 3, "sub-plain-3": 3, "sub-plain-4": 3,
                                 "sub-advance-1": 4, "sub-advance-2": 4, "sub-plain-1b": 4}
    assert len(chunked.billed) == len(one_by_one.billed) > len(together)
    mine, theirs = _billing_of(database, org), _billing_of(database, second)
    assert mine["invoices"] == theirs["invoices"]
    assert mine["fees"] == theirs["fees"]
    assert mine["periods"] == theirs["periods"]
    assert mine["webhooks"] == theirs["webhooks"]
    assert len(mine["webhooks"]) == len(mine["invoices"])
    # Usage was billed (not only subscription fees), and numbers have no gap.
    assert any(fee[3] == "charge" and fee[7] > 0 for fee in mine["fees"])
    sequences = sorted(invoice["organization_sequential_id"] for _, invoice in mine["invoices"]
                       if invoice["organization_sequential_id"] is not None)
    assert sequences == list(range(1, len(sequences) + 1))
    assert (bill(database, org, END).billed, bill(database, second, END, chunked=False).billed) == ([], [])


def _three(api: httpx.Client, at: Clock) -> None:
    plan(api, "basic", 1000)
    for name in ("a", "b", "c"):
        customer(api, name)
        subscribe(api, at, f"sub-{name}", name, "basic", START)


def _periods_and_numbers(database: Database, org: Org) -> tuple[list[tuple[str, int]], list[int], list[str]]:
    with database.unit_of_work(write=False) as session:
        periods = session.execute(select(Subscription.external_id, InvoiceSubscription.charges_from_datetime)
                                  .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
                                  .where(InvoiceSubscription.organization_id == org.id)).all()
        invoices = session.scalars(select(Invoice).where(Invoice.organization_id == org.id)).all()
        return (sorted((name, start.month) for name, start in periods),
                sorted(i.organization_sequential_id or 0 for i in invoices), sorted(i.number[-7:] for i in invoices))


EXPECTED = sorted((f"sub-{name}", month) for name in "abc" for month in (1, 2, 3))
NUMBERS = sorted(f"{c:03d}-{n:03d}" for c in (1, 2, 3) for n in (1, 2, 3))


def test_a_chunk_meeting_a_period_billed_by_another_run_falls_back(api: httpx.Client, at: Clock,
                                                                   database: Database, org: Org,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _three(api, at)
    with database.unit_of_work(write=False) as session:
        sub_b = session.scalar(select(Subscription.id).where(Subscription.organization_id == org.id,
                                                             Subscription.external_id == "sub-b"))
    assert sub_b is not None
    assert len(billing.bill_subscriptions(database, [sub_b], END).billed) == 3  # another run bills sub-b
    # The chunk does not see it: its insert meets the unique constraint, and the chunk is rolled back.
    monkeypatch.setattr(batch.repository, "billed_keys_of", lambda session, ids: {})
    fell_back: list[int] = []
    real = batch._chunk

    def counting(database: Database, ids: Any, instant: Any) -> Any:
        try:
            return real(database, ids, instant)
        except Exception:
            fell_back.append(len(ids))
            raise

    monkeypatch.setattr(batch, "_chunk", counting)
    report = bill(database, org, END)
    assert fell_back == [3]
    assert sorted(b.subscription_external_id for b in report.billed) == ["sub-a"] * 3 + ["sub-c"] * 3
    assert report.failed == []
    periods, sequences, numbers = _periods_and_numbers(database, org)
    assert periods == EXPECTED  # each once
    assert sequences == list(range(1, 10))  # no gap, no duplicate
    assert numbers == NUMBERS
    monkeypatch.undo()
    assert bill(database, org, END).billed == []


def test_a_chunk_stopped_half_way_writes_nothing(api: httpx.Client, at: Clock, database: Database, org: Org,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _three(api, at)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the process is killed")

    monkeypatch.setattr(batch.service, "number_all", killed)
    with pytest.raises(SystemExit):
        bill(database, org, END)
    assert _periods_and_numbers(database, org) == ([], [], [])
    monkeypatch.undo()
    assert len(bill(database, org, END).billed) == 9
    assert _periods_and_numbers(database, org) == (EXPECTED, list(range(1, 10)), NUMBERS)


def test_a_chunk_of_two_plans_and_two_periods_bills_each_to_the_cent(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """What a chunk works out once and reuses (tax books per plan version and customer taxes,
    metric codes per plan version, periods per cycle and day) never leaks from one plan, customer
    or period to another: subscriptions of two plans, their customers taxed differently, each
    owing January and February, interleaved in one chunk, are billed to the cent."""
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    ok(api.post("taxes", json={"tax": {"name": "GST", "code": "gst", "rate": "10"}}))
    calls = metric(api, "calls", "count_agg")
    plan(api, "alpha", 1000, tax_codes=["vat"],  # its fees bear the plan's tax, whatever the customer's
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "0.01"}}])
    plan(api, "beta", 2000,  # its fees bear the customer's taxes
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "0.05"}}])
    population = [("a1", "alpha", []), ("b1", "beta", ["gst"]), ("a2", "alpha", ["gst"]), ("b2", "beta", []),
                  ("a3", "alpha", []), ("b3", "beta", ["gst"])]
    for n, (name, plan_code, taxes) in enumerate(population):
        customer(api, f"cus-{name}", **({"tax_codes": taxes} if taxes else {}))
        subscribe(api, at, f"sub-{name}", f"cus-{name}", plan_code, utc(2024, 1, 1, n))
    sent = {}
    for n, (name, _, _) in enumerate(population):
        for month, count in ((1, n + 1), (2, 2 * n + 3)):
            for k in range(count):
                send(api, f"sub-{name}", "calls", utc(2024, month, 5, 10, k))
            sent[(name, month)] = count
    together: list[int] = []
    real = batch._chunk

    def spying(database: Database, ids: Any, instant: Any) -> Any:
        taken, done, plain = real(database, ids, instant)
        together.append(len(done))
        return taken, done, plain

    monkeypatch.setattr(batch, "_chunk", spying)
    at(utc(2024, 3, 1, 1))
    report = bill(database, org, utc(2024, 3, 1, 1))
    assert together == [12] and report.failed == []  # one chunk: six subscriptions, two periods each

    def expected(name: str, plan_code: str, taxes: list[str], month: int) -> tuple[int, int, int]:
        # Subscription fee of the ended month (the second period starts at its hour: a full month
        # either way) plus the calls; taxed 20 % on alpha, by the customer's 10 % or nothing on beta.
        usage = sent[(name, month)] * (1 if plan_code == "alpha" else 5)
        fees = (1000 if plan_code == "alpha" else 2000) + usage
        rate = Decimal(20 if plan_code == "alpha" else 10 if taxes else 0)
        taxes_cents = int((Decimal(fees) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return fees, taxes_cents, fees + taxes_cents

    with database.unit_of_work(write=False) as session:
        rows = session.execute(
            select(Subscription.external_id, InvoiceSubscription.charges_from_datetime, Invoice.fees_amount_cents,
                   Invoice.taxes_amount_cents, Invoice.total_amount_cents)
            .join(InvoiceSubscription, InvoiceSubscription.subscription_id == Subscription.id)
            .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
            .where(Subscription.organization_id == org.id)).all()
    billed = {(external_id.removeprefix("sub-"), start.month): (fees, taxes, total)
              for external_id, start, fees, taxes, total in rows}
    assert billed == {(name, month): expected(name, plan_code, taxes, month)
                      for name, plan_code, taxes in population for month in (1, 2)}
