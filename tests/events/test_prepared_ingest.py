"""Ingest prepared before the write transaction: the same rows as the usual path, and the usual path
whenever what was prepared no longer holds (a catalog change, a key stored meanwhile). On SQLite the
rows are written in the writer's turn; on PostgreSQL by one statement, whose events are deleted
again when some of them could not go in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billow.core.db import Database
from billow.core.group_commit import GroupCommit, _Write
from billow.events import prepared as ready
from billow.events import service
from billow.events.schemas import EventIn
from billow.models import Event as EventRow
from billow.models import UsageAggregate
from billow.usage import rebuild
from billow.usage.store import ALL_GRAIN
from tests.conftest import Org
from tests.usage.test_current_usage import setup

T0 = datetime(2024, 3, 5, 10, 30, tzinfo=UTC)


def event(tx: str, value: Any, *, code: str = "last", at: datetime = T0) -> EventIn:
    return EventIn(tx, "sub", code, at, True, {"v": value, "region": "eu"}, None)


def aggregates(database: Database, org: Org) -> list[tuple[Any, ...]]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(UsageAggregate.code, UsageAggregate.grain, UsageAggregate.bucket,
                                      UsageAggregate.dims, UsageAggregate.events, UsageAggregate.total,
                                      UsageAggregate.latest_seq, UsageAggregate.latest_value)
                               .where(UsageAggregate.organization_id == org.id))
        return sorted(tuple(row) for row in rows)


def all_time_as_rebuilt(database: Database, org: Org) -> list[tuple[Any, ...]]:
    """(events, latest seq, latest value) of the all-time aggregate rows, once checked that a
    rebuild from the raw events gives every aggregate row as it was."""
    incremental = aggregates(database, org)
    with database.unit_of_work() as session:
        rebuild.rebuild_all(session, org.id)
    assert aggregates(database, org) == incremental
    return [(row[4], row[6], row[7]) for row in incremental if row[1] == ALL_GRAIN]


def ids(database: Database, org: Org) -> dict[str, int]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(EventRow.transaction_id, EventRow.id).where(EventRow.organization_id == org.id))
        return {tx: id_ for tx, id_ in rows}


def ingest(database: Database, org: Org, events: list[EventIn], prepared: ready.Prepared | None) -> list[Any]:
    """As the group commit stores a request: what was prepared, else the usual path."""
    if prepared is not None and not database.sqlite:
        stored = ready.commit_prepared(database, org.id, prepared)
        if stored is not None:
            return stored
        prepared = None
    with database.unit_of_work() as session:
        return service.ingest(session, org.id, events, batch=True, prepared=prepared)


def store_prepared(database: Database, org: Org, prepared: ready.Prepared) -> list[Any] | None:
    """The prepared path alone: its answers, or ``None`` when it left the events to the usual path."""
    if not database.sqlite:
        return ready.commit_prepared(database, org.id, prepared)
    with database.unit_of_work() as session:
        return ready.ingest_prepared(session, org.id, prepared)


def warm(database: Database, org: Org) -> None:
    """One ingest through the usual path: the organization's profiles become known."""
    ingest(database, org, [event("warm", 1)], None)


def metrics(api: httpx.Client) -> None:
    setup(api, metrics=[{"code": "last", "aggregation_type": "latest_agg", "field_name": "v"}],
          charges=[{"code": "last", "charge_model": "standard", "properties": {"amount": "1"}}])


def test_prepared_rows_equal_a_rebuild_from_the_raw_events(api: httpx.Client, database: Database, org: Org) -> None:
    metrics(api)
    assert ready.prepare(database, org.id, [event("a", 1)]) is None  # nothing known yet
    warm(database, org)
    # Three events at one instant: the latest is the last ingested, told apart by its id (seq).
    batch = [event("a", 5), event("b", 7), event("c", 3), event("a", 5)]
    prepared = ready.prepare(database, org.id, batch)
    assert prepared is not None
    stored = store_prepared(database, org, prepared)
    assert stored is not None
    assert [s.transaction_id for s in stored] == ["a", "b", "c", "a"]
    assert stored[0] is stored[3]
    known = ids(database, org)
    assert all_time_as_rebuilt(database, org) == [(4, known["c"], 3)]


def test_a_catalog_change_after_preparing_takes_the_usual_path(api: httpx.Client, database: Database,
                                                               org: Org) -> None:
    metrics(api)
    warm(database, org)
    prepared = ready.prepare(database, org.id, [event("a", 5)])
    assert prepared is not None
    body = {"billable_metric": {"filters": [{"key": "region", "values": ["eu", "us"]}]}}
    assert api.put("billable_metrics/last", json=body).status_code == 200
    assert store_prepared(database, org, prepared) is None
    assert ids(database, org).keys() == {"warm"}
    ingest(database, org, [event("a", 5)], prepared)
    # The prepared rows knew no filter: written, they would have gone under the empty dimensions.
    all_time = {row[3]: row[4] for row in aggregates(database, org) if row[1] == ALL_GRAIN}
    assert all_time == {'{"region":"eu"}': 2}


