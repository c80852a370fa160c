"""Current-usage benchmark: GET current_usage latency as the period's history grows.

One customer, one calendar-monthly subscription from the start of the current period, a plan with
3 charges:

  calls    count_agg                    standard 0.001
  tokens   sum_agg of ``tokens``, metric filter ``model`` in small/medium/large,
           standard 0.000002, charge filter model=large at 0.00001
  storage  sum_agg of ``gb`` (decimals)  graduated 0-1000 free, 1000+ at 0.05
           (``--third unique``: unique_count_agg of ``user`` among ``--users`` values, graduated)

The metrics, plan, customer and subscription are created over HTTP. Events (a third of each
metric, timestamps spread uniformly over the current period up to now) are then loaded
in-process through the same code path as the API — ``billow.events.schemas.parse_event`` then
``billow.events.service.ingest`` inside ``Database.group_commit.run`` — in batches of ``--batch``,
growing the history to each of ``--sizes``. On PostgreSQL each load is followed by
``VACUUM (ANALYZE)``, the pass autovacuum makes after a bulk load in production, so that it does
not run during the timed reads. At each size the server is started on that database; once its job
queue has had nothing due for a second (the periodic services' ticks of its start done), it gets
``--warmup`` requests, then ``--requests`` sequential GET /api/v1/customers/{id}/current_usage are
timed; every answer is checked against the events loaded (units per charge, the large-model
filter, events counts). The subscription starts in the current period, so the billing clock owes
it no invoice (one back-dated by years owes one a month, each with a PDF that the server's worker
thread renders while the reads are timed).

Prints per size the load rate, p50/p99 and the server's CPU per request (its whole process, the
worker thread included: the machine's other load moves it less than latency), the jobs the
server's worker ran during the timed reads, then the p99 ratio of the largest size to the
smallest. Not a test: nothing here asserts on time.

    .venv/bin/python bench/usage.py --sizes 10000,1000000,10000000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from sqlalchemy import and_, func, or_, select

from billow.core import clock
from billow.core.db import Database
from billow.events import service
from billow.events.schemas import EventIn, parse_event
from billow.models import Job
from billow.organizations import service as org_service

SUBSCRIPTION = "sub-usage"
CUSTOMER = f"cus-{SUBSCRIPTION}"
MODELS = ("small", "medium", "large")


def plan(third: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    metrics: list[dict[str, Any]] = [
        {"code": "calls", "aggregation_type": "count_agg"},
        {"code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
         "filters": [{"key": "model", "values": list(MODELS)}]},
    ]
    charges: list[dict[str, Any]] = [
        {"code": "calls", "charge_model": "standard", "properties": {"amount": "0.001"}},
        {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.000002"},
         "filters": [{"values": {"model": ["large"]}, "properties": {"amount": "0.00001"}}]},
    ]
    if third == "unique":
        metrics.append({"code": "users", "aggregation_type": "unique_count_agg", "field_name": "user"})
        charges.append({"code": "users", "charge_model": "graduated", "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "2.50", "flat_amount": "0"}]}})
    else:
        metrics.append({"code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"})
        charges.append({"code": "storage", "charge_model": "graduated", "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 1001, "to_value": None, "per_unit_amount": "0.05", "flat_amount": "0"}]}})
    return metrics, charges


@dataclass
class Expected:
    """What the loaded events add up to, per charge (units, events) and for the large-model filter."""

    units: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    large_tokens: Decimal = Decimal(0)
    users: set[str] = field(default_factory=set)

    def check(self, body: dict[str, Any], third: str) -> list[str]:
        problems = []
        by_code = {c["billable_metric"]["code"]: c for c in body["customer_usage"]["charges_usage"]}
        for code in ("calls", "tokens", "users" if third == "unique" else "storage"):
            want = Decimal(len(self.users)) if code == "users" else Decimal(self.units[code])
            got = by_code[code]
            if Decimal(got["units"]) != want:
                problems.append(f"{code}: units {got['units']} != {want}")
            if code != "users" and got["events_count"] != self.events[code]:
                problems.append(f"{code}: events_count {got['events_count']} != {self.events[code]}")
        large = [f for f in by_code["tokens"]["filters"] if f["values"] == {"model": ["large"]}]
        if not large or Decimal(large[0]["units"]) != self.large_tokens:
            problems.append(f"tokens/large: {large[0]['units'] if large else None} != {self.large_tokens}")
        return problems


class Loader:
    """Grows the subscription's history through ``service.ingest`` in the group commit."""

    def __init__(self, url: str, third: str, users: int, batch: int, seed: int):
        self.database = Database(url, pool_size=2)
        with self.database.unit_of_work(write=False) as session:
            organization = org_service.authenticate(session, common.API_KEY)
            assert organization is not None
            self.organization_id = organization.id
        self.third, self.users, self.batch = third, users, batch
        self.rng = random.Random(seed)
        self.loaded = 0
        self.expected = Expected()

    def _raw(self, i: int, start: int, stop: int) -> dict[str, Any]:
        rng, kind = self.rng, i % 3
        event: dict[str, Any] = {"transaction_id": f"u{i}", "external_subscription_id": SUBSCRIPTION,
                                 "timestamp": rng.randint(start, stop)}
        if kind == 0:
            event |= {"code": "calls", "properties": {"region": rng.choice(("eu", "us"))}}
        elif kind == 1:
            tokens, model = rng.randint(1, 2000), rng.choice(MODELS)
            event |= {"code": "tokens", "properties": {"tokens": tokens, "model": model}}
            if model == "large":
                self.expected.large_tokens += tokens
        elif self.third == "unique":
            user = f"user-{rng.randrange(self.users)}"
            event |= {"code": "users", "properties": {"user": user}}
            self.expected.users.add(user)
        else:
            tenths = rng.randint(1, 1000)
            event |= {"code": "storage", "properties": {"gb": f"{tenths // 10}.{tenths % 10}"}}
        code = event["code"]
        self.expected.events[code] += 1
        self.expected.units[code] += 1 if code in ("calls", "users") else Decimal(
            str(event["properties"]["tokens" if code == "tokens" else "gb"]))
        return event

    def grow_to(self, size: int, start: datetime, stop: datetime) -> float:
        """Load events up to ``size`` in all; returns the rate (events/s) of this load."""
        first, last = int(start.timestamp()), int(stop.timestamp()) - 1
        began, count = time.perf_counter(), size - self.loaded
        while self.loaded < size:
            n = min(self.batch, size - self.loaded)
            now = clock.now()
            events: list[EventIn] = []
            for i in range(self.loaded, self.loaded + n):
                parsed = parse_event(self._raw(i, first, last), now)
                assert isinstance(parsed, EventIn), parsed
                events.append(parsed)
            stored = self.database.group_commit.run(
                lambda session, events=events: service.ingest(session, self.organization_id, events, batch=True))
            assert len(stored) == n
            self.loaded += n
        return count / (time.perf_counter() - began) if count else 0.0

    def close(self) -> None:
        self.database.dispose()


