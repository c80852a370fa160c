from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core import clock
from billow.core.types import UTCDateTime
from billow.models.base import Base
from billow.models.event import SEQUENCE


class WebhookAttempt(Base):
    """One HTTP attempt at delivering a webhook: the answer's status (or the error), the start of
    the answer's body, and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(SEQUENCE, primary_key=True, autoincrement=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1024))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.now)
