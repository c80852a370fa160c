"""Every (subscription, period) is invoiced exactly once: reruns, a run stopped half-way, two
runs at the same time, and the database constraint behind them; ``billow bill --at``."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from billow import cli
from billow.core.db import Database
from billow.invoices import billing
from billow.models import InvoiceSubscription
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, invoices, ok, plan, subscribe, utc

# Three subscriptions on a 10.00 EUR monthly arrears plan from Jan 1st 2024, billed on May 1st:
# January to April, 4 whole months each -> 12 invoices of 1000.
END = utc(2024, 5, 1)


def _three_subscriptions(api: httpx.Client, at: Clock) -> None:
    plan(api, "basic", 1000)
    for name in ("a", "b", "c"):
        customer(api, name)
        subscribe(api, at, f"sub-{name}", name, "basic", utc(2024, 1, 1))


def _billed_periods(api: httpx.Client) -> list[tuple[str, str]]:
    found = invoices(api, per_page=100)
    return sorted((i["billing_periods"][0]["external_subscription_id"], i["billing_periods"][0]["charges_from_datetime"])
                  for i in found)


EXPECTED = sorted((f"sub-{name}", f"2024-{month:02d}-01T00:00:00Z") for name in "abc" for month in (1, 2, 3, 4))


def test_a_second_run_creates_nothing(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _three_subscriptions(api, at)
    first = bill(database, org, END)
    assert len(first.billed) == 12
    assert {b.total_amount_cents for b in first.billed} == {1000}
    second = bill(database, org, END)
    assert (second.billed, second.skipped) == ([], 0)  # nothing owed: all found billed before trying
    assert _billed_periods(api) == EXPECTED
    numbers = [i["number"][-3:] for i in invoices(api, external_customer_id="a")]
    assert numbers == ["001", "002", "003", "004"]


def test_a_run_stopped_half_way_is_finished_by_the_next_one(api: httpx.Client, at: Clock, database: Database,
                                                            org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _three_subscriptions(api, at)
    real = billing.bill_period
    calls = {"n": 0}

    def crashing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise SystemExit("the process is killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(billing, "bill_period", crashing)
    with pytest.raises(SystemExit):
        bill(database, org, END, chunked=False)  # one period per transaction
    assert len(_billed_periods(api)) == 5  # the five finished periods are committed, the sixth is not
    monkeypatch.setattr(billing, "bill_period", real)
    rerun = bill(database, org, END)
    assert len(rerun.billed) == 7
    assert _billed_periods(api) == EXPECTED


def test_a_failing_subscription_does_not_stop_the_others(api: httpx.Client, at: Clock, database: Database,
                                                         org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    _three_subscriptions(api, at)
    real = billing.bill_period

    def failing(session: Any, subscription_id: Any, due: Any, instant: Any) -> Any:
        billed = real(session, subscription_id, due, instant)
        if billed is not None and billed.subscription_external_id == "sub-b":
            raise ValueError("cannot price")
        return billed

    monkeypatch.setattr(billing, "bill_period", failing)
    report = bill(database, org, END, chunked=False)
    assert len(report.billed) == 8
    assert [error for _, error in report.failed] == ["ValueError('cannot price')"]
    assert [period for period in _billed_periods(api) if period[0] == "sub-b"] == []  # rolled back
    monkeypatch.setattr(billing, "bill_period", real)
    assert len(bill(database, org, END).billed) == 4
    assert _billed_periods(api) == EXPECTED


def test_the_constraint_stops_a_run_that_did_not_see_the_other(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """A concurrent run reads "not billed" before the other commits: the insert must fail."""
    _three_subscriptions(api, at)
    assert len(bill(database, org, END).billed) == 12
    monkeypatch.setattr(billing.repository, "billed_keys", lambda session, subscription_id: set())
    blind = bill(database, org, END, chunked=False)
    assert (blind.billed, blind.skipped) == ([], 12)
    assert _billed_periods(api) == EXPECTED


def test_two_runs_at_the_same_time_bill_each_period_once(api: httpx.Client, at: Clock, database: Database,
                                                         org: Org) -> None:
    _three_subscriptions(api, at)
    barrier = threading.Barrier(2)
    reports: list[billing.RunReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(bill(database, org, END))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(len(report.billed) for report in reports) == 12
    assert _billed_periods(api) == EXPECTED
    numbers = sorted(i["number"] for i in invoices(api, per_page=100))
    assert len(set(numbers)) == 12


def test_the_database_refuses_a_period_billed_twice(api: httpx.Client, at: Clock, database: Database,
                                                    org: Org) -> None:
    plan(api, "basic", 1000)
    customer(api, "a")
    subscribe(api, at, "sub-a", "a", "basic", utc(2024, 1, 1))
    bill(database, org, utc(2024, 2, 1))
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        link = session.scalars(select(InvoiceSubscription).where(InvoiceSubscription.organization_id == org.id)).one()
        session.add(InvoiceSubscription(
            organization_id=org.id, invoice_id=link.invoice_id, subscription_id=link.subscription_id,
            invoicing_reason=link.invoicing_reason, from_datetime=link.from_datetime, to_datetime=link.to_datetime,
            charges_from_datetime=link.charges_from_datetime, charges_to_datetime=link.charges_to_datetime))
        session.flush()
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(InvoiceSubscription)
                              .where(InvoiceSubscription.organization_id == org.id)) == 1


def test_billow_bill_at_prints_what_it_did(api: httpx.Client, at: Clock, database: Database, org: Org,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    plan(api, "basic", 1000)
    customer(api, "a")
    subscribe(api, at, "sub-a", "a", "basic", utc(2024, 1, 1))
    monkeypatch.setenv("BILLOW_DATABASE_URL", database.url)
    assert cli.main(["bill", "--at", "2024-03-01T00:00:00Z", "--org", str(org.id)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sub-a  subscription_periodic  2024-01-01T00:00:00Z..2024-01-31T23:59:59Z  invoice ")
    assert out[0].endswith("finalized  1000 EUR")
    assert out[1].startswith("sub-a  subscription_periodic  2024-02-01T00:00:00Z..2024-02-29T23:59:59Z")
    assert out[-1] == "2 invoices created, 0 periods already billed, 0 drafts finalized"
    assert cli.main(["bill", "--at", "2024-03-01T00:00:00Z", "--org", str(org.id)]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 invoices created, 0 periods already billed, 0 drafts finalized"]
    assert cli.main(["bill", "--at", "2024-03-01T00:00:00"]) == 2  # an instant needs its offset


def test_numbers_per_organization_with_the_organization_prefix(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org) -> None:
    ok(api.put("organizations", json={"organization": {"document_numbering": "per_organization",
                                                       "document_number_prefix": "ACME"}}))
    _three_subscriptions(api, at)
    bill(database, org, utc(2024, 3, 1))  # January and February of three customers
    numbers = [i["number"] for i in invoices(api, per_page=100)]
    # Finalized on March 1st (UTC organization): the month is 202403 and the counter runs over the
    # whole organization, in billing order (subscriptions by start, then period).
    assert sorted(numbers) == [f"ACME-202403-{n:03d}" for n in range(1, 7)]
    assert sorted(i["sequential_id"] for i in invoices(api, per_page=100)) == [1, 1, 1, 2, 2, 2]