class Background:
    """The server's job queue, watched around the timed reads."""

    def __init__(self, url: str):
        self.database = Database(url, pool_size=1)

    def due(self) -> int:
        """Jobs running, or queued and due: what the server's worker thread has in hand."""
        now = clock.now()
        with self.database.unit_of_work(write=False) as session:
            return int(session.scalar(select(func.count()).select_from(Job).where(
                or_(Job.state == "running", and_(Job.state == "queued", Job.run_at <= now)))) or 0)

    def wait_idle(self, quiet: float = 1.0, timeout: float = 900.0) -> float:
        """Wait until nothing has been due for ``quiet`` seconds; returns the seconds waited."""
        began = time.monotonic()
        idle_since: float | None = None
        while True:
            now = time.monotonic()
            if self.due():
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= quiet:
                return now - began
            if now - began > timeout:
                raise RuntimeError(f"the server's job queue still had jobs due after {timeout:.0f} s")
            time.sleep(0.1)

    def finished(self, start: datetime, stop: datetime) -> Counter[str]:
        """Jobs finished between ``start`` and ``stop``, by name."""
        with self.database.unit_of_work(write=False) as session:
            rows = session.execute(select(Job.name, func.count()).where(
                Job.finished_at >= start, Job.finished_at <= stop).group_by(Job.name))
            return Counter({name: count for name, count in rows})

    def close(self) -> None:
        self.database.dispose()


