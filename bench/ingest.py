"""Ingest benchmark: concurrent HTTP clients posting batches of 100 events, then single events.

For each database (a fresh SQLite file, a throwaway PostgreSQL cluster) it starts
``python -m billow.cli serve --workers N`` on 127.0.0.1, creates two metrics (a count, and a sum
with a filter on ``model``), a plan and one subscription per client, then:

  (a) every client posts ``--batch-requests`` batches of 100 events (unique transaction ids),
  (b) ``--single-clients`` connections (default: as many as clients) post the single events
      (``--single-requests`` per batch client, in all),
  (c) every client re-posts its first batch (a retry: acknowledged, not counted again),

and prints events/s, requests/s and p50/p99 request latency for (a) and (b). It then measures the
raw insert ceiling of the same rows as (a) into the ``events`` table of a fresh database migrated
with ``python -m billow.cli migrate`` (same table, same indexes): one ``COPY events (...) FROM
STDIN`` transaction on PostgreSQL, one ``executemany`` transaction on SQLite, and prints the ratio
batch events/s / raw events/s, then the database's own share of the server's writes (and on
PostgreSQL the CPU an event each takes: see bench/README.md). Finally it checks that the events stored equal the events
acknowledged (exactly once), in the events table and in the usage aggregates.

Loops are bounded: each client sends a fixed number of requests (``--seconds`` can stop them
earlier). Not a test: nothing here asserts on time.

    .venv/bin/python bench/ingest.py --db both --clients 8 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from sqlalchemy import create_engine, func, select

from billow.core.db import Database, make_engine
from billow.events.prepared import postgresql_statement
from billow.events.rows import new_rows
from billow.events.schemas import parse_event
from billow.models import Event as EventRow
from billow.models import UsageAggregate
from billow.pricing.aggregation import Event as UsageEvent
from billow.usage import store
from billow.usage.profiles import Profile
from billow.usage.store import ALL_GRAIN

MODELS = ("small", "medium", "large")
METRICS = [
    {"code": "calls", "aggregation_type": "count_agg"},
    {"code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
     "filters": [{"key": "model", "values": list(MODELS)}]},
]
CHARGES = [
    {"code": "calls", "charge_model": "standard", "properties": {"amount": "0.001"}},
    {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.000002"},
     "filters": [{"values": {"model": ["large"]}, "properties": {"amount": "0.00001"}}]},
]


# ---- load generation -----------------------------------------------------------------------------


def make_event(rng: random.Random, transaction_id: str, subscription: str, start: int, stop: int) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"transaction_id": transaction_id, "external_subscription_id": subscription, "code": "calls",
                "timestamp": rng.randint(start, stop), "properties": {"region": rng.choice(("eu", "us"))}}
    return {"transaction_id": transaction_id, "external_subscription_id": subscription, "code": "tokens",
            "timestamp": rng.randint(start, stop),
            "properties": {"tokens": rng.randint(1, 5000), "model": rng.choice(MODELS)}}


@dataclass
class Phase:
    name: str
    bodies: list[list[bytes]]  # per client, its request bodies (encoded before the clock starts)
    events_per_request: int
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    def report(self) -> str:
        lat = sorted(self.latencies)
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(self.failures.items())) or "none"
        return (f"  {self.name:<14} {self.events_per_second:>10,.0f} events/s {self.requests / self.seconds:>9,.0f} req/s"
                f"   p50 {common.percentile(lat, 50) * 1000:7.2f} ms   p99 {common.percentile(lat, 99) * 1000:7.2f} ms"
                f"   ({self.requests} requests, {self.acknowledged} events acknowledged in {self.seconds:.2f} s;"
                f" failures: {fails}; client CPU {self.client_cpu / self.seconds:.0%} of one core;"
                f" server CPU {self.server_cpu / self.seconds:.0%} of one core,"
                f" {self.server_cpu / max(self.requests, 1) * 1e6:,.0f} us per request"
                + (f"; PostgreSQL CPU {self.database_cpu / self.seconds:.0%} of one core" if self.database_cpu else "")
                + ")")


async def _client(port: int, path: str, bodies: list[bytes], phase: Phase, start: asyncio.Event,
                  deadline_seconds: float | None) -> None:
    """One keep-alive connection posting its bodies one after the other. A raw HTTP/1.1 client with
    every request encoded beforehand: the load generator shares the 2 cores with the server, so it
    must cost far less per request than the server does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = (f"POST /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {common.API_KEY}\r\n"
            "Content-Type: application/json\r\n")
    requests = [head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]
    await start.wait()
    deadline = time.perf_counter() + deadline_seconds if deadline_seconds else None
    for request in requests:  # bounded: a fixed number of requests
        if deadline is not None and time.perf_counter() > deadline:
            break
        began = time.perf_counter()
        try:
            writer.write(request)
            header = await reader.readuntil(b"\r\n\r\n")
            length = int(header.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            status = header.split(b" ", 2)[1].decode()
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError) as exc:
            status = type(exc).__name__  # a refused or dropped connection is a failure to report
        phase.latencies.append(time.perf_counter() - began)
        phase.requests += 1
        if status == "200":  # a batch is all-or-nothing: 200 acknowledges every event in it
            phase.acknowledged += phase.events_per_request
        else:
            phase.failures[status] = phase.failures.get(status, 0) + 1
            if not status.isdigit():
                break
    writer.close()


