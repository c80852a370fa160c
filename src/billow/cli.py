"""`billow serve | worker | migrate | bill --at | org create|list|show | usage rebuild | jobs list | webhooks list|attempts|retry`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from billow.config import Settings
from billow.core.db import Database
from billow.core.wire import iso_utc
from billow.migrations import runner
from billow.organizations import repository as org_repository
from billow.organizations import service as org_service


def _database(settings: Settings) -> Database:
    return Database(
        settings.database_url, busy_timeout_seconds=settings.sqlite_busy_timeout_seconds, pool_size=settings.db_pool_size
    )


def prepare(settings: Settings, database: Database) -> None:
    """Migrate, then create the first organization on an empty database."""
    runner.upgrade(database.engine)
    with database.unit_of_work() as session:
        created = org_service.bootstrap(session, settings.org_name, settings.org_api_key)
    if created is not None:
        print(f"Created organization {created.organization.name!r} ({created.organization.id}).")
        if settings.org_api_key:
            print("Its API key is the one given in BILLOW_ORG_API_KEY.")
        else:
            print(f"API key (shown once, keep it safe): {created.api_key}")
    sys.stdout.flush()


def served_settings(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` for a server on ``host:port``: without ``BILLOW_API_URL``, the instance's public
    URL (documents' ``file_url``, the ``iss`` of webhooks) is that address (a wildcard host: the
    loopback one)."""
    if "api_url" in settings.model_fields_set:
        return settings
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return settings.model_copy(update={"api_url": f"http://{local}:{port}"})


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from billow.main import create_app
    from billow.serving import HttpProtocol, serve_processes, settle_heap

    database = _database(settings)
    prepare(settings, database)
    host, port = args.host or settings.host, args.port or settings.port
    settings = served_settings(settings, host, port)
    os.environ["BILLOW_API_URL"] = settings.api_url  # the server processes of --workers read it
    # One worker thread in this process, whatever the number of server processes.
    worker = _start_worker(settings, database)
    # uvicorn handles SIGTERM/SIGINT itself, then raises the signal again once it has stopped:
    # with these handlers that ends the server quietly, and the worker stops below.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        if args.workers > 1:  # each server process builds its own app from the same BILLOW_* settings
            serve_processes(host, port, args.workers, settings.log_level)
        else:
            app = create_app(settings, database=database)
            settle_heap()
            uvicorn.run(app, host=host, port=port, log_level=settings.log_level, http=HttpProtocol)
    finally:  # uvicorn returns on SIGTERM/SIGINT: let the job in hand finish, claim no more
        if worker is not None:
            worker.stop()
    return 0


