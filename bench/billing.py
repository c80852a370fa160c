"""Billing-run benchmark: invoices per second of ``billow.invoices.billing.bill_due``.

One organization, ``--subscriptions`` customers each on the same calendar-monthly hybrid plan
(10.00 EUR in arrears; ``calls`` count_agg at 0.01; ``gb`` sum_agg graduated, 0-10 free then 0.50),
subscribed on 2024-03-01, with ``--events`` events each in March. The catalog is created over the
API in-process (FastAPI's test client) under a frozen clock, customers and subscriptions through
their services (200 a transaction), events through ``POST /events/batch`` (100 a request). Then one
billing run as of 2024-04-01T00:00:01Z is timed (chunks of plain subscriptions, as production runs
it; ``--one-by-one`` bills each invoice in its own transaction; ``--processes N`` bills in N
processes on PostgreSQL; ``--webhook`` adds a webhook endpoint, so every invoice's
``invoice.created`` webhook is serialized and recorded with its delivery job) and a second run,
which must create nothing, is timed too; both print their CPU time (this process's and its
children's) beside the wall clock, and on PostgreSQL the CPU time of the server's processes during
the run. Every invoice total is checked against the events sent. ``--runs N`` bills N times after
one setup, each run but the last on a fresh copy of the set-up database (a PostgreSQL database made
from it as a template, a copy of the SQLite file): the load average is printed before each. Not a
test: nothing here asserts on time.

    .venv/bin/python bench/billing.py --subscriptions 1000 --events 20 [--postgresql [--processes 2]] [--webhook] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from billow.config import Settings
from billow.core import clock
from billow.core.db import Database
from billow.invoices import billing
from billow.main import create_app
from billow.migrations import runner
from billow.models import Invoice, Organization
from billow.customers import service as customers
from billow.customers.schemas import CustomerIn
from billow.organizations import service as org_service
from billow.subscriptions import service as subscriptions_service
from billow.subscriptions.schemas import SubscriptionCreate

START = datetime(2024, 3, 1, tzinfo=UTC)
AT = datetime(2024, 4, 1, 0, 0, 1, tzinfo=UTC)


def expected_cents(calls: int, gb: int) -> int:
    # 1000 base + calls x 1 cent + (gb - 10 free) x 50 cents
    paid = Decimal(max(0, gb - 10)) * Decimal("0.5")
    return 1000 + calls + int((paid * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def setup(client: TestClient, database: Database, organization_id: uuid.UUID, subscriptions: int,
          events: int, webhook: bool = False) -> dict[str, int]:
    def ok(response: object) -> dict:  # type: ignore[type-arg]
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        return response.json()  # type: ignore[attr-defined,no-any-return]

    if webhook:  # nothing delivers it (no worker): the run records each webhook with its delivery job
        ok(client.post("/api/v1/webhook_endpoints", json={"webhook_endpoint": {
            "webhook_url": "http://127.0.0.1:9/hooks"}}))
    calls = ok(client.post("/api/v1/billable_metrics", json={"billable_metric": {
        "name": "calls", "code": "calls", "aggregation_type": "count_agg"}}))["billable_metric"]["lago_id"]
    gb = ok(client.post("/api/v1/billable_metrics", json={"billable_metric": {
        "name": "gb", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}}))["billable_metric"]["lago_id"]
    ok(client.post("/api/v1/plans", json={"plan": {
        "name": "hybrid", "code": "hybrid", "interval": "monthly", "amount_cents": 1000, "amount_currency": "EUR",
        "pay_in_advance": False, "charges": [
            {"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "0.01"}},
            {"billable_metric_id": gb, "charge_model": "graduated", "properties": {"graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"}]}}]}}))
    totals = {}
    for first in range(0, subscriptions, 200):  # customers and subscriptions through the services
        with database.unit_of_work() as session:
            organization = session.get_one(Organization, organization_id)
            for n in range(first, min(first + 200, subscriptions)):
                customers.upsert(session, organization, CustomerIn(external_id=f"cus-{n}", currency="EUR"))
                subscriptions_service.create(session, organization, SubscriptionCreate(
                    external_customer_id=f"cus-{n}", plan_code="hybrid", external_id=f"sub-{n}",
                    subscription_at=START))
    batch: list[dict[str, object]] = []
    for n in range(subscriptions):
        n_calls, n_gb = 0, 0
        for i in range(events):
            when = int(START.timestamp()) + 3600 * (i + 1)
            if i % 2:
                batch.append({"transaction_id": f"{n}-{i}", "external_subscription_id": f"sub-{n}", "code": "gb",
                              "timestamp": when, "properties": {"gb": i % 7}})
                n_gb += i % 7
            else:
                batch.append({"transaction_id": f"{n}-{i}", "external_subscription_id": f"sub-{n}",
                              "code": "calls", "timestamp": when})
                n_calls += 1
            if len(batch) == 100:
                ok(client.post("/api/v1/events/batch", json={"events": batch}))
                batch = []
        totals[f"sub-{n}"] = expected_cents(n_calls, n_gb)
    if batch:
        ok(client.post("/api/v1/events/batch", json={"events": batch}))
    return totals


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (a run's processes)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def server_cpu_seconds(directory: str | None) -> float:
    """CPU time so far of the PostgreSQL cluster in ``directory`` (its postmaster, its live backends
    and, through the postmaster's children times, those that ended); 0 without one."""
    if directory is None:
        return 0.0
    postmaster = Path(directory, "data", "postmaster.pid").read_text().split()[0]
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = stat.parent.name
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # a process that ended meanwhile
            continue
        if pid == postmaster or fields[1] == postmaster:
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def _copy_of(url: str, n: int) -> str:
    """A fresh copy of the set-up database ``url`` (nothing billed yet), for run ``n``: a
    PostgreSQL database made from it as a template, or a copy of the SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = f"{parsed.database}.run{n}"
        with sqlite3.connect(parsed.database) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return f"sqlite:///{target}"
    name = f"{parsed.database}_run{n}"
    with psycopg.connect(parsed.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    with psycopg.connect(parsed.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def bill_once(url: str, totals: dict[str, int], chunked: bool, processes: int, cluster: str | None,
              again: bool) -> None:
    """One timed billing run on ``url`` (every total checked against the events sent) and, if
    ``again``, the second run, which must bill nothing."""
    subscriptions = len(totals)
    database = Database(url)
    with database.unit_of_work(write=False) as session:  # connected before the clock starts
        session.scalar(select(func.count()).select_from(Invoice))
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    began, cpu, server = time.perf_counter(), cpu_seconds(), server_cpu_seconds(cluster)
    report = billing.bill_due(database, AT, chunked=chunked, processes=processes)
    elapsed, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    server = server_cpu_seconds(cluster) - server
    wrong = [b for b in report.billed if b.total_amount_cents != totals[b.subscription_external_id]]
    assert len(report.billed) == subscriptions and not wrong and not report.failed, (len(report.billed), wrong[:3])
    print(f"billing run: {len(report.billed)} invoices in {elapsed:.2f} s = {len(report.billed) / elapsed:.0f} invoices/s"
          f" (every total checked); CPU {cpu:.2f} s = {1000 * cpu / len(report.billed):.2f} ms an invoice"
          + (f"; PostgreSQL server CPU {server:.2f} s = {1000 * server / len(report.billed):.2f} ms an invoice"
             if server else ""))
    if again:
        began, cpu = time.perf_counter(), cpu_seconds()
        second = billing.bill_due(database, AT, chunked=chunked, processes=processes)
        print(f"second run: {len(second.billed)} invoices in {time.perf_counter() - began:.2f} s;"
              f" CPU {cpu_seconds() - cpu:.2f} s")
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == subscriptions
    database.dispose()


def run(url: str, subscriptions: int, events: int, chunked: bool = True, processes: int = 1,
        cluster: str | None = None, webhook: bool = False, runs: int = 1) -> None:
    database = Database(url)
    runner.upgrade(database.engine)
    with database.unit_of_work() as session:
        created = org_service.create_organization(session, "Bench")
    app = create_app(Settings(database_url=url, worker_enabled=False), database=database)
    with clock.frozen(START), TestClient(app, headers={"Authorization": f"Bearer {created.api_key}"}) as client:
        began = time.perf_counter()
        totals = setup(client, database, created.organization.id, subscriptions, events, webhook)
        print(f"setup: {subscriptions} subscriptions, {subscriptions * events} events in "
              f"{time.perf_counter() - began:.1f} s")
    database.dispose()
    for n in range(1, runs):  # the earlier runs on copies: the last one bills the set-up database itself
        copy = _copy_of(url, n)
        try:
            bill_once(copy, totals, chunked, processes, cluster, again=False)
        finally:
            _drop(copy)
    bill_once(url, totals, chunked, processes, cluster, again=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=500)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--one-by-one", action="store_true", help="bill each invoice in its own transaction")
    parser.add_argument("--processes", type=int, default=1, help="bill in this many processes (PostgreSQL)")
    parser.add_argument("--webhook", action="store_true",
                        help="a webhook endpoint listens: each invoice.created webhook is recorded (not sent)")
    parser.add_argument("--runs", type=int, default=1,
                        help="billing runs after one setup, each on a fresh copy of the set-up database")
    args = parser.parse_args()
    print(common.machine())
    if args.postgresql:
        with common.postgresql() as pg:
            run(pg.create_database("billow_bench_billing"), args.subscriptions, args.events, not args.one_by_one,
                args.processes, pg.directory, args.webhook, args.runs)
    else:
        with common.sqlite_file() as url:
            run(url, args.subscriptions, args.events, not args.one_by_one, webhook=args.webhook, runs=args.runs)


if __name__ == "__main__":
    main()
