from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
)


class UsageThreshold(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """Progressive billing: crossing ``amount_cents`` of lifetime usage issues an invoice mid-period.

    A ``recurring`` threshold (at most one per plan) repeats every ``amount_cents`` beyond the last
    fixed one. A threshold belongs to a plan or, given on the subscription itself, to one
    subscription (``subscription_id``; exactly one of the two is set).
    """

    __tablename__ = "usage_thresholds"

    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("plans.id", ondelete="CASCADE"), nullable=True, index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=True, index=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    threshold_display_name: Mapped[str | None] = mapped_column(String(255))
    recurring: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