def run_phase(server: common.Server, phase: Phase, path: str, deadline_seconds: float | None) -> Phase:
    """Every client posts its bodies on its own keep-alive connection; all start together."""

    async def run() -> None:
        start = asyncio.Event()
        tasks = [asyncio.create_task(_client(server.port, path, bodies, phase, start, deadline_seconds))
                 for bodies in phase.bodies]
        await asyncio.sleep(0.2)  # every connection open before the clock starts
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        server_before, database_before = server.cpu_seconds(), common.postgres_cpu_seconds()
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - began
        phase.server_cpu = server.cpu_seconds() - server_before
        phase.database_cpu = common.postgres_cpu_seconds() - database_before
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        phase.client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)

    asyncio.run(run())
    return phase


# ---- raw insert ceiling --------------------------------------------------------------------------

COLUMNS = ("organization_id", "lago_id", "transaction_id", "external_subscription_id", "code", "timestamp",
           "properties", "precise_total_amount_cents", "created_at")


def native_rows(dialect: Any, organization_id: str, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows the server stores for ``events``, already in the driver's form (SQLAlchemy's own
    bind processors of the events table), so the timed insert measures the database only."""
    table = EventRow.__table__
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]
    org = uuid.UUID(organization_id)
    created = datetime.now(UTC)
    rows = []
    for e in events:
        values = (org, uuid.uuid4(), e["transaction_id"], e["external_subscription_id"], e["code"],
                  datetime.fromtimestamp(e["timestamp"], UTC), e["properties"], None, created)
        rows.append(tuple(p(v) if p else v for p, v in zip(processors, values, strict=True)))
    return rows


def raw_ceiling_sqlite(url: str, organization_id: str, events: list[dict[str, Any]]) -> float:
    engine = create_engine(url)
    rows = native_rows(engine.dialect, organization_id, events)
    engine.dispose()
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):  # as the server's connections
        connection.execute(f"PRAGMA {pragma}")
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    began = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(sql, rows)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    stored = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    connection.close()
    if stored != len(rows):
        raise RuntimeError(f"raw insert stored {stored} rows of {len(rows)}")
    return len(rows) / seconds


def backend_cpu_seconds(connection: Any) -> float:
    """CPU time so far of the PostgreSQL process serving ``connection`` (same machine)."""
    return common.process_cpu_seconds(connection.info.backend_pid)


def raw_copy_postgres(url: str, organization_id: str, events: list[dict[str, Any]]) -> tuple[float, float]:
    """(events/s, PostgreSQL CPU seconds an event) of one ``COPY`` transaction of the rows."""
    import psycopg

    engine = create_engine(url)
    rows = native_rows(engine.dialect, organization_id, events)
    engine.dispose()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        cpu = backend_cpu_seconds(connection)
        began = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor, \
                cursor.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        seconds = time.perf_counter() - began
        cpu = backend_cpu_seconds(connection) - cpu
        stored = connection.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    if stored != len(rows):
        raise RuntimeError(f"raw COPY stored {stored} rows of {len(rows)}")
    return len(rows) / seconds, cpu / len(rows)


# The same rows plus the aggregate upserts the server makes for each batch of 100 (the rows of
# billow.usage.store.pending, prepared beforehand): the database's own share of the design, which
# keeps the aggregates in the ingest transaction. Same single transaction as the raw ceiling.
PROFILES = {"calls": Profile("calls", "count_agg", None, None, ()),
            "tokens": Profile("tokens", "sum_agg", "tokens", None, ("model",))}


def batch_aggregates(dialect: str, organization_id: uuid.UUID, events: list[dict[str, Any]],
                     first_seq: int) -> store.Pending:
    """The aggregate rows the server makes for one batch, its events' seqs from ``first_seq`` on."""
    rows = store.pending(dialect, organization_id, PROFILES, [
        store.Stored(e["external_subscription_id"], e["code"],
                     UsageEvent(e["transaction_id"], datetime.fromtimestamp(e["timestamp"], UTC), e["properties"], seq))
        for seq, e in enumerate(events, start=first_seq)])
    assert rows is not None
    return rows


