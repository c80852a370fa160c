from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin


class LifetimeUsage(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """The usage of a subscription billed outside Billow (``external_historical_usage_amount_cents``
    of ``PUT /subscriptions/{id}/lifetime_usage``), counted in its lifetime usage. Invoiced and
    current usage are computed, never stored."""

    __tablename__ = "lifetime_usages"

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id"), nullable=False,
                                                       unique=True)
    historical_usage_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