def vacuum(url: str) -> float | None:
    """``VACUUM (ANALYZE)`` of a PostgreSQL database (seconds taken); ``None`` on SQLite."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - began


@dataclass
class Measured:
    p50: float  # ms
    p99: float  # ms
    cpu: float  # the server's CPU per request, ms
    idle_after: float  # seconds waited for the server's job queue
    jobs: Counter[str]  # jobs the server ran during the timed reads
    problems: list[str]


def measure(url: str, expected: Expected, third: str, requests: int, warmup: int) -> Measured:
    """Time ``requests`` sequential reads on a fresh server, once its job queue is idle."""
    latencies: list[float] = []
    problems: list[str] = []
    background = Background(url)
    try:
        with common.Server(url, workers=1) as server, server.client() as api:
            idle_after = background.wait_idle()
            params = {"external_subscription_id": SUBSCRIPTION}
            for _ in range(warmup):
                api.get(f"customers/{CUSTOMER}/current_usage", params=params)
            start, cpu_before = clock.now(), server.cpu_seconds()
            for _ in range(requests):  # bounded, sequential
                began = time.perf_counter()
                response = api.get(f"customers/{CUSTOMER}/current_usage", params=params)
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}: {response.text[:200]}")
                    break
            else:
                problems.extend(expected.check(response.json(), third))
            cpu = (server.cpu_seconds() - cpu_before) / max(len(latencies), 1) * 1000
            jobs = background.finished(start, clock.now())
    finally:
        background.close()
    return Measured(common.percentile(latencies, 50) * 1000, common.percentile(latencies, 99) * 1000, cpu,
                    idle_after, jobs, problems)


def run(url: str, args: argparse.Namespace) -> bool:
    metrics, charges = plan(args.third)
    start = common.period_start(common.now())
    with common.Server(url, workers=1) as server, server.client() as api:
        common.setup_billing(api, metrics=metrics, charges=charges, subscriptions=[SUBSCRIPTION],
                             subscription_at=f"{start:%Y-%m-%dT%H:%M:%SZ}")
    loader = Loader(url, args.third, args.users, args.batch, args.seed)
    stop = common.now()  # events spread over the period so far
    print(f"period {start:%Y-%m-%d} .. now ({(stop - start).total_seconds() / 3600:.0f} hours so far); "
          f"charges: calls (count), tokens (sum, filter on model), "
          f"{'users (unique_count, graduated)' if args.third == 'unique' else 'storage (sum, graduated)'}")
    results = []
    ok = True
    try:
        for size in args.sizes:
            rate = loader.grow_to(size, start, stop)
            vacuumed = vacuum(url)
            m = measure(url, loader.expected, args.third, args.requests, args.warmup)
            ok = ok and not m.problems
            results.append((size, m.p99))
            check = "OK" if not m.problems else "WRONG: " + "; ".join(m.problems)
            print(f"  {size:>11,} events   loaded at {rate:>8,.0f} events/s   current_usage "
                  f"p50 {m.p50:7.2f} ms   p99 {m.p99:7.2f} ms   server CPU {m.cpu:5.2f} ms/request   "
                  f"({args.requests} requests)   answer {check}", flush=True)
            jobs = ", ".join(f"{name} x{count}" for name, count in sorted(m.jobs.items())) or "none"
            print(f"  {'':>11}   {'' if vacuumed is None else f'VACUUM (ANALYZE) {vacuumed:.1f} s; '}"
                  f"server's job queue idle after {m.idle_after:.1f} s; jobs run during the timed reads: {jobs}; "
                  f"{common.machine().split(', ')[-1]}", flush=True)
    finally:
        loader.close()
    if len(results) > 1:
        (small, p99_small), (large, p99_large) = results[0], results[-1]
        print(f"  p99 ratio {large:,} / {small:,} events: {p99_large / p99_small:.2f}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default="10000,1000000,10000000",
                        help="comma-separated event counts in the period, increasing (e.g. 10000,100000 for a quick run)")
    parser.add_argument("--requests", type=int, default=200, help="sequential GET current_usage per size")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5000, help="events per in-process ingest call")
    parser.add_argument("--third", choices=("sum", "unique"), default="sum", help="the third charge's metric")
    parser.add_argument("--users", type=int, default=1000, help="distinct users for --third unique")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.sizes != sorted(args.sizes):
        parser.error("--sizes must increase (the history grows from one size to the next)")
    print(f"machine: {common.machine()}")
    print(f"== current_usage on {args.db}")
    if args.db == "sqlite":
        with common.sqlite_file() as url:
            ok = run(url, args)
    else:
        with common.postgresql() as pg:
            ok = run(pg.url, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
