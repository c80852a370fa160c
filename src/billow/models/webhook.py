from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.webhook_endpoint import WebhookEndpoint


class Webhook(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """One webhook for one endpoint (an outbox row, written with the change it announces).

    ``id`` is the ``X-Lago-Unique-Key`` sent on every attempt. ``body`` is the exact JSON text
    sent, serialized once, so every retry carries the same bytes and signature. ``status`` is
    ``pending``, ``retrying``, ``succeeded`` or ``failed``. ``job_id`` is the delivery job.
    """

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_status_updated_at", "status", "updated_at"),)

    webhook_endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False, index=True
    )
    webhook_type: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    retries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    last_retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_id: Mapped[int | None] = mapped_column(BigInteger)

    webhook_endpoint: Mapped[WebhookEndpoint] = relationship(lazy="joined")
