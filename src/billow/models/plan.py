from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import DecimalText, JSONType
from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
)
from billow.models.tax import Tax, applied_taxes, tax_links

if TYPE_CHECKING:
    from billow.models.charge import Charge
    from billow.models.minimum_commitment import MinimumCommitment
    from billow.models.usage_threshold import UsageThreshold

# Taxes applied to the plan's subscription fee (and to charges without taxes of their own).
plan_taxes = tax_links("plan_taxes", "plan_id", "plans")

_LIVE_PARENT = text("deleted_at IS NULL AND parent_id IS NULL")


class Plan(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "plans"
    # A code names one live plan; the per-subscription copies (``parent_id`` set) share their parent's.
    __table_args__ = (
        Index(
            "uq_plans_organization_id_code_live",
            "organization_id",
            "code",
            unique=True,
            sqlite_where=_LIVE_PARENT,
            postgresql_where=_LIVE_PARENT,
        ),
    )

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
    # Null unless the interval is yearly or semiannual (as Lago): then true bills charges every month.
    bill_charges_monthly: Mapped[bool | None] = mapped_column(Boolean)
    bill_fixed_charges_monthly: Mapped[bool | None] = mapped_column(Boolean)
    # Flat {key: string|null} map, managed by the /plans/{code}/metadata endpoints.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType(), nullable=False, default=dict)
    pending_deletion: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Number of the newest pricing version (see PlanVersion).
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Set on per-subscription copies created by plan overrides.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("plans.id"), nullable=True)

    taxes: Mapped[list[Tax]] = applied_taxes(plan_taxes)
    # Live children only (charges, commitments and thresholds are soft-deleted: fees keep pointing at them).
    # Read-only views: services write the child rows, then expire the plan to reload these.
    charges: Mapped[list[Charge]] = relationship(
        primaryjoin="and_(Charge.plan_id == Plan.id, Charge.deleted_at.is_(None))",
        order_by="(Charge.created_at, Charge.id)",
        viewonly=True,
        lazy="selectin",
    )
    minimum_commitment: Mapped[MinimumCommitment | None] = relationship(
        primaryjoin="and_(MinimumCommitment.plan_id == Plan.id, MinimumCommitment.deleted_at.is_(None))",
        uselist=False,
        viewonly=True,
        lazy="selectin",
    )
    usage_thresholds: Mapped[list[UsageThreshold]] = relationship(
        primaryjoin="and_(UsageThreshold.plan_id == Plan.id, UsageThreshold.deleted_at.is_(None))",
        order_by="(UsageThreshold.recurring, UsageThreshold.amount_cents)",
        viewonly=True,
        lazy="selectin",
    )