def test_a_key_stored_meanwhile_is_acknowledged_once(api: httpx.Client, database: Database, org: Org) -> None:
    metrics(api)
    warm(database, org)
    prepared = ready.prepare(database, org.id, [event("a", 5), event("b", 6)])
    assert prepared is not None
    ingest(database, org, [event("a", 5)], None)  # another request stores "a" first
    assert store_prepared(database, org, prepared) is None
    stored = ingest(database, org, [event("a", 5), event("b", 6)], prepared)
    assert [s.transaction_id for s in stored] == ["a", "b"]
    all_time = [row for row in aggregates(database, org) if row[1] == ALL_GRAIN]
    assert [row[4] for row in all_time] == [3]  # warm, a, b: "a" counted once


def test_a_key_stored_meanwhile_among_new_ones_keeps_no_row_twice(api: httpx.Client, database: Database,
                                                                   org: Org) -> None:
    """The prepared write keeps none of the new keys when one is stored already; the usual path
    stores them."""
    metrics(api)
    warm(database, org)
    prepared = ready.prepare(database, org.id, [event("b", 6), event("a", 5), event("c", 7, at=T0.replace(hour=11))])
    assert prepared is not None
    ingest(database, org, [event("a", 5)], None)
    assert store_prepared(database, org, prepared) is None
    assert sorted(ids(database, org)) == ["a", "warm"]
    stored = ingest(database, org, [event("b", 6), event("a", 5), event("c", 7, at=T0.replace(hour=11))], prepared)
    known = ids(database, org)
    assert sorted(known) == ["a", "b", "c", "warm"]
    assert [s.transaction_id for s in stored] == ["b", "a", "c"]
    assert (stored[0].seq, stored[2].seq) == (known["b"], known["c"])
    assert all_time_as_rebuilt(database, org) == [(4, known["c"], 7)]


def test_a_failure_after_the_prepared_rows_went_in_keeps_nothing_twice(
        api: httpx.Client, database: Database, org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure once the prepared rows went in. SQLite: it breaks the group's transaction, and the
    group commit runs each request again alone. PostgreSQL: the rows are committed already; the
    group commit leaves the requests to the shared transaction, which finds them stored. Nothing is
    kept twice, nothing is lost."""
    metrics(api)
    warm(database, org)
    calls: list[int] = []
    name = "ingest_prepared" if database.sqlite else "commit_prepared"
    real = getattr(service, name)

    def failing_once(where: Any, organization_id: Any, prepared: ready.Prepared) -> Any:
        calls.append(len(prepared.new.events))
        stored = real(where, organization_id, prepared)
        if len(calls) == 1:
            assert stored is not None  # the rows are in
            raise RuntimeError("the database failed")
        return stored

    monkeypatch.setattr(service, name, failing_once)
    writes = [_Write(None, service.ingest_requests, service.IngestRequest(org.id, [event(tx, 5)], False))
              for tx in ("a", "b", "c")]
    GroupCommit(database)._commit(writes)
    assert [write.error for write in writes] == [None, None, None]
    assert [[s.transaction_id for s in write.result] for write in writes] == [["a"], ["b"], ["c"]]
    # SQLite: the three together, then each request alone; PostgreSQL: the usual path after the first
    assert calls == ([3, 1, 1, 1] if database.sqlite else [3])
    assert sorted(ids(database, org)) == ["a", "b", "c", "warm"]
    all_time = [row for row in aggregates(database, org) if row[1] == ALL_GRAIN]
    assert [row[4] for row in all_time] == [4]


def test_a_key_a_concurrent_transaction_stores_fails_the_prepared_statement_whole(
        api: httpx.Client, database: Database, org: Org) -> None:
    """PostgreSQL: the prepared statement's insert of a key that another transaction inserted but
    has not committed yet waits for that transaction, then fails on the key, and the statement
    keeps nothing."""
    if database.sqlite:
        pytest.skip("SQLite's writers take turns: the prepared rows are written in a transaction")
    metrics(api)
    warm(database, org)
    prepared = ready.prepare(database, org.id, [event("b", 6), event("a", 5)])
    assert prepared is not None
    answers: list[Any] = []
    with database.unit_of_work() as session:
        service.ingest(session, org.id, [event("a", 5)], batch=True)  # not committed yet
        racing = threading.Thread(target=lambda: answers.append(ready.commit_prepared(database, org.id, prepared)))
        racing.start()
        racing.join(timeout=0.5)
        assert racing.is_alive()  # waiting for this transaction
    racing.join(timeout=30)
    assert answers == [None]
    assert sorted(ids(database, org)) == ["a", "warm"]
    all_time = [row for row in aggregates(database, org) if row[1] == ALL_GRAIN]
    assert [row[4] for row in all_time] == [2]
