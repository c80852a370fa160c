from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin


class AppliedUsageThreshold(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """One usage threshold a ``progressive_billing`` invoice was issued for (the invoice's
    ``applied_usage_thresholds``), with the lifetime usage that passed it.

    Exactly once: a crossing is named by the lifetime usage level it reaches,
    ``crossing_amount_cents``: a fixed threshold's own amount (it can be passed once in a
    subscription's life), for the recurring threshold R the first multiple of R above the usage
    invoiced when it fired (the next crossing starts from a larger invoiced usage, so from a larger
    multiple). The row is unique on (subscription, recurring, crossing): two detection runs that
    read the same state name the same crossings, and the second to insert fails and rolls back with
    its whole invoice. A run that reads the state after the first one committed sees its invoice
    and starts from it, so the same threshold crossing is never invoiced twice.
    """

    __tablename__ = "applied_usage_thresholds"
    __table_args__ = (UniqueConstraint("subscription_id", "recurring", "crossing_amount_cents"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), nullable=False, index=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id"), nullable=False)
    usage_threshold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("usage_thresholds.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    threshold_display_name: Mapped[str | None] = mapped_column(String(255))
    recurring: Mapped[bool] = mapped_column(Boolean, nullable=False)
    crossing_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    lifetime_usage_amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