def aggregate_rows(dialect: str, organization_id: str, events: list[dict[str, Any]]) -> list[store.Pending]:
    org = uuid.UUID(organization_id)
    return [batch_aggregates(dialect, org, events[start:start + 100], start + 1)
            for start in range(0, len(events), 100)]


def with_aggregates_sqlite(url: str, organization_id: str, events: list[dict[str, Any]]) -> float:
    engine = make_engine(url)
    rows = native_rows(engine.dialect, organization_id, events)
    pending = aggregate_rows("sqlite", organization_id, events)
    raw = engine.raw_connection()
    connection = raw.driver_connection
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    upsert = store.upsert_sql("sqlite", "partials")
    began = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(sql, rows)
    for part in pending:
        connection.executemany(upsert, part.partials)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - began
    raw.close()
    engine.dispose()
    return len(rows) / seconds


def statements_postgres(url: str, organization_id: str, events: list[dict[str, Any]],
                        aggregates: bool) -> tuple[float, float]:
    """(events/s, PostgreSQL CPU seconds an event) of the server's own statement for each batch of
    100 (billow.events.prepared.postgresql_statement: the events and their aggregates, a
    transaction each), sent one after the other on one connection, its rows built beforehand.
    ``aggregates=False``: the same statement with no aggregate rows (the events alone)."""
    import psycopg

    org = uuid.UUID(organization_id)
    statements = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        revision = connection.execute("SELECT catalog_revision FROM organizations WHERE id = %s",
                                      (org,)).fetchone()[0]  # type: ignore[index]
        for start in range(0, len(events), 100):
            raw = events[start:start + 100]
            rows = batch_aggregates("postgresql", org, raw, 0) if aggregates else None  # seqs: positions, as prepared
            batch = [parse_event(e, common.now()) for e in raw]
            statements.append(postgresql_statement(org, revision, new_rows(org, batch, sqlite=False), rows))
        cpu = backend_cpu_seconds(connection)
        began = time.perf_counter()
        for sql, params in statements:
            stored = connection.execute(sql, params, prepare=True).fetchall()
            if len(stored) != 100:
                raise RuntimeError(f"the statement stored {len(stored)} events of 100")
        seconds = time.perf_counter() - began
        cpu = backend_cpu_seconds(connection) - cpu
    return len(events) / seconds, cpu / len(events)


# ---- exactly once --------------------------------------------------------------------------------


def stored_counts(url: str) -> tuple[int, int]:
    """(rows in events, events counted by the all-time usage aggregates)."""
    database = Database(url, pool_size=1)
    try:
        with database.unit_of_work(write=False) as session:
            events = session.scalar(select(func.count()).select_from(EventRow))
            aggregated = session.scalar(select(func.sum(UsageAggregate.events)).where(UsageAggregate.grain == ALL_GRAIN))
        return int(events or 0), int(aggregated or 0)
    finally:
        database.dispose()


