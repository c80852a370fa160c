from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import JSONType, UTCDateTime
from billow.models.base import Base
from billow.models.event import SEQUENCE


class Job(Base):
    """One unit of background work; the table is the queue (see :mod:`billow.jobs.queue`).

    ``state`` is ``queued`` (waiting for ``run_at``), ``running`` (claimed: ``run_at`` is then the
    end of the worker's lease, after which another worker may claim it again), ``done`` or ``dead``
    (attempts exhausted; ``last_error`` tells why). ``dedupe_key`` is unique: a second enqueue with
    the same key is a no-op.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_at", "state", "run_at"),)

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType(), nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now, onupdate=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
