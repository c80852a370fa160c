"""Group commit: many requests' writes share one transaction and one durable commit.

A request hands its write to :meth:`GroupCommit.run` and blocks. One writer thread takes every
write waiting in the queue, runs each inside its own savepoint of a single transaction (so one
request's failure rolls back only that request), commits once, then wakes the requests. A request
is answered only after the commit that holds its rows has returned. If the shared commit itself
fails, each write is retried alone so that one bad write cannot fail the others.

Writes of one kind can also be *merged*: :meth:`GroupCommit.submit` hands an item to a batcher,
and consecutive items of the same batcher in a group reach it together, in one call, so that
the per-call cost (reading metadata, one statement per table) is paid once for many requests.
The batcher owns the savepoints of its items and returns each item's result or exception.

A batcher may also have a ``prepare(database, items)`` method: it runs before the writer's turn,
outside any transaction, so that work needing no database (building rows) is done while another
process holds the turn; its result reaches the batcher as ``batcher(session, items, prepared)``.
The batcher must check that what was prepared still holds, and may ignore it. With a
``commit_prepared(database, items, prepared)`` method too, the batcher is first offered to store
items in transactions of its own, committed when it returns: it answers with each item's outcome,
or :data:`LEFT` for the items the shared transaction is to store (unprepared), or ``None`` when it
stores nothing for this database (what was prepared then reaches the batcher). It must not raise.

On a SQLite file the group commit's commits never copy the write-ahead log into the database
(a checkpoint): that would happen inside the writer's turn, holding off the other processes. The
writer thread checkpoints after its turn instead (:meth:`Database.checkpoint`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from billow.core.db import Database

T = TypeVar("T")
ItemT = TypeVar("ItemT")
_STOP = object()
LEFT = object()  # commit_prepared's answer for an item it did not store
_log = logging.getLogger(__name__)

# batcher(session, items) -> one result or exception per item, in order
Batcher = Callable[[Session, list[Any]], list[Any]]


@dataclass
class _Write(Generic[T]):
    work: Callable[[Session], T] | None
    batcher: Batcher | None = None
    item: Any = None
    done: Future[Any] | None = field(default_factory=Future)
    result: Any = None
    error: BaseException | None = None
    waiter: asyncio.Future[Any] | None = None  # an event loop's waiter (then ``done`` is None)

    def settle(self) -> None:
        if self.done is None:
            return
        if self.error is not None:
            self.done.set_exception(self.error)
        else:
            self.done.set_result(self.result)

    def settle_waiter(self) -> None:
        """In the waiter's event loop."""
        assert self.waiter is not None
        if self.waiter.cancelled():
            return
        if self.error is not None:
            self.waiter.set_exception(self.error)
        else:
            self.waiter.set_result(self.result)


def _settle_waiters(writes: list[_Write[Any]]) -> None:
    for write in writes:
        write.settle_waiter()