def postgresql_ceilings(database_url: Callable[[str], str], rows: list[dict[str, Any]], batch: Phase,
                        clients: int) -> tuple[float, float]:
    """The raw ``COPY`` ceiling, the server's statements alone, and the CPU an event each takes,
    against the CPU an event that 0.6 x the ceiling leaves on this machine's cores."""
    urls = {name: database_url(name) for name in ("raw", "aggregates", "events")}
    raw, raw_cpu = raw_copy_postgres(urls["raw"], common.migrated_with_org(urls["raw"]), rows)
    print(f"  raw ceiling    {raw:>10,.0f} events/s ({len(rows)} rows, COPY FROM STDIN, one transaction, fresh migrated"
          f" database; PostgreSQL CPU {raw_cpu * 1e6:.1f} us an event)")
    print(f"  ratio batch / raw ceiling: {batch.events_per_second / raw:.2f}")
    statements, statements_cpu = statements_postgres(urls["aggregates"], common.migrated_with_org(urls["aggregates"]),
                                                     rows, aggregates=True)
    alone, alone_cpu = statements_postgres(urls["events"], common.migrated_with_org(urls["events"]), rows,
                                           aggregates=False)
    print(f"  the server's statement for each batch of 100, one after the other on one connection: {statements:,.0f}"
          f" events/s, PostgreSQL CPU {statements_cpu * 1e6:.1f} us an event (the database's share alone:"
          f" {statements / raw:.2f} x raw); with no aggregate rows: {alone:,.0f} events/s, {alone_cpu * 1e6:.1f} us")
    cores = os.cpu_count() or 1
    acknowledged = max(batch.acknowledged, 1)
    used = [batch.server_cpu / acknowledged, batch.database_cpu / acknowledged, batch.client_cpu / acknowledged]
    print(f"  CPU an event in the batch phase: server {used[0] * 1e6:.1f} + PostgreSQL {used[1] * 1e6:.1f} + load"
          f" generator {used[2] * 1e6:.1f} = {sum(used) * 1e6:.1f} us; 0.6 x raw on {cores} cores leaves"
          f" {cores / (0.6 * raw) * 1e6:.1f} us an event for all three ({clients} clients)")
    return raw, statements


# ---- one database --------------------------------------------------------------------------------


