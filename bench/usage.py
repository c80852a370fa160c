"""Current-usage benchmark: GET current_usage latency as the period's history grows.

One customer, one calendar-monthly subscription, a plan with 3 charges:

  calls    count_agg                    standard 0.001
  tokens   sum_agg of ``tokens``, metric filter ``model`` in small/medium/large,
           standard 0.000002, charge filter model=large at 0.00001
  storage  sum_agg of ``gb`` (decimals)  graduated 0-1000 free, 1000+ at 0.05
           (``--third unique``: unique_count_agg of ``user`` among ``--users`` values, graduated)

The metrics, plan, customer and subscription are created over HTTP. Events (a third of each
metric, timestamps spread uniformly over the current period up to now) are then loaded
in-process through the same code path as the API — ``billow.events.schemas.parse_event`` then
``billow.events.service.ingest`` inside ``Database.group_commit.run`` — in batches of ``--batch``,
growing the history to each of ``--sizes``. At each size the server is started on that database
and ``--requests`` sequential GET /api/v1/customers/{id}/current_usage are timed (after a few
warm-up requests); every answer is checked against the events loaded (units per charge, the
large-model filter, events counts). Prints per size the load rate, p50/p99 and the server's CPU
per request (which the machine's other load moves less than latency), then the p99 ratio of the
largest size to the smallest. Not a test: nothing here asserts on time.

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

from billow.core import clock
from billow.core.db import Database
from billow.events import service
from billow.events.schemas import EventIn, parse_event
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


def measure(url: str, expected: Expected, third: str, requests: int,
            warmup: int) -> tuple[float, float, float, list[str]]:
    """p50 and p99 latency (ms), the server's CPU per request (ms), and what was wrong in the answer."""
    latencies: list[float] = []
    problems: list[str] = []
    with common.Server(url, workers=1) as server, server.client() as api:
        params = {"external_subscription_id": SUBSCRIPTION}
        for _ in range(warmup):
            api.get(f"customers/{CUSTOMER}/current_usage", params=params)
        cpu_before = server.cpu_seconds()
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
    return common.percentile(latencies, 50) * 1000, common.percentile(latencies, 99) * 1000, cpu, problems


def run(url: str, args: argparse.Namespace) -> bool:
    metrics, charges = plan(args.third)
    with common.Server(url, workers=1) as server, server.client() as api:
        common.setup_billing(api, metrics=metrics, charges=charges, subscriptions=[SUBSCRIPTION])
    loader = Loader(url, args.third, args.users, args.batch, args.seed)
    start = common.period_start(common.now())
    stop = common.now()  # events spread over the period so far
    print(f"period {start:%Y-%m-%d} .. now ({(stop - start).total_seconds() / 3600:.0f} hours so far); "
          f"charges: calls (count), tokens (sum, filter on model), "
          f"{'users (unique_count, graduated)' if args.third == 'unique' else 'storage (sum, graduated)'}")
    results = []
    ok = True
    try:
        for size in args.sizes:
            rate = loader.grow_to(size, start, stop)
            p50, p99, cpu, problems = measure(url, loader.expected, args.third, args.requests, args.warmup)
            ok = ok and not problems
            results.append((size, p99))
            check = "OK" if not problems else "WRONG: " + "; ".join(problems)
            print(f"  {size:>11,} events   loaded at {rate:>8,.0f} events/s   current_usage "
                  f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   server CPU {cpu:5.2f} ms/request   ({args.requests} requests)   "
                  f"answer {check}", flush=True)
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
