from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import DecimalText, JSONType
from billow.models.base import Base, IdMixin, OrgScopedMixin, SoftDeleteMixin, TimestampMixin, unique_live_code


class Plan(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "plans"
    __table_args__ = (unique_live_code("plans", "organization_id", "code"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    # weekly, monthly, quarterly, semiannual, yearly
    interval: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_currency: Mapped[str] = mapped_column(String(3), nullable=False)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Days; Lago accepts decimals.
    trial_period: Mapped[Decimal | None] = mapped_column(DecimalText)
    bill_charges_monthly: Mapped[bool | None] = mapped_column(Boolean)
    bill_fixed_charges_monthly: Mapped[bool | None] = mapped_column(Boolean)
    # Flat {key: string|null} map, managed by the /plans/{code}/metadata endpoints.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType(), nullable=False, default=dict)
    pending_deletion: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Number of the newest pricing version (see PlanVersion).
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Set on per-subscription copies created by plan overrides.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("plans.id"), nullable=True)
