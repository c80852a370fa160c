from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.core.types import UTCDateTime
from billow.models.base import Base, IdMixin, OrgScopedMixin, TimestampMixin

INVOICING_REASONS = ("subscription_starting", "subscription_periodic", "subscription_terminating",
                     "in_advance_charge", "progressive_billing")


class InvoiceSubscription(IdMixin, OrgScopedMixin, TimestampMixin, Base):
    """One subscription period billed by an invoice (Lago's billing period).

    The unique constraint is the "exactly once": a second billing run (or a concurrent one) that
    tries to bill the same subscription, reason and windows fails on insert and bills nothing.
    ``from``/``to`` bound the subscription fee, ``charges_from``/``charges_to`` the usage.
    The invoice of one pay-in-advance charge event (``in_advance_charge``) names the event in
    ``pay_in_advance_event_id`` (0 on every other row), so each event's invoice is unique too.
    """

    __tablename__ = "invoice_subscriptions"
    __table_args__ = (
        UniqueConstraint("subscription_id", "invoicing_reason", "charges_from_datetime", "charges_to_datetime",
                         "pay_in_advance_event_id"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), nullable=False, index=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id"), nullable=False)
    invoicing_reason: Mapped[str] = mapped_column(String(32), nullable=False)
    from_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    to_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    charges_from_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    charges_to_datetime: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    pay_in_advance_event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