def _start_worker(settings: Settings, database: Database) -> Any:
    """The worker thread of `billow serve` (jobs, webhooks and periodic services)."""
    if not settings.worker_enabled:
        return None
    from billow.jobs.worker import Worker

    return Worker(database, settings).start()


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Worker threads only (no API), until SIGTERM/SIGINT; the jobs in hand finish first. It does
    not migrate: `billow serve` or `billow migrate` does."""
    from billow.jobs.worker import Worker

    database = _database(settings)
    threads = 1 if database.sqlite else max(1, args.threads or settings.worker_threads)
    workers = [Worker(database, settings, periodic=index == 0).start() for index in range(threads)]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"Worker running ({threads} thread{'s' if threads > 1 else ''}).", flush=True)
    while not stop.wait(1):
        pass
    for worker in workers:
        worker.stop()
    print("Worker stopped.", flush=True)
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    database = _database(settings)
    runner.upgrade(database.engine)
    print("Database is at the latest revision.")
    return 0


def cmd_org_create(args: argparse.Namespace, settings: Settings) -> int:
    database = _database(settings)
    runner.upgrade(database.engine)
    with database.unit_of_work() as session:
        created = org_service.create_organization(session, args.name)
    print(f"Created organization {args.name!r} ({created.organization.id}).")
    print(f"API key (shown once, keep it safe): {created.api_key}")
    return 0


def cmd_org_list(_args: argparse.Namespace, settings: Settings) -> int:
    database = _database(settings)
    with database.unit_of_work(write=False) as session:
        for organization in org_repository.list_organizations(session):
            print(f"{organization.id}  {organization.name}")
    return 0


def cmd_org_show(args: argparse.Namespace, settings: Settings) -> int:
    from billow.models import Organization

    database = _database(settings)
    with database.unit_of_work(write=False) as session:
        organization = session.get(Organization, _uuid(args.id))
        if organization is None:
            print(f"No organization {args.id}.", file=sys.stderr)
            return 1
        print(f"id:        {organization.id}")
        print(f"name:      {organization.name}")
        print(f"hmac_key:  {organization.hmac_key}")
    return 0


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def cmd_usage_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    from billow.usage.rebuild import rebuild_all

    database = _database(settings)
    with database.unit_of_work() as session:
        done = rebuild_all(session, uuid.UUID(args.org) if args.org else None)
    for key, count in sorted(done.items()):
        print(f"{key}: rebuilt from {count} events")
    print(f"Rebuilt the usage aggregates of {len(done)} metrics.")
    return 0


def cmd_bill(args: argparse.Namespace, settings: Settings) -> int:
    from billow.invoices import billing

    at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        print("--at needs a timezone (e.g. 2024-04-01T00:00:00Z)", file=sys.stderr)
        return 2
    from billow.fees import tasks as fee_tasks

    database = _database(settings)
    organization_id = _uuid(args.org) if args.org else None
    try:
        # Pay-in-advance charge fees of the events stored by then, before the periods are billed.
        fees = fee_tasks.create_fees(database, at.astimezone(UTC), organization_id)
        report = billing.bill_due(database, at.astimezone(UTC), organization_id, processes=args.processes)
    finally:
        database.dispose()
    if fees:
        print(f"{fees} pay-in-advance fees created")
    for subscription_id, change in report.changed:
        print(f"subscription {subscription_id} {change}")
    for billed in report.billed:
        print(f"{billed.subscription_external_id}  {billed.reason}  {iso_utc(billed.from_datetime)}"
              f"..{iso_utc(billed.to_datetime)}  invoice {billed.invoice_id}  {billed.status}  "
              f"{billed.total_amount_cents} {billed.currency}")
    for invoice_id in report.finalized:
        print(f"finalized draft {invoice_id}")
    for subscription_id, error in report.failed:
        print(f"failed: subscription {subscription_id}: {error}", file=sys.stderr)
    print(f"{len(report.billed)} invoices created, {report.skipped} periods already billed, "
          f"{len(report.finalized)} drafts finalized")
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    from billow import cli_ops

    parser = argparse.ArgumentParser(prog="billow", description="Usage-based billing that speaks Lago's API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL, or SQLite in WAL mode)")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="bring the database to the latest revision").set_defaults(handler=cmd_migrate)

    org = commands.add_parser("org", help="organizations").add_subparsers(dest="org_command", required=True)
    create = org.add_parser("create", help="create an organization and print its API key")
    create.add_argument("--name", required=True)
    create.set_defaults(handler=cmd_org_create)
    org.add_parser("list", help="list organizations").set_defaults(handler=cmd_org_list)
    show = org.add_parser("show", help="an organization's id, name and webhook HMAC key")
    show.add_argument("id")
    show.set_defaults(handler=cmd_org_show)

    worker = commands.add_parser("worker", help="run background jobs only (more workers on PostgreSQL)")
    worker.add_argument("--threads", type=int, help="worker threads (default BILLOW_WORKER_THREADS; 1 on SQLite)")
    worker.set_defaults(handler=cmd_worker)
    cli_ops.add_commands(commands)

    bill = commands.add_parser("bill", help="bill every period ended by an instant and not invoiced yet")
    bill.add_argument("--at", required=True, help="ISO 8601 instant with a timezone, e.g. 2024-04-01T00:00:00Z")
    bill.add_argument("--org", help="only this organization id")
    bill.add_argument("--processes", type=int, default=1,
                      help="bill in this many processes (PostgreSQL; SQLite bills in one)")
    bill.set_defaults(handler=cmd_bill)

    usage = commands.add_parser("usage", help="usage aggregates").add_subparsers(dest="usage_command", required=True)
    rebuild = usage.add_parser("rebuild", help="recompute the usage aggregates from the raw events")
    rebuild.add_argument("--org", help="only this organization id")
    rebuild.set_defaults(handler=cmd_usage_rebuild)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
