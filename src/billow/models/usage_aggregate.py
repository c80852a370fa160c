from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, ForeignKey, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import DecimalText, UTCDateTime
from billow.models.base import Base


class UsageAggregate(Base):
    """Running aggregate of one metric's events for one subscription, dimension set and bucket.

    ``dims`` is the canonical JSON of the event properties the metric's filters and the charges'
    pricing group keys look at. ``grain`` is a :class:`billow.pricing.partials.Grain` (UTC hour,
    day or month; every event is in one bucket of each) and ``bucket`` the bucket's start; the row
    of grain :data:`billow.usage.store.ALL_GRAIN` sums every event (the level recurring metrics
    start from). The key puts ``grain`` and ``bucket`` before ``dims`` so that a window's buckets
    of every dimension set are one index range. Columns mirror :class:`billow.pricing.partials.Partial`.
    """

    __tablename__ = "usage_aggregates"

    # No foreign key: rows derived from events, written by every ingest; checking the reference on
    # each new row cost as much as writing it. ``billow usage rebuild`` makes them again.
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    external_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    dims: Mapped[str] = mapped_column(String(1024), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    counted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, default=Decimal(0))
    maximum: Mapped[Decimal | None] = mapped_column(DecimalText)
    latest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latest_seq: Mapped[int | None] = mapped_column(BigInteger)
    latest_value: Mapped[Decimal | None] = mapped_column(DecimalText)
    tail: Mapped[Decimal] = mapped_column(DecimalText, nullable=False, default=Decimal(0))


class UsageValueState(Base):
    """Last add/remove of one distinct value (unique count) per subscription, dimensions and bucket
    (grains as :class:`UsageAggregate`)."""

    __tablename__ = "usage_value_states"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # no foreign key: as above
    external_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    dims: Mapped[str] = mapped_column(String(1024), primary_key=True)
    value: Mapped[str] = mapped_column(String(1024), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    added: Mapped[bool] = mapped_column(Boolean, nullable=False)


class UsageProfile(Base):
    """What the aggregates of one metric code were built with; a change means a rebuild."""

    __tablename__ = "usage_profiles"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(2048), nullable=False)
