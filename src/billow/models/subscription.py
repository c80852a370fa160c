from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billow.core.types import UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin
from billow.models.customer import Customer
from billow.models.plan import Plan
from billow.models.usage_threshold import UsageThreshold

# Lifecycle: pending -> active -> terminated, or pending -> canceled (never started).
STATUSES = ("pending", "active", "terminated", "canceled")

_ACTIVE = text("status = 'active'")


class Subscription(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """A customer on a plan, addressed by the caller's ``external_id``.

    The external id is unique among *active* subscriptions of the organization; the rows of one
    external id over time (plan changes, re-subscriptions) are told apart by ``started_at`` /
    ``terminated_at``. A plan change links the old and the new row both ways.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index(
            "uq_subscriptions_organization_id_external_id_active",
            "organization_id",
            "external_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index("ix_subscriptions_organization_id_external_id_started_at", "organization_id", "external_id", "started_at"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id"), nullable=False, index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("plans.id"), nullable=False, index=True)
    # The plan version the subscription was priced on when it was created (see billow.plans.versions).
    plan_version: Mapped[int] = mapped_column(Integer, nullable=False)
    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | active | terminated | canceled
    billing_time: Mapped[str] = mapped_column(String(16), nullable=False)  # calendar | anniversary

    # The anchor of anniversary periods, kept across plan changes; started_at is when this row began.
    subscription_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once the free trial is over (by the billing clock); the wire derives it until then.
    trial_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    previous_subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("subscriptions.id"))
    next_subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("subscriptions.id"))
    # Customer-local day a scheduled downgrade takes effect (first day of the next period).
    downgrade_plan_date: Mapped[date | None] = mapped_column(Date)

    on_termination_credit_note: Mapped[str | None] = mapped_column(String(16))  # credit | refund | offset | skip
    on_termination_invoice: Mapped[str] = mapped_column(String(16), nullable=False, default="generate")
    # No usage threshold applies (no progressive billing), whatever the subscription or plan has.
    progressive_billing_disabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    customer: Mapped[Customer] = relationship()
    plan: Mapped[Plan] = relationship()
    # Read-only views of the links; services write the id columns.
    previous_subscription: Mapped[Subscription | None] = relationship(
        foreign_keys=[previous_subscription_id], remote_side="Subscription.id", viewonly=True
    )
    next_subscription: Mapped[Subscription | None] = relationship(
        foreign_keys=[next_subscription_id], remote_side="Subscription.id", viewonly=True
    )
    # Live thresholds given on the subscription itself (read-only view: expire after writing them).
    usage_thresholds: Mapped[list[UsageThreshold]] = relationship(
        primaryjoin="and_(UsageThreshold.subscription_id == Subscription.id, UsageThreshold.deleted_at.is_(None))",
        order_by="(UsageThreshold.recurring, UsageThreshold.amount_cents)",
        viewonly=True,
    )

    @property
    def starting_in_the_future(self) -> bool:
        """Pending on its own start date (not a downgrade waiting for the end of a period)."""
        return self.status == "pending" and self.previous_subscription_id is None
