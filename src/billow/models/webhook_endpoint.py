from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import JSONType
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin


class WebhookEndpoint(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """Where an organization's webhooks are sent; ``event_types`` None means every type."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("organization_id", "webhook_url"),)

    webhook_url: Mapped[str] = mapped_column(String(1024), nullable=False)
    signature_algo: Mapped[str] = mapped_column(String(8), nullable=False, default="jwt")
    name: Mapped[str | None] = mapped_column(String(255))
    event_types: Mapped[list[str] | None] = mapped_column(JSONType())
