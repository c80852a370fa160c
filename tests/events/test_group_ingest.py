"""Requests that meet in one group commit are stored by one ingest call, yet each gets the answer it
would get alone: a refused request falls back to its own savepoint and keeps nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from billow.core.db import Database
from billow.core.errors import ValidationFailed
from billow.core.group_commit import LEFT, GroupCommit
from billow.events.schemas import EventIn
from billow.events.service import IngestRequest, ingest_requests
from billow.models import Event as EventRow
from tests.conftest import make_org

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def event(tx: str, value: Any = 1, sub: str = "sub") -> EventIn:
    return EventIn(tx, sub, "calls", T0, True, {"v": value}, None)


def stored(database: Database, org_id: Any) -> dict[str, Any]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(EventRow.transaction_id, EventRow.properties)
                               .where(EventRow.organization_id == org_id)).all()
    return {tx: props for tx, props in rows}


def run(database: Database, requests: list[IngestRequest]) -> list[Any]:
    with database.unit_of_work() as session:
        return ingest_requests(session, requests)


def test_requests_that_all_succeed_are_stored_in_order(database: Database) -> None:
    org = make_org(database)
    outcomes = run(database, [IngestRequest(org.id, [event("a"), event("b")], True),
                              IngestRequest(org.id, [event("c")], False),
                              IngestRequest(org.id, [event("a")], True)])  # an exact retry of an earlier one
    assert [[row.transaction_id for row in outcome] for outcome in outcomes] == [["a", "b"], ["c"], ["a"]]
    assert outcomes[2][0].lago_id == outcomes[0][0].lago_id  # the retry is answered with the stored event
    assert stored(database, org.id) == {"a": {"v": 1}, "b": {"v": 1}, "c": {"v": 1}}


def test_a_refused_request_keeps_nothing_and_the_others_are_stored(database: Database) -> None:
    org = make_org(database)
    outcomes = run(database, [
        IngestRequest(org.id, [event("a")], True),
        IngestRequest(org.id, [event("x"), event("y"), event("y", 2)], True),  # its own conflict at index 2
        IngestRequest(org.id, [event("b")], False),
    ])
    assert [row.transaction_id for row in outcomes[0]] == ["a"]
    assert isinstance(outcomes[1], ValidationFailed)
    assert outcomes[1].details == {"2": {"transaction_id": ["value_already_exist"]}}  # as if alone
    assert [row.transaction_id for row in outcomes[2]] == ["b"]
    assert stored(database, org.id) == {"a": {"v": 1}, "b": {"v": 1}}


def test_two_requests_racing_for_one_transaction_id_store_the_first(database: Database) -> None:
    org = make_org(database)
    outcomes = run(database, [IngestRequest(org.id, [event("t", 1), event("p")], True),
                              IngestRequest(org.id, [event("t", 2), event("q")], True),
                              IngestRequest(org.id, [event("t", 3)], False)])
    assert [row.transaction_id for row in outcomes[0]] == ["t", "p"]
    assert isinstance(outcomes[1], ValidationFailed)
    assert outcomes[1].details == {"0": {"transaction_id": ["value_already_exist"]}}
    assert isinstance(outcomes[2], ValidationFailed)
    assert outcomes[2].details == {"transaction_id": ["value_already_exist"]}  # a single event: no index
    assert stored(database, org.id) == {"t": {"v": 1}, "p": {"v": 1}}


def test_requests_of_two_organizations_are_kept_apart(database: Database) -> None:
    one, two = make_org(database, "one"), make_org(database, "two")
    run(database, [IngestRequest(one.id, [event("a")], True), IngestRequest(two.id, [event("a", 2)], True)])
    assert stored(database, one.id) == {"a": {"v": 1}}
    assert stored(database, two.id) == {"a": {"v": 2}}


def test_queued_submissions_reach_the_batcher_in_one_call(database: Database) -> None:
    group_commit = GroupCommit(database)
    calls: list[list[int]] = []

    def batcher(_session: Any, items: list[int]) -> list[Any]:
        calls.append(items)
        return [ValueError("odd") if item % 2 else item * 10 for item in items]

    gate = threading.Event()
    started = threading.Event()

    def hold(_session: Any) -> None:
        started.set()
        gate.wait(timeout=30)

    results: dict[int, Any] = {}

    def submit(item: int) -> None:
        try:
            results[item] = group_commit.submit(batcher, item)
        except ValueError as exc:
            results[item] = exc

    holder = threading.Thread(target=group_commit.run, args=(hold,))
    holder.start()
    assert started.wait(timeout=30)  # the writer is busy: what follows queues up
    threads = [threading.Thread(target=submit, args=(item,)) for item in range(4)]
    for queued, thread in enumerate(threads, start=1):
        thread.start()
        deadline = time.monotonic() + 30
        while group_commit._queue.qsize() < queued and time.monotonic() < deadline:
            time.sleep(0.001)
    gate.set()
    for thread in [holder, *threads]:
        thread.join(timeout=30)
    group_commit.stop()
    assert sorted(item for call in calls for item in call) == [0, 1, 2, 3]
    assert len(calls) == 1
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and isinstance(results[3], ValueError)


@pytest.mark.parametrize("size", [1, 3])
def test_a_failing_shared_transaction_is_retried_item_by_item(database: Database, size: int) -> None:
    """If the group's transaction fails, each item runs again alone, as plain writes do."""
    from billow.core.group_commit import _Write

    group_commit = GroupCommit(database)
    seen: list[list[int]] = []

    def batcher(session: Any, items: list[int]) -> list[Any]:
        seen.append(items)
        session.execute(select(func.count()).select_from(EventRow))
        if len(items) > 1:
            raise RuntimeError("the group's transaction broke")
        return [item * 10 for item in items]

    writes = [_Write(None, batcher, item) for item in range(size)]
    group_commit._commit(writes)
    assert seen == ([list(range(size))] if size > 1 else []) + [[item] for item in range(size)]
    assert [(w.result, w.error, w.done.result(timeout=0)) for w in writes] == [(i * 10, None, i * 10) for i in range(size)]


