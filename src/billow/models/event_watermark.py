from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import UTCDateTime
from billow.models.base import Base


class EventWatermark(Base):
    """How far a periodic service (``service``: ``event_errors``, ``draft_refresh``,
    ``pay_in_advance_fees``) has read an organization's events (``events.id``)."""

    __tablename__ = "event_watermarks"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now, onupdate=clock.now)
