from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import DecimalText, UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.coupon import Coupon
from billow.models.credit import Credit
from billow.models.customer import Customer


class AppliedCoupon(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """A coupon granted to one customer, with that customer's own values (overrides of the coupon)."""

    __tablename__ = "applied_coupons"

    coupon_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coupons.id"), nullable=False, index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")  # active | terminated
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    percentage_rate: Mapped[Decimal | None] = mapped_column(DecimalText)
    frequency: Mapped[str] = mapped_column(String(16), nullable=False)
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    frequency_duration_remaining: Mapped[int | None] = mapped_column(Integer)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    coupon: Mapped[Coupon] = relationship(lazy="joined", innerjoin=True)
    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    # What invoices took from this coupon, oldest first.
    credits: Mapped[list[Credit]] = relationship(viewonly=True, order_by="Credit.created_at", lazy="selectin")