def test_async_waiters_of_one_group_are_woken_together_with_their_own_outcomes(database: Database) -> None:
    """``submit_async`` waiters of one group are settled by one call into their event loop; each
    gets its own result or exception, and a waiter cancelled meanwhile does not stop the others."""
    import asyncio

    group_commit = GroupCommit(database)
    gate = threading.Event()
    started = threading.Event()
    calls: list[list[int]] = []

    def hold(_session: Any) -> None:
        started.set()
        gate.wait(timeout=30)

    def batcher(_session: Any, items: list[int]) -> list[Any]:
        calls.append(items)
        return [ValueError("odd") if item % 2 else item * 10 for item in items]

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        holder = loop.run_in_executor(None, group_commit.run, hold)
        assert await loop.run_in_executor(None, started.wait, 30)
        tasks = [asyncio.create_task(group_commit.submit_async(batcher, item)) for item in range(5)]
        while group_commit._queue.qsize() < 5:
            await asyncio.sleep(0.001)
        tasks[4].cancel()  # its caller went away: its write still runs, nobody is told
        gate.set()
        await holder
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    group_commit.stop()
    assert calls == [[0, 1, 2, 3, 4]]
    assert outcomes[0] == 0 and outcomes[2] == 20
    assert isinstance(outcomes[1], ValueError) and isinstance(outcomes[3], ValueError)
    assert isinstance(outcomes[4], asyncio.CancelledError)


class _Committing:
    """A batcher that stores the even items in transactions of its own (``commit_prepared``)."""

    def __init__(self, answer: str):
        self.answer = answer  # "some", "none" (not for this database) or "raise"
        self.shared: list[tuple[list[int], Any]] = []

    def prepare(self, _database: Database, items: list[int]) -> str:
        return f"prepared {items}"

    def commit_prepared(self, _database: Database, items: list[int], prepared: str) -> list[Any] | None:
        assert prepared == f"prepared {items}"
        if self.answer == "none":
            return None
        if self.answer == "raise":
            raise RuntimeError("a fault")
        return [ValueError("refused") if item == 4 else item * 100 if item % 2 == 0 else LEFT for item in items]

    def __call__(self, _session: Any, items: list[int], prepared: Any = None) -> list[Any]:
        self.shared.append((items, prepared))
        return [item * 10 for item in items]


@pytest.mark.parametrize("answer", ["some", "none", "raise"])
def test_commit_prepared_stores_its_items_and_leaves_the_others_unprepared(database: Database, answer: str) -> None:
    from billow.core.group_commit import _Write

    batcher = _Committing(answer)
    plain = _Write(lambda _session: "plain")
    writes = [_Write(None, batcher, item) for item in range(3)] + [plain] + [_Write(None, batcher, 4)]
    GroupCommit(database)._commit(writes)
    outcomes = [write.done.exception(timeout=0) or write.done.result(timeout=0) for write in writes]
    if answer == "some":
        assert outcomes[:4] == [0, 10, 200, "plain"] and isinstance(outcomes[4], ValueError)
        assert batcher.shared == [([1], None)]  # what was left, without what was prepared for the run
    elif answer == "none":
        assert outcomes == [0, 10, 20, "plain", 40]
        assert batcher.shared == [([0, 1, 2], "prepared [0, 1, 2]"), ([4], "prepared [4]")]
    else:
        assert outcomes == [0, 10, 20, "plain", 40]
        assert batcher.shared == [([0, 1, 2], None), ([4], None)]
