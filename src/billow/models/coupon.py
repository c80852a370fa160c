from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import DecimalText, UTCDateTime
from billow.models.base import (
    Base,
    IdMixin,
    OrgScopedMixin,
    SoftDeleteMixin,
    TimestampMixin,
    unique_live_code,
)
from billow.models.billable_metric import BillableMetric
from billow.models.plan import Plan

# A coupon limited to plans applies only to fees of subscriptions on those plans.
coupon_plans = Table(
    "coupon_plans",
    Base.metadata,
    Column("coupon_id", Uuid, ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", Uuid, ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# A coupon limited to billable metrics applies only to charge fees of those metrics.
coupon_billable_metrics = Table(
    "coupon_billable_metrics",
    Base.metadata,
    Column("coupon_id", Uuid, ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "billable_metric_id", Uuid, ForeignKey("billable_metrics.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Coupon(IdMixin, OrgScopedMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "coupons"
    __table_args__ = (unique_live_code("coupons", "organization_id", "code"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    code: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    coupon_type: Mapped[str] = mapped_column(String(16), nullable=False)  # fixed_amount | percentage
    # fixed_amount only
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    # percentage only: percent, e.g. 10 for 10 %
    percentage_rate: Mapped[Decimal | None] = mapped_column(DecimalText)
    frequency: Mapped[str] = mapped_column(String(16), nullable=False)  # once | recurring | forever
    # recurring only: number of billing periods
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    expiration: Mapped[str] = mapped_column(String(16), nullable=False)  # no_expiration | time_limit
    expiration_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reusable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    limited_plans: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    limited_billable_metrics: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")  # active | terminated
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plans: Mapped[list[Plan]] = relationship(secondary=coupon_plans, order_by=Plan.code, lazy="selectin")
    billable_metrics: Mapped[list[BillableMetric]] = relationship(
        secondary=coupon_billable_metrics, order_by=BillableMetric.code, lazy="selectin"
    )
