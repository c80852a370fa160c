from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import DecimalText, ExactJSON, UTCDateTime
from billow.models.base import Base

# A 64-bit identity on PostgreSQL, SQLite's rowid (INTEGER PRIMARY KEY) on SQLite.
SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One usage event exactly as acknowledged: the source of truth usage is rebuilt from.

    ``id`` is the ingestion order (the tie-break between equal timestamps); ``lago_id`` is the
    identifier shown on the API. Unique on (organization, transaction_id, external_subscription_id).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("organization_id", "transaction_id", "external_subscription_id"),
        Index("ix_events_usage", "organization_id", "external_subscription_id", "code", "timestamp"),
        # The periodic services' reads after a watermark (billow.jobs.watermarks), and the newest
        # settled id of an organization: a backward walk that reads created_at from the index alone.
        Index("ix_events_organization_id_id_created_at", "organization_id", "id", "created_at"),
    )

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    # No index of its own: the indexes above start with it (every index costs ingest throughput).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    lago_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, default=uuid.uuid4)
    transaction_id: Mapped[str] = mapped_column(String(255), nullable=False)
    external_subscription_id: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(ExactJSON(), nullable=False, default=dict)
    precise_total_amount_cents: Mapped[Decimal | None] = mapped_column(DecimalText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now)
