from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)
from billow.models.tax import Tax, applied_taxes, tax_links

commitment_taxes = tax_links("commitment_taxes", "commitment_id", "minimum_commitments")


class MinimumCommitment(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    """The least a subscription pays per period: a true-up fee covers the difference."""

    __tablename__ = "minimum_commitments"
    __table_args__ = (unique_live_code("minimum_commitments", "plan_id"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("plans.id", ondelete="CASCADE"), nullable=False, index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))

    taxes: Mapped[list[Tax]] = applied_taxes(commitment_taxes)