class GroupCommit:
    def __init__(self, database: Database, *, max_group: int = 256):
        self._database = database
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in the next shared transaction; return once it is committed."""
        return self._wait(_Write(work))  # type: ignore[no-any-return]

    def submit(self, batcher: Callable[[Session, list[ItemT]], list[Any]], item: ItemT) -> Any:
        """Hand ``item`` to ``batcher`` in the next shared transaction, together with the other items
        of the same batcher queued meanwhile; return its result (or raise its exception) once committed.

        ``batcher(session, items)`` returns one entry per item: its result, or the exception that
        item must raise. It must undo the writes of a failed item itself (savepoints).
        """
        return self._wait(_Write(None, batcher, item))

    async def submit_async(self, batcher: Callable[[Session, list[ItemT]], list[Any]], item: ItemT) -> Any:
        """:meth:`submit` for the event loop: awaits the commit without holding a thread. The
        writer wakes each event loop once per group, whatever the number of its requests in it."""
        waiter = asyncio.get_running_loop().create_future()
        self._enqueue(_Write(None, batcher, item, done=None, waiter=waiter))
        return await waiter

    def _wait(self, write: _Write[Any]) -> Any:
        self._enqueue(write)
        assert write.done is not None
        return write.done.result()

    def _enqueue(self, write: _Write[Any]) -> None:
        self._ensure_started()
        self._queue.put(write)

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="billow-group-commit", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                group.append(item)
            self._commit(group)
            try:
                self._database.checkpoint()
            except Exception:  # a checkpoint left undone now is done by a later one
                _log.warning("write-ahead log checkpoint failed", exc_info=True)
            if stop:
                return

    def _runs(self, group: list[_Write[Any]]) -> list[tuple[int, int]]:
        """(start, end) of each write of ``group``: a run of consecutive items of one batcher, or
        one plain write."""
        runs: list[tuple[int, int]] = []
        index = 0
        while index < len(group):
            end = index + 1
            batcher = group[index].batcher
            if batcher is not None:
                while end < len(group) and group[end].batcher is batcher:
                    end += 1
            runs.append((index, end))
            index = end
        return runs

    def _prepare(self, group: list[_Write[Any]], runs: list[tuple[int, int]]) -> dict[int, Any]:
        prepared: dict[int, Any] = {}
        for start, end in runs:
            prepare = getattr(group[start].batcher, "prepare", None)
            if prepare is None:
                continue
            try:
                prepared[start] = prepare(self._database, [w.item for w in group[start:end]])
            except Exception:  # the batcher does all of its work in the turn
                prepared[start] = None
        return prepared

    def _commit_prepared(self, group: list[_Write[Any]], runs: list[tuple[int, int]],
                         prepared: dict[int, Any]) -> list[_Write[Any]]:
        """Offer each prepared run to its batcher's ``commit_prepared``; returns the writes it stored.
        A run it answered for loses what was prepared (its items left take the usual path); once
        any write is stored, every write left does."""
        stored: list[_Write[Any]] = []
        for start, end in runs:
            commit = getattr(group[start].batcher, "commit_prepared", None)
            if commit is None or prepared.get(start) is None:
                continue
            run = group[start:end]
            try:
                outcomes = commit(self._database, [w.item for w in run], prepared[start])
            except Exception:  # a fault of the batcher's: the shared transaction stores them all
                _log.exception("commit_prepared failed")
                outcomes = [LEFT] * len(run)
            if outcomes is None:  # not offered to this database
                continue
            del prepared[start]
            for write, outcome in zip(run, outcomes, strict=True):
                if outcome is LEFT:
                    continue
                if isinstance(outcome, BaseException):
                    write.error = outcome
                else:
                    write.result = outcome
                stored.append(write)
        return stored

    def _commit(self, group: list[_Write[Any]]) -> None:
        runs = self._runs(group)
        prepared = self._prepare(group, runs)
        stored = self._commit_prepared(group, runs, prepared)
        if stored:
            self._wake(stored)
            gone = {id(write) for write in stored}
            group = [write for write in group if id(write) not in gone]
            if not group:
                return
            runs, prepared = self._runs(group), {}
        try:
            with self._database.writer_turn(), self._database.unit_of_work(grouped=True) as session:
                for start, end in runs:
                    write = group[start]
                    if write.batcher is not None:  # a run of items of one batcher: one call
                        run = group[start:end]
                        items = [w.item for w in run]
                        outcomes = (write.batcher(session, items, prepared[start]) if start in prepared  # type: ignore[call-arg]
                                    else write.batcher(session, items))
                        for item_write, outcome in zip(run, outcomes, strict=True):
                            if isinstance(outcome, BaseException):
                                item_write.error = outcome
                            else:
                                item_write.result = outcome
                        continue
                    assert write.work is not None
                    savepoint = session.begin_nested()
                    try:
                        write.result = write.work(session)
                        savepoint.commit()
                    except Exception as exc:  # this request's own failure: undo only its writes
                        savepoint.rollback()
                        write.error = exc
        except Exception as exc:
            if len(group) > 1:
                for write in group:
                    write.result, write.error = None, None
                    self._commit([write])
                return
            group[0].error = exc
            group[0].result = None
        self._wake(group)

    @staticmethod
    def _wake(group: list[_Write[Any]]) -> None:
        """Hand each write its outcome: waiters of an event loop are woken once per loop."""
        loops: dict[asyncio.AbstractEventLoop, list[_Write[Any]]] = {}
        for write in group:
            if write.waiter is not None:
                loops.setdefault(write.waiter.get_loop(), []).append(write)
            else:
                write.settle()
        for loop, writes in loops.items():
            try:
                loop.call_soon_threadsafe(_settle_waiters, writes)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