def bench_database(kind: str, url: str, raw_url: Callable[..., str], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    subscriptions = [f"sub-{i}" for i in range(args.subscriptions)]
    stop = int(common.now().timestamp())
    start = stop - int(args.spread_hours * 3600)
    print(f"\n== {kind}: {args.clients} clients ({args.single_clients or args.clients} for single events),"
          f" {args.workers} server worker(s), {len(subscriptions)} subscriptions,"
          f" timestamps over the last {args.spread_hours:g} hours")

    batch_events: list[dict[str, Any]] = []
    batch_bodies: list[list[bytes]] = []
    single_bodies: list[list[bytes]] = []
    for c in range(args.clients):
        sub = subscriptions[c % len(subscriptions)]
        bodies = []
        for r in range(args.batch_requests):
            events = [make_event(rng, f"b{c}-{r}-{i}", sub, start, stop) for i in range(100)]
            batch_events.extend(events)
            bodies.append(json.dumps({"events": events}).encode())
        batch_bodies.append(bodies)
    # The single events are split among --single-clients connections (as many as --clients unless
    # given): the same events whatever their number, spread over the same subscriptions.
    single_clients = args.single_clients or args.clients
    per_client = args.single_requests * args.clients // single_clients
    for c in range(single_clients):
        sub = subscriptions[c % len(subscriptions)]
        single_bodies.append([json.dumps({"event": make_event(rng, f"s{c}-{r}", sub, start, stop)}).encode()
                              for r in range(per_client)])

    with common.Server(url, workers=args.workers) as server:
        with server.client() as api:
            # From the period of the earliest event: a subscription from long ago would owe invoices
            # (and their PDFs) that the billing clock makes mid-run once the hour turns.
            first_period = common.period_start(datetime.fromtimestamp(start, UTC))
            common.setup_billing(api, metrics=METRICS, charges=CHARGES, subscriptions=subscriptions,
                                 subscription_at=f"{first_period:%Y-%m-%dT%H:%M:%SZ}")
        batch = run_phase(server, Phase("batch of 100", batch_bodies, 100), "events/batch", args.seconds)
        single = run_phase(server, Phase("single event", single_bodies, 1), "events", args.seconds)
        retry = run_phase(server, Phase("retry", [bodies[:1] for bodies in batch_bodies], 100), "events/batch", None)
    print(batch.report())
    print(single.report())

    acknowledged = batch.acknowledged + single.acknowledged
    stored, aggregated = stored_counts(url)
    exactly_once = stored == acknowledged == aggregated and not batch.failures and not single.failures
    print(f"  exactly once: {acknowledged} acknowledged, {stored} stored, {aggregated} in the usage aggregates; "
          f"retry of {retry.requests} batches: {retry.acknowledged} events re-acknowledged, not re-counted"
          f" -> {'OK' if exactly_once and not retry.failures else 'MISMATCH'}")

    acked_rows = batch_events  # the rows of phase (a), all acknowledged when it reports no failures
    if kind == "postgresql":
        raw, with_aggregates = postgresql_ceilings(raw_url, acked_rows, batch, args.clients)
    else:
        raw = raw_ceiling_sqlite(raw_url("raw"), common.migrated_with_org(raw_url("raw")), acked_rows)
        print(f"  raw ceiling    {raw:>10,.0f} events/s ({len(acked_rows)} rows, executemany, one transaction,"
              " fresh migrated database)")
        print(f"  ratio batch / raw ceiling: {batch.events_per_second / raw:.2f}")
        with_aggregates = with_aggregates_sqlite(raw_url("aggregates"), common.migrated_with_org(raw_url("aggregates")),
                                                 acked_rows)
        print(f"  raw ceiling with the aggregate upserts of each batch of 100: {with_aggregates:,.0f} events/s"
              f" (the database's share alone: {with_aggregates / raw:.2f} x raw; batch / it: "
              f"{batch.events_per_second / with_aggregates:.2f})")
    ratio = batch.events_per_second / raw
    return {"db": kind, "batch": batch.events_per_second, "single": single.events_per_second, "raw": raw,
            "ratio": ratio, "with_aggregates": with_aggregates, "exactly_once": exactly_once}


@contextmanager
def existing_postgresql(url: str) -> Iterator[common.PostgreSQL]:
    """A running cluster (``--pg-url``, e.g. one of ``scripts/pg``) instead of a throwaway one: the
    benchmark's databases are created in it, and dropped afterwards."""
    import psycopg

    names = ("billow_ingest_bench", "billow_raw", "billow_aggregates", "billow_events")
    pg = common.PostgreSQL("", 0, url)

    def drop() -> None:
        with psycopg.connect(pg.psycopg_url("postgres"), autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    try:
        yield common.PostgreSQL("", 0, pg.create_database(names[0]))
    finally:
        drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP connections of the batch phase")
    parser.add_argument("--workers", type=int, default=2, help="server processes (billow serve --workers)")
    parser.add_argument("--batch-requests", type=int, default=150, help="batches of 100 per client")
    parser.add_argument("--single-requests", type=int, default=750,
                        help="single events per client of --clients (the same total with --single-clients)")
    parser.add_argument("--single-clients", type=int, default=0,
                        help="concurrent connections of the single-event phase (default: --clients); real ingest"
                             " has many concurrent clients, each waiting for its answer before the next event")
    parser.add_argument("--subscriptions", type=int, default=0, help="distinct subscriptions (default: one per client)")
    parser.add_argument("--seconds", type=float, default=None, help="also stop each phase's clients after this long")
    parser.add_argument("--spread-hours", type=float, default=168,
                        help="event timestamps spread over this many hours before now (late events touch more "
                             "hour aggregates; live traffic is mostly in the current hour)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=None,
                        help="a running PostgreSQL cluster to use (any database of it) instead of a throwaway one")
    args = parser.parse_args(argv)
    args.subscriptions = args.subscriptions or args.clients
    print(f"machine: {common.machine()}")
    results = []
    if args.db in ("sqlite", "both"):
        with common.sqlite_file("server.db") as url, common.sqlite_file("raw.db") as raw_url, \
                common.sqlite_file("aggregates.db") as aggregates_url:
            files = {"raw": raw_url, "aggregates": aggregates_url}
            results.append(bench_database("sqlite", url, files.__getitem__, args))
    if args.db in ("postgres", "both"):
        with (existing_postgresql(args.pg_url) if args.pg_url else common.postgresql()) as pg:
            results.append(bench_database(
                "postgresql", pg.url,
                lambda name: pg.create_database(f"billow_{name}"), args))
    print("\nsummary")
    for r in results:
        print(f"  {r['db']:<10} batch {r['batch']:>9,.0f} events/s   single {r['single']:>7,.0f} events/s"
              f"   raw ceiling {r['raw']:>9,.0f} events/s   batch/raw {r['ratio']:.2f}"
              f"   the database's share alone {r['with_aggregates']:>9,.0f} events/s"
              f"   exactly once {'OK' if r['exactly_once'] else 'MISMATCH'}")
    return 0 if all(r["exactly_once"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
